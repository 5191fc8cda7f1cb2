"""A solver process never outlives the server (or test) process that started it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PARENT = """
from api.apart import solve_apart
from scheduler.io.scenarios import load_scenario
from scheduler.optimise.solve import SolveParams
problem = load_scenario("scenarios/shanghai-default/scenario.yaml").problem
print("solving", flush=True)
solve_apart(problem, SolveParams(time_limit_s=120, num_workers=1))
"""


def children_of(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def alive(pid: int) -> bool:
    try:
        state = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads /proc")
def test_the_solver_process_ends_when_its_parent_is_killed() -> None:
    parent = subprocess.Popen([sys.executable, "-c", PARENT], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert parent.stdout is not None and parent.stdout.readline().strip() == "solving"
        deadline, solvers = time.monotonic() + 60, []
        while not solvers and time.monotonic() < deadline:
            time.sleep(0.2)
            # the spawned solver is a child of the parent; its resource tracker is one too
            solvers = [
                pid for pid in children_of(parent.pid) if "spawn_main" in Path(f"/proc/{pid}/cmdline").read_text()
            ]
        assert solvers, "no solver process started"
        time.sleep(1.0)  # the solver is busy now
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait(timeout=10)
        deadline = time.monotonic() + 10
        while any(alive(pid) for pid in solvers) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not any(alive(pid) for pid in solvers), "the solver outlived its parent"
    finally:
        if parent.poll() is None:
            parent.kill()
