"""First come, first served: a strict arrival-order queue with head-of-line blocking.

Sources: Slurm's ``sched/builtin`` scheduler (slurm.conf(5) ``SchedulerType``; the Scheduling Configuration
Guide): jobs start in strict priority order within a partition, and while a job cannot start no lower-priority
job of that partition starts; with ``PriorityType=priority/basic`` the priority is the submit order. FCFS as
the parallel job scheduling literature defines it (Feitelson, Rudolph and Schwiegelshohn, "Parallel job
scheduling: a status report", JSSPP 2004).

Where it differs, and why: one queue for all pools, as a request may run on any eligible pool (Slurm blocks per
partition); a request that can no longer meet its deadline is rejected instead of blocking the queue for ever
(Slurm jobs have no deadline); and the queue orders by arrival (submission), so a request that asks to start
later holds back every request that arrived after it.
"""

from __future__ import annotations

from scheduler.model.domain import Placement, Problem
from scheduler.rules.state import RuleState
from scheduler.sim.baselines.queue import arrival_key


def fifo_plan(problem: Problem) -> tuple[Placement, ...]:
    """Place requests in strict arrival order, none starting before a request that arrived earlier.

    The queue is ordered by arrival (:func:`~scheduler.sim.baselines.queue.arrival_key`: the request's
    submission, then request id). A request starts at the first slot ``t >= max(earliest start, start of the
    request ahead)`` at which it fits, given everything ahead of it: on the pool where that start is earliest
    (ties: best score, then the pool listed first). So a large request at the head that must wait for room
    holds back every request behind it, even one that would fit at once. A request that cannot start by then
    and still meet its deadline on any pool (capacity, SME reserve, window, price ceiling with the subsidy left)
    is rejected at once and holds back nothing. Subsidies are paid in queue order: ``min(entitlement, voucher
    left, budget left)``.

    Rolling rounds keep the order: what a round commits starts before the next round, and a request placed
    later in the queue never starts earlier, so no later arrival is committed while an earlier one waits in
    the plan.

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
    for request in sorted(problem.requests, key=lambda r: arrival_key(problem, r)):
        placement = state.best_offer(request, not_before=head_start)
        if placement is None:
            continue
        state.take(placement)
        head_start = placement.start_slot
    return tuple(state.plan)
