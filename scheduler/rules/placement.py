"""A request gets at most one placement, on an eligible pool, inside its window, at the list price.

Eligible: an accepted accelerator type at an accepted site, with at least ``accelerators`` of them.
Window: ``earliest_slot <= start`` and ``start + run_slots <= min(deadline_slot, horizon)``.
Price: ``cost_fen = accelerators * run_hours * price_fen_per_hour``, the same for every organisation.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from scheduler.model import formulas
from scheduler.model.domain import Placement, Problem
from scheduler.rules.base import Violation

if TYPE_CHECKING:
    from scheduler.optimise.cpsat.variables import ModelContext


def check(problem: Problem, plan: tuple[Placement, ...]) -> list[Violation]:
    found: list[Violation] = []
    seen: set[str] = set()
    for p in plan:
        request = problem.request_by_id.get(p.request_id)
        if request is None:
            found.append(Violation("unknown_request", f"no request {p.request_id!r} in the problem", p.request_id))
            continue
        if p.request_id in seen:
            found.append(Violation("double_booked", f"request {p.request_id} is placed more than once", p.request_id))
        seen.add(p.request_id)
        pool = problem.pool_by_id.get(p.pool_id)
        if pool is None:
            found.append(Violation("ineligible_pool", f"no pool {p.pool_id!r}", p.request_id, p.pool_id))
            continue
        if pool not in problem.eligible_pools(request):
            found.append(
                Violation(
                    "ineligible_pool",
                    f"pool {pool.id} ({pool.accelerator_type} at {pool.site_id}, capacity {pool.capacity}) is not "
                    f"an accepted type and site for {request.accelerators} accelerators",
                    p.request_id,
                    p.pool_id,
                )
            )
        end = p.start_slot + formulas.run_slots(problem, request, pool)
        if p.start_slot < max(request.earliest_slot, 0):
            found.append(
                Violation(
                    "window",
                    f"starts at slot {p.start_slot}, before its earliest start slot {max(request.earliest_slot, 0)}",
                    p.request_id,
                    p.pool_id,
                    p.start_slot,
                )
            )
        if end > min(request.deadline_slot, problem.horizon.slots):
            found.append(
                Violation(
                    "window",
                    f"ends at slot {end}, after its deadline slot {min(request.deadline_slot, problem.horizon.slots)}",
                    p.request_id,
                    p.pool_id,
                    end,
                )
            )
        price = formulas.cost_fen(request, pool)
        if p.cost_fen != price:
            found.append(
                Violation("price", f"charged {p.cost_fen} fen, the list price is {price} fen", p.request_id, p.pool_id)
            )
    return found


def encode(ctx: ModelContext) -> None:
    # eligibility, window and price are built into which options exist and their start domains
    for options in ctx.options_by_request.values():
        if len(options) > 1:
            ctx.model.add_at_most_one(o.present_var for o in options)
