"""Quotes: price, voucher entitlement, out-of-pocket cost and room per option, for one request, from the rule
state of the problem as it stands (its commitments, voucher balances and budget left)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime

from scheduler.model import formulas
from scheduler.model.domain import Problem
from scheduler.rules import max_cost
from scheduler.rules.state import RuleState, fits_mask


@dataclass(frozen=True)
class QuoteOption:
    """One option: what the request would cost there, and whether there is room in its window."""

    pool_id: str
    site_id: str
    accelerator_type: str
    run_hours: int
    cost_fen: int
    subsidy_pct: int
    entitlement_fen: int
    """The voucher's share at the earliest start with room, limited by its balance and the programme budget."""
    out_of_pocket_fen: int
    within_max_cost: bool
    capacity_available: bool
    earliest_start_with_room: datetime | None


@dataclass(frozen=True)
class Quote:
    org_id: str
    voucher_id: str | None
    voucher_balance_fen: int | None
    capacity_available: bool
    best: QuoteOption | None
    """The cheapest option with room and within max_cost, if any."""
    options: tuple[QuoteOption, ...]


def quote(problem: Problem, voucher_balance_fen: int | None = None) -> Quote:
    """The quote of ``problem``'s one request; ``voucher_balance_fen`` overrides its voucher's balance (the
    live balance, when the problem's may be older)."""
    request = problem.requests[0]
    if voucher_balance_fen is not None:
        problem = dataclasses.replace(
            problem, vouchers=tuple(dataclasses.replace(v, balance_fen=voucher_balance_fen) for v in problem.vouchers)
        )
    state = RuleState(problem)
    found = []
    for option in state.options(request):
        pool = option.pool
        fits = fits_mask(state.free(request, pool), request.accelerators, option.run_slots, option.starts)
        fit = next((option.starts[k] for k, ok in enumerate(fits) if ok), None)
        entitled = state.subsidy_fen(request, pool, option.starts.start if fit is None else fit)
        found.append(
            QuoteOption(
                pool_id=pool.id,
                site_id=pool.site_id,
                accelerator_type=pool.accelerator_type,
                run_hours=formulas.run_hours(request, pool),
                cost_fen=option.cost_fen,
                subsidy_pct=formulas.subsidy_pct(problem, request, pool),
                entitlement_fen=entitled,
                out_of_pocket_fen=option.cost_fen - entitled,
                within_max_cost=max_cost.affordable(request, option.cost_fen, entitled),
                capacity_available=fit is not None,
                earliest_start_with_room=None if fit is None else problem.horizon.to_datetime(fit),
            )
        )
    found.sort(key=lambda o: (not o.capacity_available, not o.within_max_cost, o.out_of_pocket_fen, o.pool_id))
    return Quote(
        org_id=request.org_id,
        voucher_id=request.voucher_id,
        voucher_balance_fen=voucher_balance_fen,
        capacity_available=any(o.capacity_available for o in found),
        best=next((o for o in found if o.capacity_available and o.within_max_cost), None),
        options=tuple(found),
    )
