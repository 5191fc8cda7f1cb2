"""solve(): its contract with callers (fallback, progress) on a one-day cut of the default scenario."""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path

import pytest

from scheduler.io.scenarios import load_scenario
from scheduler.optimise.cpsat.lns import KINDS, KindChooser
from scheduler.optimise.greedy import greedy_plan
from scheduler.optimise.solve import SolveParams, solve
from scheduler.rules.validate import objective, violations

DEFAULT = Path(__file__).resolve().parents[1] / "scenarios" / "shanghai-default" / "scenario.yaml"


@pytest.fixture(scope="module")
def day_problem(tmp_path_factory):
    path = tmp_path_factory.mktemp("day") / "day.yaml"
    path.write_text(
        f"base: {DEFAULT}\nhorizon: {{slots: 24}}\nrequests: {{generator: {{seed: 9, demand_factor: 1.3}}}}\n"
    )
    return load_scenario(path).problem


def test_timed_out_solve_returns_the_greedy_plan_and_says_so(day_problem) -> None:
    result = solve(day_problem, SolveParams(time_limit_s=0.0, num_workers=2))
    assert result.status == "greedy"
    assert "warm start" in result.message
    # no time for more than the first warm-start candidate
    assert result.plan == greedy_plan(day_problem)
    assert violations(day_problem, result.plan) == []
    assert result.objective == objective(day_problem, result.plan) == result.greedy_objective
    assert result.bound >= result.objective
    assert set(result.reasons) == {r.id for r in day_problem.requests} - {p.request_id for p in result.plan}


@pytest.mark.slow
def test_progress_reports_improving_plans_and_the_result_is_valid(day_problem) -> None:
    seen: list[tuple[float, float, float]] = []
    result = solve(day_problem, SolveParams(time_limit_s=5, num_workers=2, progress=lambda *a: seen.append(a)))
    assert seen, "no progress reported"
    values = [v for _, v, _ in seen]
    assert values == sorted(values)
    assert all(bound >= value - 1e-6 for _, value, bound in seen)
    assert violations(day_problem, result.plan) == []
    assert result.objective == pytest.approx(objective(day_problem, result.plan))
    assert result.objective >= result.greedy_objective
    assert result.wall_time_s < 5 + 5  # the limit plus model building and reasons


@pytest.mark.slow
def test_large_neighbourhood_search_improves_on_its_warm_start(day_problem) -> None:
    result = solve(day_problem, SolveParams(time_limit_s=5, num_workers=2, full_model_max_options=0))
    assert result.method == "lns"
    assert violations(day_problem, result.plan) == []
    assert result.objective == pytest.approx(objective(day_problem, result.plan))
    assert result.objective > result.greedy_objective


def test_large_neighbourhood_search_draws_the_kind_that_gains_most_and_still_tries_the_others() -> None:
    chooser = KindChooser()
    rng = random.Random(0)
    first = []
    for _ in range(2 * len(KINDS)):
        first.append(chooser.draw(rng))
        chooser.record(first[-1], 0, 0.3)
    assert sorted(first) == sorted(KINDS * 2)  # each kind twice before any is judged
    drawn: Counter[str] = Counter()
    for _ in range(3000):
        kind = chooser.draw(rng)
        drawn[kind] += 1
        chooser.record(kind, 1000 if kind == "pools" else 10, 0.5)
    assert drawn["pools"] > 0.75 * 3000
    assert all(drawn[k] > 30 for k in KINDS)
