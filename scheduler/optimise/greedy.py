"""The greedy plan that warm-starts the optimiser and is its fallback.

Requests in order of class weight (highest first), then deadline, size or slack; each takes the
(pool, start) with the best score among those that fit every rule given the requests already placed.
Subsidies are paid in arrival order of the greedy pass, in full while voucher and budget last.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from scheduler.model import formulas
from scheduler.model.domain import Placement, Pool, Problem, Request


def fit_matrix(free: np.ndarray, accelerators: int, runs: np.ndarray) -> np.ndarray:
    """Over (row, start) of ``free`` (each row the room per slot of one window): whether a run of that row's
    ``runs`` slots from the start has ``accelerators`` free throughout and ends inside the window."""
    width = free.shape[1]
    with_room = np.zeros((len(free), width + 1), dtype=np.int32)  # slots with room before each, by a prefix sum
    np.cumsum(free >= accelerators, axis=1, out=with_room[:, 1:])
    ends = np.arange(width) + runs[:, None]
    inside = np.take_along_axis(with_room, np.minimum(ends, width), axis=1) - with_room[:, :width]
    return (ends <= width) & (inside == runs[:, None])


def fits_mask(room: np.ndarray, accelerators: int, run: int, starts: range) -> np.ndarray:
    """Mask over ``starts``: the run of ``run`` slots from each start has ``accelerators`` free throughout."""
    window = room[starts.start : starts.stop + run - 1]
    return fit_matrix(window[None, :], accelerators, np.array([run]))[0, : len(starts)]


def _weight(problem: Problem, request: Request) -> float:
    return problem.policy.class_weights[problem.org_by_id[request.org_id].org_class]


ORDERS: dict[str, Callable[[Problem, Request], tuple]] = {
    # class weight first in every order: a higher class never queues behind a lower one
    "deadline": lambda pr, r: (-_weight(pr, r), r.deadline_slot, -r.accelerators * r.duration_hours, r.id),
    "largest": lambda pr, r: (-_weight(pr, r), -r.accelerators * r.duration_hours, r.deadline_slot, r.id),
    "tightest": lambda pr, r: (-_weight(pr, r), r.deadline_slot - r.earliest_slot - r.duration_hours, r.id),
}


def greedy_plan(problem: Problem, order: str = "deadline") -> tuple[Placement, ...]:
    """Place requests one by one in ``order`` (a key of :data:`ORDERS`), each at its best-scoring fit.

    On each eligible pool a request takes its earliest start that fits (later starts only add delay, at the same
    cost) and within its ``max_cost``; of those, the best score wins. The earliest fits on all eligible pools are
    found at once, over a (pool x start) array: the room of the request's window on each pool, its prefix sums
    of slots with room, and the runs from each start.
    """
    row = {p.id: k for k, p in enumerate(problem.pools)}
    room = np.array([formulas.room_left(problem, p) for p in problem.pools], dtype=np.int64).reshape(
        -1, problem.horizon.slots
    )
    non_sme_room = np.array([formulas.non_sme_room_left(problem, p) for p in problem.pools], dtype=np.int64).reshape(
        room.shape
    )
    run_slots: dict[tuple[int, str], int] = {}  # by (duration, pool): the pool's speed sets the run

    def run_of(request: Request, pool: Pool) -> int:
        key = (request.duration_hours, pool.id)
        if key not in run_slots:
            run_slots[key] = formulas.run_slots(problem, request, pool)
        return run_slots[key]

    voucher_left = {v.id: v.balance_fen for v in problem.vouchers}
    budget_left = problem.programme.voucher_budget_fen
    plan: list[Placement] = []
    for request in sorted(problem.requests, key=lambda r: ORDERS[order](problem, r)):
        first = max(request.earliest_slot, 0)
        width = min(request.deadline_slot, problem.horizon.slots) - first  # every start's run ends in the window
        pools = problem.eligible_pools(request)
        if width <= 0 or not pools:
            continue
        runs = np.array([run_of(request, p) for p in pools])
        rows = np.array([row[p.id] for p in pools])
        free = room[rows, first : first + width]
        sme = problem.is_sme(request)
        if not sme:
            np.minimum(free, non_sme_room[rows, first : first + width], out=free)
        fits = fit_matrix(free, request.accelerators, runs)
        best: tuple[int, Placement] | None = None
        for k in np.flatnonzero(fits.any(axis=1)):
            pool = pools[k]
            cost = formulas.cost_fen(request, pool)
            for offset in np.flatnonzero(fits[k]):
                start = first + int(offset)
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
        k = row[placement.pool_id]
        end = placement.start_slot + run_slots[(request.duration_hours, placement.pool_id)]
        room[k, placement.start_slot : end] -= request.accelerators
        if sme:
            np.minimum(non_sme_room[k], room[k], out=non_sme_room[k])
        else:
            non_sme_room[k, placement.start_slot : end] -= request.accelerators
        if request.voucher_id is not None:
            voucher_left[request.voucher_id] -= placement.subsidy_fen
            budget_left -= placement.subsidy_fen
        plan.append(placement)
    return tuple(plan)
