"""Priority scheduling with EASY backfill: one reservation, for the head of the queue.

Sources: D. Lifka, "The ANL/IBM SP scheduling system", JSSPP 1995 (EASY, the Extensible Argonne Scheduling
sYstem); A. Mu'alem and D. Feitelson, "Utilization, predictability, workloads, and user runtime estimates in
scheduling the IBM SP2 with backfilling", IEEE TPDS 12(6), 2001 (EASY against conservative backfilling);
Slurm's ``sched/backfill`` (the Scheduling Configuration Guide; slurm.conf(5) ``SchedulerParameters``).

Where it differs, and why: run lengths are exact here (a request's run at a pool's speed), where EASY uses the
users' estimates; Slurm's backfill reserves for every higher-priority job it tests (up to ``bf_max_job_test``),
EASY for the head alone, which is what this module does; the queue is re-evaluated at every slot of the plan,
so in rolling rounds (which commit what starts before the next round and decide the rest again) it is
re-evaluated every round, as Slurm's backfill cycle is every ``bf_interval``; and a request whose deadline can no
longer be met leaves the queue (Slurm jobs have no deadline).
"""

from __future__ import annotations

from scheduler.model.domain import Placement, Problem, Request
from scheduler.rules.state import RuleState
from scheduler.sim.baselines.queue import eligible_slot, priority_key


def easy_plan(problem: Problem) -> tuple[Placement, ...]:
    """Priority order with EASY backfill (Slurm's ``sched/backfill`` with one reservation).

    The queue holds the requests that may start (from their earliest start,
    :func:`~scheduler.sim.baselines.queue.eligible_slot`), ordered by class priority (class weight, highest
    first), then arrival (submission), then request id (:func:`~scheduler.sim.baselines.queue.priority_key`).
    At every slot ``t``, in queue order:

    1. while no request has been blocked yet, each request that fits now (a start at ``t`` on some pool, under
       capacity, the SME reserve, its window and its price ceiling) starts at ``t`` on the fitting pool with
       the best score;
    2. the first request that does not fit is the head: it gets a reservation at its earliest feasible start
       ``s* > t`` (the shadow time) on the pool where that start is earliest (ties: best score). The
       reservation holds its accelerators on that pool in ``[s*, s* + run)``;
    3. every later request that fits now starts at ``t`` only if it does not delay the reservation: it must
       fit in the capacity the reservation leaves free (so on the head's pool it either ends by ``s*`` or
       uses accelerators the head does not need), and the subsidy it takes must leave the head within its
       price ceiling at ``s*``.

    The reservation is recomputed every slot, so it never moves later; a request of higher priority that
    arrives meanwhile goes ahead of the head, as in Slurm. Requests whose deadline can no longer be met are
    dropped: those whose window has passed, and a head with no feasible start left. Subsidies are paid in
    the order requests start: ``min(entitlement, voucher left, budget left)``.

    Parameters
    ----------
    problem : Problem
        The requests, pools, rules and earlier commitments.

    Returns
    -------
    tuple[Placement, ...]
        The placements in the order they started; they pass :func:`scheduler.rules.validate.violations`.
    """
    state = RuleState(problem)
    pending = sorted((r for r in problem.requests if state.options(r)), key=lambda r: priority_key(problem, r))
    for slot in range(problem.horizon.slots):
        if not pending:
            break
        waiting: list[Request] = []
        head: Request | None = None
        reservation: Placement | None = None
        for request in pending:
            if eligible_slot(request) > slot:
                waiting.append(request)
                continue
            if state.last_start(request) < slot:
                continue  # its deadline can no longer be met
            now = state.best_offer(request, slot, slot)
            if reservation is None:
                if now is not None:
                    state.take(now)
                    continue
                reservation = state.best_offer(request, slot + 1)
                if reservation is None:
                    continue  # no start left that meets its deadline
                head = request
                state.hold(reservation)
            elif now is not None and _backfill(state, now, head, reservation):  # type: ignore[arg-type]
                continue
            waiting.append(request)
        if reservation is not None:
            state.unhold(reservation)
        pending = waiting
    return tuple(state.plan)


def _backfill(state: RuleState, placement: Placement, head: Request, reservation: Placement) -> bool:
    """Commit ``placement`` (which fits around the held reservation) unless the subsidy it takes would leave
    the head above its price ceiling at its reservation."""
    state.take(placement)
    pool = state.problem.pool_by_id[reservation.pool_id]
    if state.affordable(head, pool, reservation.start_slot):
        return True
    state.release(placement)
    return False
