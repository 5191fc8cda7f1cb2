"""Kueue's quotas with borrowing: every class has a nominal quota of every pool and may borrow idle quota."""

from __future__ import annotations

from collections.abc import Mapping
from fractions import Fraction

import numpy as np

from scheduler.model import formulas
from scheduler.model.domain import OrgClass, Placement, Pool, Problem, Request
from scheduler.rules.state import RuleState
from scheduler.sim.baselines.queue import arrival_slot, priority_key

Quotas = dict[OrgClass, dict[str, int]]
Usage = dict[OrgClass, dict[str, np.ndarray]]


def class_shares(problem: Problem) -> dict[OrgClass, Fraction]:
    """The default nominal shares: each class's part of the requested work (accelerators × duration hours
    over all requests), the class mix of the demand; equal shares when there are no requests."""
    work = {c: 0 for c in OrgClass}
    for request in problem.requests:
        work[problem.org_by_id[request.org_id].org_class] += request.accelerators * request.duration_hours
    total = sum(work.values())
    if total == 0:
        return {c: Fraction(1, len(OrgClass)) for c in OrgClass}
    return {c: Fraction(w, total) for c, w in work.items()}


def nominal_quotas(problem: Problem, shares: Mapping[OrgClass, Fraction | float] | None = None) -> Quotas:
    """Whole-accelerator nominal quotas per class and pool that add up to the pool's capacity.

    ``share_c * capacity`` is rounded down and the accelerators left go one each to the largest remainders
    (ties: higher class weight first), so every pool is split in the same proportions.
    """
    shares = dict(shares) if shares is not None else class_shares(problem)
    raw = {c: Fraction(shares.get(c, 0)) for c in OrgClass}
    total = sum(raw.values())
    if total <= 0 or any(s < 0 for s in raw.values()):
        raise ValueError("quota shares must be >= 0 and add up to more than 0")
    weights = problem.policy.class_weights
    quotas: Quotas = {c: {} for c in OrgClass}
    for pool in problem.pools:
        exact = {c: raw[c] / total * pool.capacity for c in OrgClass}
        whole = {c: int(exact[c]) for c in OrgClass}
        left = pool.capacity - sum(whole.values())
        for c in sorted(OrgClass, key=lambda c: (-(exact[c] - whole[c]), -weights[c], c.value))[:left]:
            whole[c] += 1
        for c in OrgClass:
            quotas[c][pool.id] = whole[c]
    return quotas


def quota_plan(
    problem: Problem, shares: Mapping[OrgClass, Fraction | float] | None = None, borrowing: bool = True
) -> tuple[Placement, ...]:
    """Admit requests under per-class nominal quotas with borrowing (Kueue's ClusterQueues in one cohort).

    Each class ``c`` holds a nominal quota ``nominal[c, p]`` of every pool ``p`` (:func:`nominal_quotas`;
    by default from the class mix of the demand, :func:`class_shares`). Admission is time-stepped: at every
    slot ``t`` the requests that have arrived are taken in priority order (class weight, then arrival, then
    request id) and each one that can be admitted starts at ``t``; one that cannot waits and blocks nobody
    (Kueue's BestEffortFIFO). A request of class ``c`` can be admitted on pool ``p`` when every rule allows
    the start (capacity, SME reserve, window, price ceiling) and, in every slot ``s`` of its run, either

    - ``used[c, p, s] + accelerators <= nominal[c, p]`` (within its quota), or
    - the classes' borrowing fits in the idle quota of the others: with ``over`` the accelerators each class
      holds above its quota and ``idle[l] = max(0, nominal[l, p] - used[l, p, s] - claim[l, p, s])``,
      ``over[c] (after admission) + sum(over[b], b != c) <= sum(idle[l], l != c)``.

    Kueue returns lent quota by preempting the borrowers when the lender's own workloads arrive. Placements
    here are never preempted, so the return is settled ahead: a first pass admits every class within its
    quota alone, and ``claim[l, p, s]`` is what that pass gives class ``l``'s requests not yet admitted.
    Borrowing may therefore only take a lender's quota that is idle given its admitted work and its own
    demand to come; a lender's claim is dropped when its request is admitted, or once the start that pass
    gave it has passed. Among pools where a request can start, one within its quota goes first, then the
    best score, then the pool listed first. Subsidies are paid in admission order.

    Parameters
    ----------
    problem : Problem
        The requests, pools, rules and earlier commitments.
    shares : Mapping[OrgClass, Fraction | float], optional
        Nominal share of each class (normalised; missing classes get 0).
    borrowing : bool
        ``False`` admits within the nominal quotas only (the first pass alone).

    Returns
    -------
    tuple[Placement, ...]
        The placements in admission order; they pass :func:`scheduler.rules.validate.violations`.
    """
    quotas = nominal_quotas(problem, shares)
    first_pass = _admit(problem, quotas, claims=None)
    if not borrowing:
        return first_pass
    return _admit(problem, quotas, claims=first_pass)


