"""Properties of the baselines on random small problems (see :mod:`tests.strategies`): every plan passes the
validator and the independently recomputed invariants, and each baseline keeps its own discipline."""

from __future__ import annotations

import dataclasses
from collections import defaultdict

import pytest
from hypothesis import HealthCheck, example, given, settings

from scheduler.model import formulas
from scheduler.model.domain import Problem
from scheduler.rules.validate import violations
from scheduler.sim.baselines import BASELINES
from scheduler.sim.baselines.easy import easy_plan
from scheduler.sim.baselines.fifo import fifo_plan
from scheduler.sim.baselines.queue import arrival_slot, priority_key
from scheduler.sim.baselines.quota import nominal_quotas, quota_plan
from tests.factories import LARGE, make_commitment, make_pool, make_problem, make_request
from tests.strategies import problems
from tests.test_properties import assert_invariants

CHEAP = settings(max_examples=settings().max_examples // 2, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.mark.parametrize("name", sorted(BASELINES))
@CHEAP
@given(problem=problems())
def test_baseline_plans_are_valid(name: str, problem: Problem) -> None:
    plan = BASELINES[name](problem)
    assert violations(problem, plan) == []
    assert_invariants(problem, plan)


@CHEAP
@given(problems())
def test_fifo_never_lets_a_request_overtake_the_one_ahead(problem: Problem) -> None:
    plan = fifo_plan(problem)
    order = {r.id: (r.earliest_slot, r.id) for r in problem.requests}
    queue = sorted(plan, key=lambda p: order[p.request_id])
    assert [p.start_slot for p in queue] == sorted(p.start_slot for p in plan)


# the head waits for slot 4 on a half-booked pool; "long" fits now but would overlap its reservation
HEAD_AND_LONG = make_problem(
    [make_pool(capacity=4)],
    [make_request("head", LARGE, 4, 2, 0, 12), make_request("long", LARGE, 1, 5, 0, 12)],
    commitments=[make_commitment("p1", 0, 4, 2)],
)


@CHEAP
@given(problems())
@example(HEAD_AND_LONG)
def test_easy_backfill_never_delays_the_reservation_of_the_first_request(problem: Problem) -> None:
    # the first request in priority order, if nobody arrives before it, is the head from its arrival on: its
    # reservation (its earliest start alone) holds whatever is backfilled around it
    first = min(problem.requests, key=lambda r: priority_key(problem, r))
    if any(arrival_slot(r) < arrival_slot(first) for r in problem.requests):
        return
    alone = dataclasses.replace(problem, requests=(first,))
    where = {p.request_id: (p.pool_id, p.start_slot) for p in easy_plan(problem)}
    assert where.get(first.id) == {p.request_id: (p.pool_id, p.start_slot) for p in easy_plan(alone)}.get(first.id)


@CHEAP
@given(problems())
def test_quota_without_borrowing_keeps_every_class_within_its_nominal_quota(problem: Problem) -> None:
    quotas = nominal_quotas(problem)
    used: dict[tuple, int] = defaultdict(int)
    for p in quota_plan(problem, borrowing=False):
        request, pool = problem.request_by_id[p.request_id], problem.pool_by_id[p.pool_id]
        org_class = problem.org_by_id[request.org_id].org_class
        for slot in range(p.start_slot, p.start_slot + formulas.run_slots(problem, request, pool)):
            used[org_class, pool.id, slot] += request.accelerators
            assert used[org_class, pool.id, slot] <= quotas[org_class][pool.id]
