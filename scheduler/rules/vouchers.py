"""Compute vouchers (算力券) within their balances and the programme budget.

For a placed request whose voucher is valid at its start, ``entitlement = floor(cost * pct / 100)``
(see :func:`scheduler.model.formulas.subsidy_pct`). The subsidy paid satisfies

- ``0 <= subsidy_r <= entitlement_r`` (nothing without a voucher valid at the start);
- ``sum(subsidy_r for r on voucher v) <= balance_v``;
- ``sum(subsidy_r) <= voucher_budget``;
- ``subsidy_r == entitlement_r`` unless voucher ``v`` or the programme budget is exhausted (spent to the fen).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from functools import partial
from typing import TYPE_CHECKING

from scheduler.model import formulas
from scheduler.model.domain import Placement, Pool, Problem, Request
from scheduler.rules.base import Violation, known_placements

if TYPE_CHECKING:
    from scheduler.optimise.cpsat.variables import ModelContext


def check(problem: Problem, plan: tuple[Placement, ...]) -> list[Violation]:
    found: list[Violation] = []
    placed = known_placements(problem, plan)
    spent: dict[str, int] = defaultdict(int)
    for p in placed:
        request = problem.request_by_id[p.request_id]
        if request.voucher_id is not None:
            spent[request.voucher_id] += p.subsidy_fen
    total = sum(p.subsidy_fen for p in placed)
    budget = problem.programme.voucher_budget_fen
    for p in placed:
        request = problem.request_by_id[p.request_id]
        pool = problem.pool_by_id[p.pool_id]
        owed = formulas.entitlement_fen(problem, request, pool, p.start_slot)
        if p.subsidy_fen < 0 or p.subsidy_fen > owed:
            found.append(
                Violation(
                    "voucher_entitlement",
                    f"subsidy {p.subsidy_fen} fen outside 0..{owed} fen, the entitlement of its voucher at this start",
                    p.request_id,
                    p.pool_id,
                )
            )
        elif p.subsidy_fen < owed:
            assert request.voucher_id is not None  # owed > 0 implies a voucher
            voucher = problem.voucher_by_id[request.voucher_id]
            if spent[voucher.id] < voucher.balance_fen and total < budget:
                found.append(
                    Violation(
                        "voucher_paid_in_full",
                        f"paid {p.subsidy_fen} of {owed} fen entitled while voucher {voucher.id} and the programme "
                        "budget both have money left",
                        p.request_id,
                        p.pool_id,
                    )
                )
    for voucher_id, amount in spent.items():
        balance = problem.voucher_by_id[voucher_id].balance_fen
        if amount > balance:
            found.append(
                Violation("voucher_balance", f"voucher {voucher_id} pays {amount} fen, its balance is {balance} fen")
            )
    if total > budget:
        found.append(
            Violation("programme_budget", f"subsidies total {total} fen, the programme budget is {budget} fen")
        )
    return found


class Face:
    """The incremental face: each voucher's balance and the programme budget left, and the placements paid less
    than they are entitled to (request id -> voucher id), which stay valid only while their voucher or the
    budget is spent to the fen.

    A placement is admitted when its subsidy lies in ``0..entitlement``, within its voucher's balance and the
    budget left, and is the entitlement in full unless it spends its voucher or the budget to the fen. Taking
    more never un-spends a voucher, so admitting keeps every earlier partial payment valid; releasing may not,
    which :meth:`settled` tells.
    """

    def __init__(self, problem: Problem) -> None:
        self.problem = problem
        self.voucher_left = {v.id: v.balance_fen for v in problem.vouchers}
        self.budget_left = problem.programme.voucher_budget_fen
        self.partial: dict[str, str] = {}

    def owed(self, p: Placement) -> int:
        request = self.problem.request_by_id[p.request_id]
        return formulas.entitlement_fen(self.problem, request, self.problem.pool_by_id[p.pool_id], p.start_slot)

    def subsidy_fen(self, request: Request, pool: Pool, start: int) -> int:
        """What ``request`` is paid if placed now: ``min(entitlement, voucher left, budget left)``."""
        owed = formulas.entitlement_fen(self.problem, request, pool, start)
        if owed == 0 or request.voucher_id is None:
            return 0
        return min(owed, self.voucher_left[request.voucher_id], self.budget_left)

    def admits(self, p: Placement) -> bool:
        owed, paid = self.owed(p), p.subsidy_fen
        if paid < 0 or paid > owed:
            return False
        if paid == 0 and owed == 0:
            return True
        voucher_id = self.problem.request_by_id[p.request_id].voucher_id
        assert voucher_id is not None  # owed > 0 implies a voucher
        left = self.voucher_left[voucher_id]
        if paid > left or paid > self.budget_left:
            return False
        return paid in (owed, left, self.budget_left)  # in full, or spending its voucher or the budget to the fen

    def take(self, p: Placement, sign: int = 1) -> None:
        voucher_id = self.problem.request_by_id[p.request_id].voucher_id
        if voucher_id is None:
            return
        self.voucher_left[voucher_id] -= sign * p.subsidy_fen
        self.budget_left -= sign * p.subsidy_fen
        if sign < 0:
            self.partial.pop(p.request_id, None)
        elif p.subsidy_fen < self.owed(p):
            self.partial[p.request_id] = voucher_id

    def release(self, p: Placement) -> None:
        self.take(p, -1)

    def settled(self) -> bool:
        """Every placement paid in part has its voucher or the programme budget spent to the fen."""
        return self.budget_left <= 0 or all(self.voucher_left[v] <= 0 for v in self.partial.values())


def encode(ctx: ModelContext) -> None:
    model = ctx.model
    problem = ctx.problem
    if not ctx.subsidy_var:
        return
    by_voucher: dict[str, list[str]] = defaultdict(list)
    for request_id in ctx.subsidy_var:
        by_voucher[problem.request_by_id[request_id].voucher_id].append(request_id)  # type: ignore[index]

    total = sum(ctx.subsidy_var.values())
    budget = problem.programme.voucher_budget_fen
    budget_spent = model.new_bool_var("budget_exhausted_var")
    model.add(total <= budget)
    model.add(total >= budget).only_enforce_if(budget_spent)

    ctx.derived_hints.append((budget_spent, partial(_spends, request_ids=list(ctx.subsidy_var), amount=budget)))

    for voucher_id, request_ids in by_voucher.items():
        balance = problem.voucher_by_id[voucher_id].balance_fen
        spent = sum(ctx.subsidy_var[r] for r in request_ids)
        voucher_spent = model.new_bool_var(f"voucher_exhausted_{voucher_id}_var")
        model.add(spent <= balance)
        model.add(spent >= balance).only_enforce_if(voucher_spent)
        ctx.derived_hints.append((voucher_spent, partial(_spends, request_ids=request_ids, amount=balance)))
        for request_id in request_ids:
            subsidy = ctx.subsidy_var[request_id]
            owed = sum(
                o.entitlement_fen * o.entitled_var
                for o in ctx.options_by_request[request_id]
                if o.entitled_var is not None
            )
            paid_in_full = model.new_bool_var(f"paid_in_full_{request_id}_var")
            model.add(subsidy <= owed)
            model.add(subsidy >= owed).only_enforce_if(paid_in_full)
            model.add_bool_or([paid_in_full, voucher_spent, budget_spent])
            ctx.derived_hints.append((paid_in_full, partial(_paid_in_full, ctx, request_id=request_id)))


def _spends(plan: Mapping[str, Placement], request_ids: Iterable[str], amount: int) -> bool:
    """Whether ``plan`` pays ``request_ids`` at least ``amount`` in all."""
    return sum(plan[r].subsidy_fen for r in request_ids if r in plan) >= amount


def _paid_in_full(ctx: ModelContext, plan: Mapping[str, Placement], request_id: str) -> bool:
    placement = plan.get(request_id)
    if placement is None:
        return True
    request = ctx.problem.request_by_id[request_id]
    pool = ctx.problem.pool_by_id[placement.pool_id]
    return placement.subsidy_fen >= formulas.entitlement_fen(ctx.problem, request, pool, placement.start_slot)
