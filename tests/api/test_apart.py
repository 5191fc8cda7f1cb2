"""A solve apart leaves no process behind in the server process: neither its solver nor the resource tracker that
spawning it started."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from api.apart import solve_apart
from scheduler.io.scenarios import load_scenario
from scheduler.optimise.solve import SolveParams
from tests.api.test_orphans import alive, children_of
from tests.api.tiny import write_tiny_scenario


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads /proc")
def test_nothing_is_left_running_after_a_solve_apart(tmp_path: Path) -> None:
    problem = load_scenario(write_tiny_scenario(tmp_path / "scenario")).problem
    before = set(children_of(os.getpid()))
    for _ in range(2):  # the second solve starts a tracker of its own and stops it too
        result = solve_apart(problem, SolveParams(time_limit_s=2, num_workers=1))
        assert result.plan
        left = [pid for pid in children_of(os.getpid()) if pid not in before and alive(pid)]
        assert left == [], [Path(f"/proc/{pid}/cmdline").read_bytes() for pid in left]
