"""SMEs' compute requests: submit (idempotent with ``Idempotency-Key``), list, read, cancel."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Header, Response, status
from sqlalchemy.exc import IntegrityError

from api import crud, mapping
from api import models as m
from api.db import utcnow
from api.deps import CurrentUser, SessionDep, WriteSessionDep, org_scope

router = APIRouter(prefix="/requests", tags=["requests"])


def submitting_org(user: m.User, body: m.RequestCreate) -> str:
    """An SME submits for its own organisation; an administrator names one."""
    if user.role is m.Role.SME:
        if body.org_id not in (None, user.org_id):
            raise crud.NotFound("org", body.org_id)
        return str(user.org_id)
    if user.role is m.Role.AUDITOR:
        raise crud.Forbidden("auditors have read-only access")
    if body.org_id is None:
        raise crud.Conflict("org_id", "an administrator must name the organisation")
    return body.org_id


@router.post(
    "",
    response_model=m.RequestPublic,
    status_code=status.HTTP_201_CREATED,
    summary="Submit a request",
    responses={200: {"description": "the request this Idempotency-Key already created"}},
)
def submit(
    body: m.RequestCreate,
    session: SessionDep,
    write: WriteSessionDep,
    user: CurrentUser,
    response: Response,
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
) -> Any:
    # the checks read outside the write transaction, so that writers hold the (SQLite) write lock only for
    # the insert; the unique keys settle any race between the check and the insert
    org_id = submitting_org(user, body)
    if idempotency_key and (earlier := crud.by_idempotency_key(session, org_id, idempotency_key)):
        response.status_code = status.HTTP_200_OK
        return earlier
    request_id = body.request_id or f"r-{uuid.uuid4().hex[:16]}"
    if session.get(m.ComputeRequest, request_id) is not None:
        raise crud.Conflict("request_id", f"request {request_id!r} already exists")
    problem = mapping.check_request(session, body, org_id, request_id, utcnow())
    session.rollback()
    row = m.ComputeRequest(
        id=request_id,
        org_id=org_id,
        max_cost_fen=problem.requests[0].max_cost_fen,
        idempotency_key=idempotency_key,
        submitted_by=user.name,
        **body.model_dump(exclude={"request_id", "org_id", "max_cost_cny"}),
    )
    write.add(row)
    crud.audit(write, user.name, "create", "request", request_id, {"org_id": org_id})
    try:
        write.commit()
    except IntegrityError:
        write.rollback()
        earlier = crud.by_idempotency_key(session, org_id, idempotency_key) if idempotency_key else None
        if earlier is None:
            raise
        response.status_code = status.HTTP_200_OK
        return earlier
    return row


@router.get("", response_model=list[m.RequestPublic], summary="List requests (an SME sees its own)")
def list_requests(
    session: SessionDep, user: CurrentUser, status: m.RequestStatus | None = None, limit: int = 1000
) -> Any:
    where = []
    if (org := org_scope(user)) is not None:
        where.append(m.ComputeRequest.org_id == org)
    if status is not None:
        where.append(m.ComputeRequest.status == status)
    return crud.list_rows(session, m.ComputeRequest, *where, order=m.ComputeRequest.created_at, limit=limit)


@router.get("/{request_id}", response_model=m.RequestPublic, summary="Get a request")
def get_request(request_id: str, session: SessionDep, user: CurrentUser) -> Any:
    return crud.visible_request(session, request_id, org_scope(user))


@router.post("/{request_id}/cancel", response_model=m.RequestPublic, summary="Cancel a request")
def cancel(request_id: str, session: WriteSessionDep, user: CurrentUser) -> Any:
    if user.role is m.Role.AUDITOR:
        raise crud.Forbidden("auditors have read-only access")
    row = crud.visible_request(session, request_id, org_scope(user))
    crud.cancel_request(session, row, user.name, utcnow())
    session.commit()
    return row
