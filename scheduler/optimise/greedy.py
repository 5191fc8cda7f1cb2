"""The greedy plan that warm-starts the optimiser and is its fallback.

Requests in order of class weight (highest first), then deadline, size or slack; each takes the
(pool, start) with the best score among those that fit every rule given the requests already placed.
Subsidies are paid in arrival order of the greedy pass, in full while voucher and budget last.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from scheduler.model import formulas
from scheduler.model.domain import Placement, Problem, Request
from scheduler.rules.state import RuleState, fit_matrix


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

    On each option (:func:`scheduler.rules.placement.options`) a request takes its earliest start that every
    rule allows (later starts only add delay, at the same cost); of those, the best score wins. The earliest
    fits on all its options are found at once, over an (option x start) array of the room the rule state
    leaves the request in its window, its prefix sums of slots with room, and the runs from each start.
    """
    state = RuleState(problem)
    for request in sorted(problem.requests, key=lambda r: ORDERS[order](problem, r)):
        choices = state.options(request)
        if not choices:
            continue
        first = max(request.earliest_slot, 0)
        width = min(request.deadline_slot, problem.horizon.slots) - first  # every start's run ends in the window
        free = np.stack([state.free(request, o.pool, slice(first, first + width)) for o in choices])
        fits = fit_matrix(free, request.accelerators, np.array([o.run_slots for o in choices]))
        best: tuple[int, Placement] | None = None
        for k in np.flatnonzero(fits.any(axis=1)):
            option = choices[k]
            for offset in np.flatnonzero(fits[k]):
                found = state.offer_fitting(request, option, first + int(offset))
                if found is None:
                    continue  # above its price ceiling with the subsidy left
                score = formulas.score_milli(problem, request, option.pool, found.start_slot)
                if best is None or score > best[0]:
                    best = (score, found)
                break  # later starts on this pool only add delay
        if best is not None:
            state.take(best[1])
    return tuple(state.plan)
