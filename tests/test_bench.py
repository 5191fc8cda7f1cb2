"""The benchmark suite's smallest quick case runs end to end, so `make bench` cannot rot."""

from __future__ import annotations

import pytest

from bench.instances import Instance, build
from bench.suite import QUICK, SCHEDULERS, run


@pytest.mark.slow
def test_smallest_quick_case_runs_and_the_optimiser_leads() -> None:
    spec, _ = QUICK[0]
    frame = run([(spec, 3.0)], workers=2)
    assert list(frame["scheduler"]) == list(SCHEDULERS)
    assert (frame["violations"] == 0).all()
    optimiser = frame[frame.scheduler == "optimiser"].iloc[0]
    schedules = frame[frame.scheduler != "bound"]
    assert optimiser["value"] >= schedules[schedules.scheduler != "optimiser"]["value"].max()
    assert optimiser["vs_best_baseline"] >= 1.0
    assert (frame["bound_vs_best_baseline"] >= optimiser["vs_best_baseline"]).all()
    assert (schedules["gap_pct"] >= 0).all()
    assert frame[frame.scheduler == "bound"]["bound"].iloc[0] >= optimiser["value"]
    assert (frame["peak_mib"] > 0).all() and (schedules["first_plan_s"] <= schedules["final_s"]).all()


def test_instances_hold_about_the_requested_number_of_requests() -> None:
    problem = build(Instance("synthetic", 1000, 12, 168, 1.3))
    assert 900 <= len(problem.requests) <= 1100
    assert len(problem.pools) == 12
    assert problem.horizon.slots == 168
