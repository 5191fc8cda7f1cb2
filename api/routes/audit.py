"""The audit log of every write (admins and auditors)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from api import crud
from api import models as m
from api.deps import Reader, SessionDep

router = APIRouter(prefix="/audit", tags=["audit"])


@router.get("", response_model=list[m.AuditPublic], summary="Audit log, newest first")
def audit_log(session: SessionDep, _: Reader, entity: str | None = None, limit: int = 500) -> Any:
    where = [m.AuditEntry.entity == entity] if entity else []
    return crud.list_rows(session, m.AuditEntry, *where, order=m.AuditEntry.id.desc(), limit=limit)
