"""The upper bounds never cut below a plan: the LP (GLOP) and its Lagrangian dual alike."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

from scheduler.model import formulas
from scheduler.model.domain import Problem
from scheduler.optimise import bounds
from scheduler.optimise.solve import SolveParams, solve
from scheduler.optimise.warm_start import warm_start
from tests.factories import SME, make_policy, make_pool, make_problem, make_request
from tests.strategies import problems

CHECKS = settings(
    max_examples=settings().max_examples * 2 // 5, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


@CHECKS
@given(problems())
def test_bounds_are_above_the_optimum_and_the_dual_above_the_lp(problem: Problem) -> None:
    result = solve(problem, SolveParams(time_limit_s=2, num_workers=2))
    relaxation = bounds._relaxation(problem)
    if len(relaxation.scores) == 0:
        assert result.objective <= 0
        return
    lp = bounds._glop(relaxation) / formulas.MILLI
    lower = warm_start(problem).value_milli
    dual = bounds._lagrangian(relaxation, lower, math.inf) / formulas.MILLI
    # stopped at once (a deadline already past): one iterate, still a bound, never below the longer run's
    first = bounds._lagrangian(relaxation, lower, 0.0) / formulas.MILLI
    assert lp >= result.objective - 1e-6
    assert first >= dual >= lp - 1e-6 * max(1.0, abs(lp))
    assert bounds.lp_bound(problem).value >= result.objective - 1e-6


def test_default_scenario_lp_bound_is_tighter_than_the_trivial_bound() -> None:
    from pathlib import Path

    from scheduler.io.scenarios import load_scenario

    problem = load_scenario(Path(__file__).parents[1] / "scenarios/shanghai-default/scenario.yaml").problem
    bound = bounds.lp_bound(problem)
    trivial = (
        sum(
            max(
                [
                    0,
                    *(
                        formulas.score_milli(problem, r, p, max(r.earliest_slot, 0))
                        for p in problem.eligible_pools(r)
                        if formulas.start_range(problem, r, p)
                    ),
                ]
            )
            for r in problem.requests
        )
        / formulas.MILLI
    )
    assert bound.method == "glop" and bound.num_cuts > 0
    assert bound.value < 0.9 * trivial
    assert bound.value >= warm_start(problem).value_milli / formulas.MILLI


def test_room_counts_only_what_request_sizes_can_fill() -> None:
    free = np.array([0, 3, 9, 2024, 4040])
    assert bounds._packable(free, np.array([1024])).tolist() == [0, 0, 0, 1024, 3072]
    assert bounds._packable(free, np.array([4, 6, 6])).tolist() == [0, 0, 8, 2024, 4040]
    assert bounds._packable(free, np.array([], dtype=int)).tolist() == [0, 0, 0, 0, 0]


def test_requests_too_large_to_share_a_slot_are_bounded_as_one_at_a_time() -> None:
    # four 3-accelerator runs of 3 h in a 6-slot window (one cell of the cuts' grid) on a pool of 5: one at a time,
    # so two at most. Without the integer roundings the LP fills all 5 accelerators (30 accelerator-slots: 3.3 runs).
    requests = [make_request(f"r{i}", SME, 3, 3, 0, 6) for i in range(4)]
    problem = make_problem([make_pool(capacity=5)], requests, policy=make_policy(delay_weight_per_slot=0))
    value = formulas.value_milli(problem, requests[0]) / formulas.MILLI
    assert bounds.lp_bound(problem).value == pytest.approx(2 * value, rel=1e-6)
    assert solve(problem, SolveParams(time_limit_s=5, num_workers=2)).objective == pytest.approx(2 * value)
