"""Allocation rounds: trigger one now, list them with their KPIs, see each one's decisions."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Request, Response, status
from sqlmodel import col

from api import crud, rounds
from api import models as m
from api.deps import Admin, EngineDep, IntId, Limit, Reader, SessionDep, SettingsDep

router = APIRouter(prefix="/rounds", tags=["rounds"])


@router.post(
    "",
    response_model=m.RoundPublic,
    status_code=status.HTTP_202_ACCEPTED,
    summary="Start an allocation round now: 202 with the running round (poll GET /rounds/{id}); 409 if one runs",
)
def trigger(engine: EngineDep, settings: SettingsDep, admin: Admin, request: Request, response: Response) -> Any:
    try:
        lease = rounds.start_round(engine, settings, trigger="manual")
    except rounds.RoundBusy as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    request.app.state.background.submit_round(lease, admin.name)
    response.headers["Location"] = f"/rounds/{lease.record.id}"
    return lease.record


@router.get("", response_model=list[m.RoundPublic], summary="Rounds with their KPIs, newest first")
def list_rounds(session: SessionDep, _: Reader, limit: Limit = 100) -> Any:
    return crud.list_rows(session, m.AllocationRound, order=col(m.AllocationRound.id).desc(), limit=limit)


@router.get("/{round_id}", response_model=m.RoundPublic, summary="One round")
def get_round(round_id: IntId, session: SessionDep, _: Reader) -> Any:
    return crud.get_or_404(session, m.AllocationRound, round_id, "round")
