"""Why a request was not placed: a code and a sentence an applicant can understand (Art. 16).

The checks run from the request's own limits outwards: eligibility, window, price, capacity
before this round, then what this round's other placements took.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from scheduler.model import formulas
from scheduler.model.domain import Placement, Problem, Request
from scheduler.rules import max_cost
from scheduler.rules.placement import Option, options
from scheduler.rules.state import RuleState, fits_mask, state_of


@dataclass(frozen=True)
class Reason:
    code: str
    sentence: str
    field: str | None = None
    """The request field to change, for a reason in :data:`PERMANENT` that a submission check raises."""


def explain(problem: Problem, plan: tuple[Placement, ...]) -> dict[str, Reason]:
    """A reason for every request of ``problem`` that ``plan`` leaves unplaced."""
    placed = {p.request_id for p in plan}
    before, now = RuleState(problem), state_of(problem, plan)
    return {r.id: _reason(problem, r, before, now) for r in problem.requests if r.id not in placed}


PERMANENT = frozenset({"no_eligible_pool", "too_large", "window_too_short", "cost_above_max"})
"""Codes of reasons that no later round can change: the request itself must change."""


def refusal(problem: Problem, request: Request) -> Reason | None:
    """Why ``request`` can never be placed in ``problem`` whatever the other requests do: no pool of an accepted
    type at an accepted site, more accelerators than any of them has, or a window shorter than the run on every
    eligible pool (``None`` when none of these holds). ``Reason.field`` names the request field to change."""
    by_type_site = [
        p
        for p in problem.pools
        if (request.accelerator_types is None or p.accelerator_type in request.accelerator_types)
        and (request.sites is None or p.site_id in request.sites)
    ]
    if not by_type_site:
        return Reason("no_eligible_pool", "No pool offers an accepted accelerator type at an accepted site.", "sites")
    pools = problem.eligible_pools(request)
    if not pools:
        largest = max(p.capacity for p in by_type_site)
        return Reason(
            "too_large",
            f"It asks for {request.accelerators} accelerators; the largest eligible pool has {largest}.",
            "accelerators",
        )
    if not options(problem, request):
        return Reason(
            "window_too_short",
            "The time window between earliest start and deadline is shorter than the run on every eligible pool.",
            "deadline",
        )
    return None


def _reason(problem: Problem, request: Request, before: RuleState, now: RuleState) -> Reason:
    """The first reason that holds, from the request's own limits outwards: ``before`` is the rule state this
    round started from, ``now`` the one after its plan."""
    refused = refusal(problem, request)
    if refused is not None:
        return refused
    full = [  # within its price ceiling with the full voucher subsidy
        (o, s)
        for o in before.options(request)
        for s in o.starts
        if max_cost.affordable(request, o.cost_fen, formulas.entitlement_fen(problem, request, o.pool, s))
    ]
    if not full:
        return Reason(
            "cost_above_max", "Its cost after the full voucher subsidy is above its max_cost on every eligible pool."
        )
    # (option, start) pairs that fit: physically before this round, within every limit before this round,
    # physically now, and within every limit now
    free_before: list[tuple[Option, int]] = []
    share_before: list[tuple[Option, int]] = []
    physical_now: list[tuple[Option, int]] = []
    free_now: list[tuple[Option, int]] = []
    for option in before.options(request):
        starts = [s for o, s in full if o is option]
        if not starts:
            continue

        def fitting(room: np.ndarray, option: Option = option, starts: list[int] = starts) -> list[tuple[Option, int]]:
            window = range(starts[0], starts[-1] + 1)
            fits = fits_mask(room, request.accelerators, option.run_slots, window)
            return [(option, s) for s in starts if fits[s - window.start]]

        free_before += fitting(before.room.limit(request, option.pool))
        share_before += fitting(before.free(request, option.pool))
        physical_now += fitting(now.room.limit(request, option.pool))
        free_now += fitting(now.free(request, option.pool))
    if not free_before:
        return Reason("capacity_full", "Every eligible pool is fully booked or under maintenance for the whole window.")
    if not share_before:
        return Reason("reserve_only", "The only free capacity in its window is the share reserved for SMEs.")
    exhausted = _exhausted(request, now)
    # the subsidy left cannot bring it within its price ceiling wherever it had room: that, not rank, decides
    if exhausted and not any(now.affordable(request, o.pool, s) for o, s in share_before):
        return exhausted
    if not free_now and physical_now:
        return Reason("reserve_only", "The only free capacity in its window is the share reserved for SMEs.")
    if not free_now:
        return Reason(
            "outranked",
            "Capacity in its window went to requests of higher value (class weight × accelerator-hours) in this round.",
        )
    if exhausted and not any(now.affordable(request, o.pool, s) for o, s in free_now):
        return exhausted
    return Reason(
        "not_selected",
        "Room existed, but the optimiser did not place it within its time limit "
        "(or its carbon cost outweighed its value).",
    )


def _exhausted(request: Request, now: RuleState) -> Reason | None:
    """The reason to give when a price ceiling needs subsidy that is no longer there (None without a ceiling)."""
    if request.max_cost_fen is None or request.voucher_id is None:
        return None
    if now.purse.budget_left <= now.purse.voucher_left[request.voucher_id]:
        return Reason(
            "budget_exhausted",
            "The programme's voucher budget is spent, and without the subsidy its cost is above its max_cost.",
        )
    return Reason(
        "voucher_exhausted", "Its voucher's balance is spent, and without the subsidy its cost is above its max_cost."
    )


def planned_later(problem: Problem, placement: Placement) -> Reason:
    """The reason of a request a round planned to start later and did not commit (:mod:`scheduler.sim.online`)."""
    start = problem.horizon.to_datetime(placement.start_slot).isoformat(timespec="minutes")
    return Reason(
        "planned_later",
        f"Planned to start at {start} on {placement.pool_id}; not committed yet: the round before its start decides "
        "it again, with the demand that arrives meanwhile.",
    )
