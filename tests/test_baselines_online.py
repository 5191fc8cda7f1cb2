"""The baselines in rolling rounds: re-evaluated every round, they decide as their time-stepped plans do.

Each baseline plan is a time-stepped scheduler that sees, at every slot, only the requests that may start by
then. So where every request arrives at its earliest start, with hourly rounds of hourly slots and no SME reserve
(whose lent window moves with the round), the rolling simulation (each round commits what starts before the next
and decides the rest again) must give exactly the static plan: the same pool and start for every request. A
simulator that committed a round's whole plan would not (FIFO would backfill later arrivals ahead of a waiting
head); a quota that forgot earlier rounds' commitments would admit too much.
"""

from __future__ import annotations

import dataclasses
from itertools import pairwise

import pytest
from hypothesis import HealthCheck, assume, example, given, settings

from scheduler.model.domain import ClassQuota, OrgClass, Problem
from scheduler.sim.baselines import BASELINES
from scheduler.sim.baselines.queue import arrival_key
from scheduler.sim.simulate import SimulationParams, simulate
from tests.factories import KEY, LARGE, RESEARCH, make_pool, make_problem, make_request
from tests.strategies import problems
from tests.test_baselines import quota_policy

NAMES = ("fifo", "easy", "quota")
CHEAP = settings(max_examples=settings().max_examples // 3, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def rolling(problem: Problem, name: str) -> dict[str, tuple[str, int]]:
    """``request -> (pool, start)`` of an hourly rolling simulation of ``problem`` with baseline ``name``."""
    run = simulate(problem, params=SimulationParams(scheduler=name, progress=False))
    assert run.valid, (run.round_violations, run.final_violations)
    return {p.request_id: (p.pool_id, p.start_slot) for p in run.plan}


def static(problem: Problem, name: str) -> dict[str, tuple[str, int]]:
    return {p.request_id: (p.pool_id, p.start_slot) for p in BASELINES[name](problem)}


# A head that must wait, requests arriving while it waits, a class that must borrow, and a later key project.
ARRIVING = make_problem(
    [make_pool("p1", capacity=4), make_pool("p2", capacity=2, price_fen_per_hour=50)],
    [
        make_request("busy", RESEARCH, 2, 3, 0, 12, types=["A800"]),
        make_request("head", LARGE, 4, 3, 0, 12),
        make_request("small", RESEARCH, 1, 2, 1, 12),
        make_request("long", LARGE, 2, 5, 2, 12),
        make_request("key", KEY, 3, 2, 3, 12),
        make_request("late", RESEARCH, 2, 1, 5, 12),
    ],
    quota_policy(large=ClassQuota(25, borrowing_limit_pct=25), research=50, key_project=25),
)


@pytest.mark.parametrize("name", NAMES)
def test_rolling_rounds_decide_as_the_time_stepped_plan(name: str) -> None:
    assert rolling(ARRIVING, name) == static(ARRIVING, name)


def test_rolling_fifo_never_starts_a_later_arrival_first() -> None:
    placed = rolling(ARRIVING, "fifo")
    order = sorted((r for r in ARRIVING.requests if r.id in placed), key=lambda r: arrival_key(ARRIVING, r))
    assert [r.id for r in order][:2] == ["busy", "head"]
    assert all(placed[a.id][1] <= placed[b.id][1] for a, b in pairwise(order))


def test_rolling_quota_counts_what_earlier_rounds_committed() -> None:
    # large may hold 1 + 1 of p1 (25 % nominal, 25 % borrowing): "a" runs [0, 4); "b", arriving at 1, must
    # wait for it to end, which only the commitment from round 0 tells round 1
    problem = make_problem(
        [make_pool(capacity=4)],
        [make_request("a", LARGE, 2, 4, 0, 12), make_request("b", LARGE, 1, 1, 1, 12)],
        quota_policy(large=ClassQuota(25, borrowing_limit_pct=25), research=75),
    )
    assert rolling(problem, "quota") == {"a": ("p1", 0), "b": ("p1", 4)}


@pytest.mark.parametrize("name", NAMES)
@CHEAP
@given(problem=problems())
@example(problem=ARRIVING)
def test_rolling_rounds_decide_as_the_time_stepped_plan_on_random_problems(name: str, problem: Problem) -> None:
    assume(problem.horizon.slot_minutes == 60)
    quotas = {OrgClass.SME: ClassQuota(40, 10), OrgClass.LARGE: ClassQuota(20, 20, 10)}
    policy = dataclasses.replace(
        problem.policy, sme_reserve_pct=0, quotas={c: quotas.get(c, ClassQuota(20)) for c in OrgClass}
    )
    # a run starts with nothing known before it: no commitments of the scenario's own (the simulator does not
    # carry them into its rounds) and no request with an earliest start before the run
    requests = tuple(
        dataclasses.replace(r, earliest_slot=max(0, r.earliest_slot)) for r in problem.requests if r.deadline_slot > 0
    )
    problem = dataclasses.replace(problem, policy=policy, commitments=(), requests=requests)
    assert rolling(problem, name) == static(problem, name)
