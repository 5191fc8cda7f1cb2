"""First in, first out: a strict arrival-order queue with head-of-line blocking."""

from __future__ import annotations

from scheduler.model.domain import Placement, Problem
from scheduler.rules.state import RuleState


def fifo_plan(problem: Problem) -> tuple[Placement, ...]:
    """Place requests in strict arrival order, none overtaking the one ahead of it.

    The queue is ordered by arrival (``earliest_slot``, then request id). Processed as a time-stepped list
    scheduler, a request starts at the first slot ``t >= max(arrival, start of the request ahead)`` at which it
    fits, given everything ahead of it: on the pool where that start is earliest (ties: best score, then the
    pool listed first). So a large request at the head that must wait for room holds back every request behind
    it, even one that would fit at once. A request that cannot start by then and still meet its deadline on
    any pool (capacity, SME reserve, window, price ceiling with the subsidy left) is rejected at once and holds
    back nothing. Subsidies are paid in queue order: ``min(entitlement, voucher left, budget left)``.

    Parameters
    ----------
    problem : Problem
        The requests, pools, rules and earlier commitments.

    Returns
    -------
    tuple[Placement, ...]
        The placements, in queue order; they pass :func:`scheduler.rules.validate.violations`.
    """
    state = RuleState(problem)
    head_start = 0
    for request in sorted(problem.requests, key=lambda r: (r.earliest_slot, r.id)):
        placement = state.best_offer(request, not_before=head_start)
        if placement is None:
            continue
        state.take(placement)
        head_start = placement.start_slot
    return tuple(state.plan)
