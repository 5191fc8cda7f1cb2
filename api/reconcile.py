"""The money reconciliation: proves, from the stored rows alone, that no money was created or lost.

It holds when
- every voucher's balance equals the sum of its ledger lines, and is never negative;
- every request's subsidy and refund lines net to minus the subsidy its live allocation holds (0 when it has none
  or it was cancelled): a subsidy was debited once per allocation and refunded at most once;
- the subsidy that live (not cancelled) allocations hold equals what the programme has paid, net of refunds, and
  that is within the budget;
- a request holds a live allocation exactly when its status says so (``allocated``, ``running``, ``completed``):
  no cancelled request keeps accelerators or subsidy.

Rounds run it inside their commit transaction and record the outcome; ``GET /audit/money`` runs it on demand.
"""

from __future__ import annotations

from sqlalchemy import case, func, select
from sqlmodel import Session

from api import models as m
from api.crud import subsidy_paid_fen
from api.db import table

HOLDING = (m.RequestStatus.ALLOCATED, m.RequestStatus.RUNNING, m.RequestStatus.COMPLETED)
MONEY_KINDS = (m.EntryKind.SUBSIDY, m.EntryKind.REFUND)
MAX_LISTED = 20  # problems listed per check; the counts are exact


def reconcile(session: Session) -> m.MoneyAudit:
    """Check every rule of the module docstring in ``session`` and say what breaks (each problem a sentence)."""
    problems: list[str] = []
    voucher, entry = table(m.Voucher), table(m.VoucherEntry)
    allocation, request = table(m.Allocation), table(m.ComputeRequest)

    sums = select(entry.c.voucher_id, func.sum(entry.c.amount_fen).label("total")).group_by(entry.c.voucher_id)
    ledger = sums.subquery()
    rows = session.execute(
        select(voucher.c.id, voucher.c.balance_fen, func.coalesce(ledger.c.total, 0))
        .select_from(voucher.outerjoin(ledger, ledger.c.voucher_id == voucher.c.id))
        .where((voucher.c.balance_fen != func.coalesce(ledger.c.total, 0)) | (voucher.c.balance_fen < 0))
        .order_by(voucher.c.id)
    ).all()
    problems += [f"voucher {v}: balance {b} fen, ledger sum {s} fen" for v, b, s in rows[:MAX_LISTED]]
    num_vouchers = session.execute(select(func.count()).select_from(voucher)).scalar_one()

    live = case((allocation.c.status == m.AllocationStatus.CANCELLED, 0), else_=allocation.c.subsidy_fen)
    held = select(allocation.c.request_id, live.label("held")).subquery()
    lines = (
        select(entry.c.request_id, func.sum(entry.c.amount_fen).label("net"))
        .where(entry.c.kind.in_(MONEY_KINDS), entry.c.request_id.is_not(None))
        .group_by(entry.c.request_id)
        .subquery()
    )
    per_request = session.execute(
        select(lines.c.request_id, lines.c.net, func.coalesce(held.c.held, 0))
        .select_from(lines.outerjoin(held, held.c.request_id == lines.c.request_id))
        .where(lines.c.net != -func.coalesce(held.c.held, 0))
        .order_by(lines.c.request_id)
    ).all()
    problems += [
        f"request {r}: its subsidy and refund lines net {n} fen, its live allocation holds {h} fen of subsidy"
        for r, n, h in per_request[:MAX_LISTED]
    ]

    live_fen = int(session.execute(select(func.coalesce(func.sum(live), 0))).scalar_one())
    paid_fen = subsidy_paid_fen(session)  # what the rounds' budget rule also counts
    budget = session.get(m.Programme, 1)
    budget_fen = budget.voucher_budget_fen if budget is not None else 0
    if live_fen != paid_fen:
        problems.append(f"live allocations hold {live_fen} fen of subsidy, the programme paid {paid_fen} fen")
    if paid_fen > budget_fen:
        problems.append(f"the programme paid {paid_fen} fen, over its budget of {budget_fen} fen")

    is_live = allocation.c.status != m.AllocationStatus.CANCELLED
    mismatched = session.execute(
        select(request.c.id, request.c.status, allocation.c.status)
        .select_from(request.outerjoin(allocation, allocation.c.request_id == request.c.id))
        .where(
            (is_live & request.c.status.not_in(HOLDING))
            | ((allocation.c.id.is_(None) | ~is_live) & request.c.status.in_(HOLDING))
        )
        .order_by(request.c.id)
    ).all()
    problems += [f"request {r} is {s} but its allocation is {a or 'missing'}" for r, s, a in mismatched[:MAX_LISTED]]
    counted = len(rows) + len(per_request) + len(mismatched) + (live_fen != paid_fen) + (paid_fen > budget_fen)
    return m.MoneyAudit(
        ok=not problems,
        num_problems=counted,
        problems=problems,
        vouchers_checked=num_vouchers,
        live_subsidy_fen=live_fen,
        subsidy_paid_fen=paid_fen,
        voucher_budget_fen=budget_fen,
    )
