"""The policy (versioned: a change is a new version) and the programme's budget and reward rules."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, status

from api import crud
from api import models as m
from api.catalog import latest_policy, lock_version
from api.deps import Admin, CurrentUser, SessionDep, WriteSessionDep

router = APIRouter(tags=["policy"])


@router.get("/policy", response_model=m.PolicyPublic, summary="The policy in force")
def current(session: SessionDep, _: CurrentUser) -> Any:
    policy = latest_policy(session)
    if policy is None:
        raise crud.NotFound("policy", "current")
    return policy


@router.get("/policy/versions", response_model=list[m.PolicyPublic], summary="Every policy version")
def versions(session: SessionDep, _: CurrentUser) -> Any:
    return crud.list_rows(session, m.PolicyVersion)


@router.post(
    "/policy", response_model=m.PolicyPublic, status_code=status.HTTP_201_CREATED, summary="Put a new policy in force"
)
def new_version(body: m.PolicyCreate, session: WriteSessionDep, admin: Admin) -> Any:
    row = crud.create(session, m.PolicyVersion(**body.model_dump(), created_by=admin.name), admin.name, "policy")
    session.commit()
    return row


def _programme_public(session: SessionDep, row: m.Programme) -> m.ProgrammePublic:
    paid = crud.subsidy_paid_fen(session)
    return m.ProgrammePublic(**row.model_dump(), subsidy_paid_fen=paid, budget_left_fen=row.voucher_budget_fen - paid)


@router.get("/programme", response_model=m.ProgrammePublic, summary="The programme: budget, rewards, horizon")
def programme(session: SessionDep, _: CurrentUser) -> Any:
    return _programme_public(session, crud.get_or_404(session, m.Programme, 1, "programme"))


@router.patch("/programme", response_model=m.ProgrammePublic, summary="Change the budget or reward rules")
def change_programme(body: m.ProgrammeUpdate, session: WriteSessionDep, admin: Admin) -> Any:
    lock_version(session)  # no round commits subsidies until this commits, so what is paid stays put
    row = crud.get_or_404(session, m.Programme, 1, "programme")
    changes = body.model_dump(exclude_unset=True)
    paid = crud.subsidy_paid_fen(session)
    if changes.get("voucher_budget_fen", paid) < paid:
        raise crud.Conflict("voucher_budget_fen", f"must be at least the {paid} fen the programme has already paid")
    crud.patch(session, row, changes, admin.name, "programme")
    session.commit()
    return _programme_public(session, row)
