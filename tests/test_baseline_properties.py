"""Properties of the baselines on random small problems (see :mod:`tests.strategies`): every plan passes the
validator and the independently recomputed invariants, and each baseline keeps its own discipline: FIFO never
starts a later arrival first, EASY's backfill never delays the head's reservation, and the quotas hold in every
slot with the commitments counted."""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from datetime import timedelta
from itertools import pairwise

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from scheduler.model.domain import ClassQuota, OrgClass, Problem, Request
from scheduler.rules.state import RuleState
from scheduler.rules.validate import violations
from scheduler.sim.baselines import BASELINES
from scheduler.sim.baselines.easy import easy_plan
from scheduler.sim.baselines.fifo import fifo_plan
from scheduler.sim.baselines.queue import arrival_key, eligible_slot, priority_key
from scheduler.sim.baselines.quota import pool_quotas, quota_plan
from tests.factories import HORIZON_START, LARGE, make_commitment, make_pool, make_problem, make_request
from tests.strategies import problems
from tests.test_baselines import FUTURE_COMMITMENT, quota_policy
from tests.test_properties import assert_invariants

CHEAP = settings(max_examples=settings().max_examples // 2, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def submitted_problems(draw: st.DrawFn) -> Problem:
    """A random problem whose requests were submitted up to 3 slots before their earliest start, or have no
    submission time (then they arrive at their earliest start), so that arrival order and earliest starts differ."""
    problem = draw(problems())
    horizon = problem.horizon
    requests = []
    for request in problem.requests:
        lead = draw(st.none() | st.integers(0, 3))
        lead_time = None if lead is None else timedelta(minutes=lead * horizon.slot_minutes)
        at = None if lead_time is None else horizon.to_datetime(request.earliest_slot) - lead_time
        requests.append(dataclasses.replace(request, submitted_at=at))
    return dataclasses.replace(problem, requests=tuple(requests))


@st.composite
def quota_problems(draw: st.DrawFn) -> Problem:
    """A random problem with random quotas (nominal shares adding up to at most 100 %, limits or none) and
    commitments of a known class (some of no known class)."""
    problem = draw(problems())
    quotas, left = {}, 100
    for org_class in OrgClass:
        nominal = draw(st.integers(0, left))
        left -= nominal
        limits = [draw(st.none() | st.integers(0, 100)) for _ in range(2)]
        lending = None if limits[1] is None else min(limits[1], nominal)
        quotas[org_class] = ClassQuota(nominal, limits[0], lending)
    non_sme = [c for c in OrgClass if c is not OrgClass.SME]
    commitments = tuple(
        dataclasses.replace(c, org_class=OrgClass.SME if c.sme else draw(st.sampled_from([*non_sme, None])))
        for c in problem.commitments
    )
    policy = dataclasses.replace(problem.policy, quotas=quotas)
    return dataclasses.replace(problem, policy=policy, commitments=commitments)


@pytest.mark.parametrize("name", sorted(BASELINES))
@CHEAP
@given(problem=problems())
def test_baseline_plans_are_valid(name: str, problem: Problem) -> None:
    plan = BASELINES[name](problem)
    assert violations(problem, plan) == []
    assert_invariants(problem, plan)


# ---------------------------------------------------------------- FIFO


def _submitted(request: Request, slot: int) -> Request:
    return dataclasses.replace(request, submitted_at=HORIZON_START + timedelta(hours=slot))


# "big" waits for slot 4 and "small", behind it, fits at once; "late" may start before "early" but arrived after
BLOCKED_AND_LATE = make_problem(
    [make_pool(capacity=4)],
    [
        make_request("big", LARGE, 4, 2, 0, 12),
        make_request("small", LARGE, 1, 2, 0, 12),
        _submitted(make_request("early", LARGE, 2, 2, 7, 12), 0),
        _submitted(make_request("late", LARGE, 2, 2, 6, 12), 1),
    ],
    commitments=[make_commitment("p1", 0, 4, 2)],
)


@CHEAP
@given(submitted_problems())
@example(BLOCKED_AND_LATE)
def test_fifo_never_starts_a_later_arrival_first(problem: Problem) -> None:
    plan = fifo_plan(problem)
    assert violations(problem, plan) == []
    start = {p.request_id: p.start_slot for p in plan}
    placed = sorted((r for r in problem.requests if r.id in start), key=lambda r: arrival_key(problem, r))
    for earlier, later in pairwise(placed):
        assert start[earlier.id] <= start[later.id], (earlier.id, later.id)


# ---------------------------------------------------------------- EASY backfill

# the head waits for slot 4 on a half-booked pool; "long" fits now but would overlap its reservation
HEAD_AND_LONG = make_problem(
    [make_pool(capacity=4)],
    [make_request("head", LARGE, 4, 2, 0, 12), make_request("long", LARGE, 1, 5, 0, 12)],
    commitments=[make_commitment("p1", 0, 4, 2)],
)


@CHEAP
@given(submitted_problems())
@example(HEAD_AND_LONG)
def test_easy_backfill_never_delays_the_head_reservation(problem: Problem) -> None:
    # slot 0 of the plan, recomputed from the rule state alone: the queue is the requests that may start now in
    # priority order; those that start now ahead of the head fit without it. The head is the first that does
    # not start now, and its reservation the earliest start it has given them. Whatever else starts now (the
    # backfill) must leave that start; the head then starts there unless a request of higher priority becomes
    # eligible before it (and goes ahead of it, as in Slurm).
    plan = easy_plan(problem)
    now = {p.request_id: p for p in plan if p.start_slot == 0}
    state = RuleState(problem)
    queue = sorted(
        (r for r in problem.requests if eligible_slot(r) == 0 and state.last_start(r) >= 0),
        key=lambda r: priority_key(problem, r),
    )
    for request in queue:
        if request.id in now:
            state.take(now.pop(request.id))
            continue
        reservation = state.best_offer(request, 1)
        if reservation is None:
            continue  # no start left: dropped, not a head
        for backfilled in now.values():
            state.take(backfilled)
        kept = state.best_offer(request, 1)
        assert kept is not None and kept.start_slot == reservation.start_slot, (request.id, reservation, kept)
        overtaken = any(
            priority_key(problem, r) < priority_key(problem, request) and 0 < eligible_slot(r) <= kept.start_slot
            for r in problem.requests
        )
        if not overtaken:
            assert {p.request_id: p.start_slot for p in plan}[request.id] == kept.start_slot
        return


# ---------------------------------------------------------------- quota


# large must borrow 2 and may borrow 1; large's 4 + 3 would borrow 3 where research lends 2
BORROWING_LIMITED = make_problem(
    [make_pool(capacity=4)],
    [make_request("big", LARGE, 4, 2, 0, 12)],
    quota_policy(large=ClassQuota(50, borrowing_limit_pct=25), research=50),
)
LENDING_LIMITED = make_problem(
    [make_pool(capacity=8)],
    [make_request("four", LARGE, 4, 2, 0, 12), make_request("three", LARGE, 3, 2, 0, 12)],
    quota_policy(large=50, research=ClassQuota(50, lending_limit_pct=25)),
)


@CHEAP
@given(quota_problems())
@example(FUTURE_COMMITMENT)
@example(BORROWING_LIMITED)
@example(LENDING_LIMITED)
def test_quota_holds_every_class_to_its_limits_in_every_slot(problem: Problem) -> None:
    # after every admission, in every slot of every pool: a class holds at most nominal + borrowing limit,
    # and the classes' borrowing is at most what they lend, each at most its lending limit. Where the
    # commitments alone already break these, no plan can mend them: those slots are left out.
    plan = quota_plan(problem)
    assert violations(problem, plan) == []
    quotas = pool_quotas(problem)
    committed: dict[tuple[str, int, OrgClass], int] = defaultdict(int)
    for c in problem.commitments:
        for slot in range(max(c.start_slot, 0), min(c.end_slot, problem.horizon.slots)):
            if c.org_class is not None:
                committed[c.pool_id, slot, c.org_class] += c.accelerators
    used = defaultdict(int, committed)
    for p in plan:
        org_class = problem.org_by_id[problem.request_by_id[p.request_id].org_id].org_class
        for slot in range(p.start_slot, p.end_slot):
            used[p.pool_id, slot, org_class] += problem.request_by_id[p.request_id].accelerators

    def within(usage: dict, pool_id: str, slot: int) -> bool:
        over = lent = 0
        for org_class, q in ((c, quotas[c][pool_id]) for c in OrgClass):
            held = usage[pool_id, slot, org_class]
            if q.borrowing_limit is not None and held > q.nominal + q.borrowing_limit:
                return False
            over += max(0, held - q.nominal)
            idle = max(0, q.nominal - held)
            lent += idle if q.lending_limit is None else min(idle, q.lending_limit)
        return over <= lent

    for pool in problem.pools:
        for slot in range(problem.horizon.slots):
            if within(committed, pool.id, slot):
                assert within(used, pool.id, slot), (pool.id, slot)
