"""Quotes: price, voucher entitlement, out-of-pocket cost and room per eligible pool, for one request.

Works on the core's objects only; :func:`api.mapping.check_request` builds the problem, the route the model.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from scheduler.model import formulas
from scheduler.model.domain import Problem


def quote(problem: Problem, voucher_balance_fen: int | None) -> dict[str, Any]:
    """Price, entitlement, out-of-pocket cost and room per eligible pool of ``problem``'s one request."""
    request = problem.requests[0]
    sme = problem.is_sme(request)
    left = problem.programme.voucher_budget_fen
    if voucher_balance_fen is not None:
        left = min(left, voucher_balance_fen)
    options = []
    for pool in problem.eligible_pools(request):
        starts = formulas.start_range(problem, request, pool)
        if not starts:
            continue
        room = np.array(formulas.room_left(problem, pool))
        if not sme:
            room = np.minimum(room, np.array(formulas.non_sme_room_left(problem, pool)))
        run = formulas.run_slots(problem, request, pool)
        fit = next((s for s in starts if room[s : s + run].min() >= request.accelerators), None)
        start = starts[0] if fit is None else fit
        cost = formulas.cost_fen(request, pool)
        entitled = min(formulas.entitlement_fen(problem, request, pool, start), left)
        options.append(
            dict(
                pool_id=pool.id,
                site_id=pool.site_id,
                accelerator_type=pool.accelerator_type,
                run_hours=formulas.run_hours(request, pool),
                cost_fen=cost,
                subsidy_pct=formulas.subsidy_pct(problem, request, pool),
                entitlement_fen=entitled,
                out_of_pocket_fen=cost - entitled,
                within_max_cost=request.max_cost_fen is None or cost - entitled <= request.max_cost_fen,
                capacity_available=fit is not None,
                earliest_start_with_room=None if fit is None else problem.horizon.to_datetime(fit),
            )
        )
    options.sort(
        key=lambda o: (not o["capacity_available"], not o["within_max_cost"], o["out_of_pocket_fen"], o["pool_id"])
    )
    best = next((o for o in options if o["capacity_available"] and o["within_max_cost"]), None)
    return {
        "org_id": request.org_id,
        "voucher_id": request.voucher_id,
        "voucher_balance_fen": voucher_balance_fen,
        "capacity_available": any(o["capacity_available"] for o in options),
        "best": best,
        "options": options,
    }
