"""The greedy plan that warm-starts the optimiser and is its fallback.

Requests in order of class weight (highest first), then deadline, size or slack; each takes the
(pool, start) with the best score among those that fit every rule given the requests already placed.
Subsidies are paid in arrival order of the greedy pass, in full while voucher and budget last.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from scheduler import formulas
from scheduler.domain import Placement, Problem, Request


def fits_mask(room: np.ndarray, accelerators: int, run: int, starts: range) -> np.ndarray:
    """Mask over ``starts``: the run of ``run`` slots from each start has ``accelerators`` free throughout."""
    free = np.concatenate(([0], np.cumsum(room[starts.start : starts.stop + run - 1] >= accelerators)))
    return free[run:] - free[:-run] == run  # free slots in each start's run, by a prefix sum


def _weight(problem: Problem, request: Request) -> float:
    return problem.policy.class_weights[problem.org_by_id[request.org_id].org_class]


ORDERS: dict[str, Callable[[Problem, Request], tuple]] = {
    # class weight first in every order: a higher class never queues behind a lower one
    "deadline": lambda pr, r: (-_weight(pr, r), r.deadline_slot, -r.accelerators * r.duration_hours, r.id),
    "largest": lambda pr, r: (-_weight(pr, r), -r.accelerators * r.duration_hours, r.deadline_slot, r.id),
    "tightest": lambda pr, r: (-_weight(pr, r), r.deadline_slot - r.earliest_slot - r.duration_hours, r.id),
}


def greedy_plan(problem: Problem, order: str = "deadline") -> tuple[Placement, ...]:
    """Place requests one by one in ``order`` (a key of :data:`ORDERS`), each at its best-scoring fit."""
    room = {p.id: np.array(formulas.room_left(problem, p), dtype=np.int64) for p in problem.pools}
    non_sme_room = {p.id: np.array(formulas.non_sme_room_left(problem, p), dtype=np.int64) for p in problem.pools}
    voucher_left = {v.id: v.balance_fen for v in problem.vouchers}
    budget_left = problem.programme.voucher_budget_fen
    plan: list[Placement] = []
    for request in sorted(problem.requests, key=lambda r: ORDERS[order](problem, r)):
        sme = problem.is_sme(request)
        best: tuple[int, Placement] | None = None
        for pool in problem.eligible_pools(request):
            starts = formulas.start_range(problem, request, pool)
            if not starts:
                continue
            run = formulas.run_slots(problem, request, pool)
            free = room[pool.id] if sme else np.minimum(room[pool.id], non_sme_room[pool.id])
            fits = fits_mask(free, request.accelerators, run, starts)
            cost = formulas.cost_fen(request, pool)
            for offset in np.flatnonzero(fits):
                start = starts.start + int(offset)
                subsidy = formulas.entitlement_fen(problem, request, pool, start)
                if request.voucher_id is not None:
                    subsidy = min(subsidy, voucher_left[request.voucher_id], budget_left)
                if request.max_cost_fen is not None and cost - subsidy > request.max_cost_fen:
                    continue
                score = formulas.score_milli(problem, request, pool, start)
                if best is None or score > best[0]:
                    best = (score, Placement(request.id, pool.id, start, cost, subsidy))
                break  # later starts on this pool only add delay
        if best is None:
            continue
        placement = best[1]
        pool = problem.pool_by_id[placement.pool_id]
        end = placement.start_slot + formulas.run_slots(problem, request, pool)
        room[pool.id][placement.start_slot : end] -= request.accelerators
        if sme:
            np.minimum(non_sme_room[pool.id], room[pool.id], out=non_sme_room[pool.id])
        else:
            non_sme_room[pool.id][placement.start_slot : end] -= request.accelerators
        if request.voucher_id is not None:
            voucher_left[request.voucher_id] -= placement.subsidy_fen
            budget_left -= placement.subsidy_fen
        plan.append(placement)
    return tuple(plan)
