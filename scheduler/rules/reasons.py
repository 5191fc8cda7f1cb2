"""Why a request was not placed: a code and a sentence an applicant can understand (Art. 16).

The checks run from the request's own limits outwards: eligibility, window, price, capacity
before this round, then what this round's other placements took.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from scheduler.model import formulas
from scheduler.model.domain import Placement, Problem, Request
from scheduler.optimise.greedy import fits_mask
from scheduler.rules.base import usage_by_slot


@dataclass(frozen=True)
class Reason:
    code: str
    sentence: str
    field: str | None = None
    """The request field to change, for a reason in :data:`PERMANENT` that a submission check raises."""


def explain(problem: Problem, plan: tuple[Placement, ...]) -> dict[str, Reason]:
    """A reason for every request of ``problem`` that ``plan`` leaves unplaced."""
    placed = {p.request_id for p in plan}
    used = {pool.id: np.array(usage_by_slot(problem, plan, pool.id)) for pool in problem.pools}
    used_non_sme = {
        pool.id: np.array(
            usage_by_slot(problem, plan, pool.id, lambda p: not problem.is_sme(problem.request_by_id[p.request_id]))
        )
        for pool in problem.pools
    }
    voucher_left = {v.id: v.balance_fen for v in problem.vouchers}
    for p in plan:
        voucher_id = problem.request_by_id[p.request_id].voucher_id
        if voucher_id is not None:
            voucher_left[voucher_id] -= p.subsidy_fen
    budget_left = problem.programme.voucher_budget_fen - sum(p.subsidy_fen for p in plan)
    return {
        r.id: _reason(problem, r, used, used_non_sme, voucher_left, budget_left)
        for r in problem.requests
        if r.id not in placed
    }


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
    if not any(formulas.start_range(problem, request, p) for p in pools):
        return Reason(
            "window_too_short",
            "The time window between earliest start and deadline is shorter than the run on every eligible pool.",
            "deadline",
        )
    return None


def _reason(
    problem: Problem, request: Request, used: dict, used_non_sme: dict, voucher_left: dict[str, int], budget_left: int
) -> Reason:
    refused = refusal(problem, request)
    if refused is not None:
        return refused
    fitting = [p for p in problem.eligible_pools(request) if formulas.start_range(problem, request, p)]
    limit = request.max_cost_fen

    def affordable(pool, start: int, subsidy_left: int | None = None) -> bool:
        if limit is None:
            return True
        subsidy = formulas.entitlement_fen(problem, request, pool, start)
        if subsidy_left is not None:
            subsidy = min(subsidy, subsidy_left)
        return formulas.cost_fen(request, pool) - subsidy <= limit

    priced = [(p, s) for p in fitting for s in formulas.start_range(problem, request, p) if affordable(p, s)]
    if not priced:
        return Reason(
            "cost_above_max", "Its cost after the full voucher subsidy is above its max_cost on every eligible pool."
        )
    sme = problem.is_sme(request)
    # (pool, start) pairs that fit: physically before this round, within the non-SME share before this
    # round, physically now, and within every limit now
    free_before, share_before, physical_now, free_now = [], [], [], []
    for pool in {p for p, _ in priced}:
        run = formulas.run_slots(problem, request, pool)
        starts = [s for p, s in priced if p is pool]

        def fitting(room: np.ndarray, pool=pool, run=run, starts=starts) -> list:
            window = range(starts[0], starts[-1] + 1)
            fits = fits_mask(room, request.accelerators, run, window)
            return [(pool, s) for s in starts if fits[s - window.start]]

        room = np.array(formulas.room_left(problem, pool))
        room_now = room - used[pool.id]
        if sme:
            share, share_now = room, room_now
        else:
            non_sme_room = np.array(formulas.non_sme_room_left(problem, pool))
            share = np.minimum(room, non_sme_room)
            share_now = np.minimum(room_now, non_sme_room - used_non_sme[pool.id])
        free_before += fitting(room)
        share_before += fitting(share)
        physical_now += fitting(room_now)
        free_now += fitting(share_now)
    if not free_before:
        return Reason("capacity_full", "Every eligible pool is fully booked or under maintenance for the whole window.")
    if not share_before:
        return Reason("reserve_only", "The only free capacity in its window is the share reserved for SMEs.")
    exhausted = _exhausted(request, voucher_left, budget_left)
    left = _subsidy_left(request, voucher_left, budget_left)
    # the subsidy left cannot bring it within its price ceiling wherever it had room: that, not rank, decides
    if exhausted and not any(affordable(p, s, left) for p, s in share_before):
        return exhausted
    if not free_now and physical_now:
        return Reason("reserve_only", "The only free capacity in its window is the share reserved for SMEs.")
    if not free_now:
        return Reason(
            "outranked",
            "Capacity in its window went to requests of higher value (class weight × accelerator-hours) in this round.",
        )
    if exhausted and not any(affordable(p, s, left) for p, s in free_now):
        return exhausted
    return Reason(
        "not_selected",
        "Room existed, but the optimiser did not place it within its time limit "
        "(or its carbon cost outweighed its value).",
    )


def _subsidy_left(request: Request, voucher_left: dict[str, int], budget_left: int) -> int:
    return min(voucher_left[request.voucher_id], budget_left) if request.voucher_id is not None else 0


def _exhausted(request: Request, voucher_left: dict[str, int], budget_left: int) -> Reason | None:
    """The reason to give when a price ceiling needs subsidy that is no longer there (None without a ceiling)."""
    if request.max_cost_fen is None or request.voucher_id is None:
        return None
    if budget_left <= voucher_left[request.voucher_id]:
        return Reason(
            "budget_exhausted",
            "The programme's voucher budget is spent, and without the subsidy its cost is above its max_cost.",
        )
    return Reason(
        "voucher_exhausted", "Its voucher's balance is spent, and without the subsidy its cost is above its max_cost."
    )