def _admit(problem: Problem, quotas: Quotas, claims: tuple[Placement, ...] | None) -> tuple[Placement, ...]:
    """One time-stepped admission pass; without ``claims`` nobody borrows."""
    state = RuleState(problem)
    slots = problem.horizon.slots
    org_class = {r.id: problem.org_by_id[r.org_id].org_class for r in problem.requests}
    used: Usage = {c: {p.id: np.zeros(slots, dtype=np.int64) for p in problem.pools} for c in OrgClass}
    claimed: Usage = {c: {p.id: np.zeros(slots, dtype=np.int64) for p in problem.pools} for c in OrgClass}
    claim_of = {p.request_id: p for p in claims or ()}
    for placement in claim_of.values():
        _add(problem, claimed, org_class[placement.request_id], placement, 1)

    def within_quota(c: OrgClass, pool_id: str, start: int, run: int, need: int) -> bool:
        return bool((used[c][pool_id][start : start + run] + need <= quotas[c][pool_id]).all())

    def may_borrow(c: OrgClass, pool_id: str, start: int, run: int, need: int) -> bool:
        window = slice(start, start + run)
        own_over = used[c][pool_id][window] + need - quotas[c][pool_id]
        others_over = sum(np.maximum(0, used[o][pool_id][window] - quotas[o][pool_id]) for o in OrgClass if o != c)
        idle = sum(
            np.maximum(0, quotas[o][pool_id] - used[o][pool_id][window] - claimed[o][pool_id][window])
            for o in OrgClass
            if o != c
        )
        return bool(((own_over <= 0) | (own_over + others_over <= idle)).all())

    pending = sorted((r for r in problem.requests if state.options(r)), key=lambda r: priority_key(problem, r))
    for slot in range(slots):
        if not pending:
            break
        waiting: list[Request] = []
        for request in pending:
            if arrival_slot(request) > slot:
                waiting.append(request)
                continue
            if state.last_start(request) < slot:
                continue  # its deadline can no longer be met
            c = org_class[request.id]
            best: tuple[tuple, Placement] | None = None
            for idx, option in enumerate(state.options(request)):
                offered = state.offer(request, option, slot)
                if offered is None:
                    continue
                pool_id, need = option.pool.id, request.accelerators
                if within_quota(c, pool_id, slot, option.run_slots, need):
                    key: tuple = (0, -_score(state, request, option.pool, slot), idx)
                elif claims is not None and may_borrow(c, pool_id, slot, option.run_slots, need):
                    key = (1, -_score(state, request, option.pool, slot), idx)
                else:
                    continue
                if best is None or key < best[0]:
                    best = (key, offered)
            if best is None:
                waiting.append(request)
                continue
            state.take(best[1])
            _add(problem, used, c, best[1], 1)
            if request.id in claim_of:
                _add(problem, claimed, c, claim_of.pop(request.id), -1)
        for request_id, placement in list(claim_of.items()):
            if placement.start_slot <= slot:  # its first-pass start has passed unused: the claim lapses
                _add(problem, claimed, org_class[request_id], claim_of.pop(request_id), -1)
        pending = waiting
    return tuple(state.plan)


def _score(state: RuleState, request: Request, pool: Pool, start: int) -> int:
    return formulas.score_milli(state.problem, request, pool, start)


def _add(problem: Problem, usage: Usage, c: OrgClass, placement: Placement, sign: int) -> None:
    accelerators = problem.request_by_id[placement.request_id].accelerators
    usage[c][placement.pool_id][placement.start_slot : placement.end_slot] += sign * accelerators
