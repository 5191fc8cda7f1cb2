"""Decisions: each request's allocation, or the reason sentence why it has none."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from sqlmodel import Session, col, select

from api import crud
from api import models as m
from api.deps import CurrentUser, OptionalIntId, SessionDep, org_scope

router = APIRouter(prefix="/allocations", tags=["allocations"])


def _public(a: m.Allocation) -> m.AllocationPublic:
    return m.AllocationPublic(**a.model_dump(), out_of_pocket_fen=a.cost_fen - a.subsidy_fen)


def _decision(request: m.ComputeRequest, allocation: m.Allocation | None) -> m.Decision:
    return m.Decision(
        request_id=request.id,
        org_id=request.org_id,
        status=request.status,
        allocation=None if allocation is None else _public(allocation),
        reason_code=request.reason_code,
        reason=request.reason,
    )


def decisions(session: Session, org_id: str | None, round_id: int | None = None) -> list[m.Decision]:
    query = select(m.ComputeRequest, m.Allocation).join(
        m.Allocation, col(m.Allocation.request_id) == m.ComputeRequest.id, isouter=True
    )
    if org_id is not None:
        query = query.where(m.ComputeRequest.org_id == org_id)
    if round_id is not None:
        query = query.where(m.ComputeRequest.decided_round_id == round_id)
    rows = session.exec(query.order_by(col(m.ComputeRequest.created_at), col(m.ComputeRequest.id))).all()
    return [_decision(request, allocation) for request, allocation in rows]


@router.get("", response_model=list[m.Decision], summary="Every request's allocation or reason (SMEs: their own)")
def list_decisions(session: SessionDep, user: CurrentUser, round_id: OptionalIntId = None) -> Any:
    return decisions(session, org_scope(user), round_id)


@router.get("/{request_id}", response_model=m.Decision, summary="One request's allocation or reason")
def get_decision(request_id: str, session: SessionDep, user: CurrentUser) -> Any:
    request = crud.visible_request(session, request_id, org_scope(user))
    return _decision(request, crud.allocation_of(session, request_id))
