"""Compute vouchers: balance and ledger (an SME sees its own), admin issue, change and adjustments."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, status

from api import crud
from api import models as m
from api.deps import Admin, CurrentUser, SessionDep, WriteSessionDep, org_scope

router = APIRouter(prefix="/vouchers", tags=["vouchers"])


def _visible(session: SessionDep, voucher_id: str, user: m.User) -> m.Voucher:
    voucher = crud.get_or_404(session, m.Voucher, voucher_id, "voucher")
    if (org := org_scope(user)) is not None and voucher.org_id != org:
        raise crud.NotFound("voucher", voucher_id)
    return voucher


@router.get("", response_model=list[m.VoucherPublic], summary="List vouchers (an SME sees its own)")
def list_vouchers(session: SessionDep, user: CurrentUser) -> Any:
    org = org_scope(user)
    return crud.list_rows(session, m.Voucher, *([m.Voucher.org_id == org] if org is not None else []))


@router.get("/{voucher_id}", response_model=m.VoucherBalance, summary="A voucher's balance and ledger")
def get_voucher(voucher_id: str, session: SessionDep, user: CurrentUser) -> Any:
    voucher = _visible(session, voucher_id, user)
    entries = crud.ledger(session, voucher_id)
    return m.VoucherBalance(
        voucher=m.VoucherPublic.model_validate(voucher),
        ledger_sum_fen=sum(e.amount_fen for e in entries),
        entries=[m.VoucherEntryPublic.model_validate(e) for e in entries],
    )


@router.get("/{voucher_id}/ledger", response_model=list[m.VoucherEntryPublic], summary="A voucher's ledger")
def get_ledger(voucher_id: str, session: SessionDep, user: CurrentUser) -> Any:
    _visible(session, voucher_id, user)
    return crud.ledger(session, voucher_id)


@router.post("", response_model=m.VoucherPublic, status_code=status.HTTP_201_CREATED, summary="Issue a voucher")
def issue(body: m.VoucherCreate, session: WriteSessionDep, admin: Admin) -> Any:
    crud.get_or_404(session, m.Org, body.org_id, "org")
    row = crud.create(
        session, m.Voucher(**body.model_dump(exclude={"balance_fen"}), balance_fen=0), admin.name, "voucher"
    )
    if body.balance_fen:
        crud.post_entry(session, row.id, body.balance_fen, m.EntryKind.ISSUE, admin.name, note="opening balance")
    session.commit()
    return row


@router.patch("/{voucher_id}", response_model=m.VoucherPublic, summary="Change a voucher's ratio or validity")
def change(voucher_id: str, body: m.VoucherUpdate, session: WriteSessionDep, admin: Admin) -> Any:
    row = crud.get_or_404(session, m.Voucher, voucher_id, "voucher")
    changes = body.model_dump(exclude_unset=True)
    merged = m.VoucherCreate.model_validate({**row.model_dump(), **changes})  # checks the validity order
    crud.patch(session, row, {k: getattr(merged, k) for k in changes}, admin.name, "voucher")
    session.commit()
    return row


@router.post(
    "/{voucher_id}/adjustments",
    response_model=m.VoucherEntryPublic,
    status_code=status.HTTP_201_CREATED,
    summary="Credit (> 0) or debit (< 0) a voucher; a debit never overspends it",
)
def adjust(voucher_id: str, body: m.AdjustmentCreate, session: WriteSessionDep, admin: Admin) -> Any:
    entry = crud.post_entry(session, voucher_id, body.amount_fen, m.EntryKind.ADJUSTMENT, admin.name, note=body.note)
    crud.audit(session, admin.name, "adjust", "voucher", voucher_id, {"amount_fen": body.amount_fen})
    session.commit()
    return entry
