"""The audit log of every write (admins and auditors)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from sqlmodel import col

from api import crud, reconcile
from api import models as m
from api.deps import Limit, Reader, SessionDep

router = APIRouter(prefix="/audit", tags=["audit"])


@router.get("", response_model=list[m.AuditPublic], summary="Audit log, newest first")
def audit_log(
    session: SessionDep, _: Reader, entity: Annotated[str | None, Query(max_length=32)] = None, limit: Limit = 500
) -> Any:
    where = [m.AuditEntry.entity == entity] if entity else []
    return crud.list_rows(session, m.AuditEntry, *where, order=col(m.AuditEntry.id).desc(), limit=limit)


@router.get(
    "/money",
    response_model=m.MoneyAudit,
    summary="Reconcile the money: voucher balances against ledgers, live subsidy against paid and budget",
)
def audit_money(session: SessionDep, _: Reader) -> Any:
    return reconcile.reconcile(session)
