"""SMEs' compute requests: submit (idempotent with ``Idempotency-Key``), list, read, cancel."""

from __future__ import annotations

import asyncio
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Header, Request, Response, status
from fastapi.security import HTTPAuthorizationCredentials
from sqlalchemy.exc import IntegrityError
from starlette.concurrency import run_in_threadpool

from api import crud, mapping
from api import models as m
from api.db import read_session, utcnow
from api.deps import (
    Credentials,
    CurrentUser,
    Limit,
    SessionDep,
    WriteSessionDep,
    authenticate,
    org_scope,
    submitting_org,
)
from scheduler import parse

router = APIRouter(prefix="/requests", tags=["requests"])


@router.post(
    "",
    response_model=m.RequestPublic,
    status_code=status.HTTP_201_CREATED,
    summary="Submit a request",
    responses={200: {"description": "the request this Idempotency-Key already created"}},
)
async def submit(
    body: m.RequestCreate,
    request: Request,
    response: Response,
    credentials: Credentials,
    idempotency_key: Annotated[str | None, Header(min_length=1, max_length=200)] = None,
) -> Any:
    # All the blocking checks in one call on the thread pool: each hop between the event loop and a worker thread
    # (a sync dependency, a sync route, validating a sync route's answer) costs about as much CPU as the checks.
    # The wait for the writer is awaited here, holding no thread: a writer stalled on the (SQLite) write lock
    # must not use up the threads that reads need.
    state = request.app.state
    earlier, row, org_id, actor = await run_in_threadpool(_check, state, credentials, body, idempotency_key)
    if earlier is not None:
        response.status_code = status.HTTP_200_OK
        return earlier
    assert row is not None  # _check answers with an earlier request or a new one
    values = row.model_dump() | {"idempotency_key": idempotency_key, "submitted_by": actor}
    try:
        await asyncio.wrap_future(state.submissions.enqueue(values, actor))
    except IntegrityError:
        if not idempotency_key:
            raise
        earlier = await run_in_threadpool(_earlier, state, org_id, idempotency_key, body)
        if earlier is None:
            raise
        response.status_code = status.HTTP_200_OK
        return earlier
    return row


def _earlier(state: Any, org_id: str, idempotency_key: str, body: m.RequestCreate) -> m.ComputeRequest | None:
    with read_session(state.engine) as session:
        earlier = crud.by_idempotency_key(session, org_id, idempotency_key)
    return None if earlier is None else _repeat(earlier, body)


def _check(
    state: Any, credentials: HTTPAuthorizationCredentials | None, body: m.RequestCreate, idempotency_key: str | None
) -> tuple[m.ComputeRequest | None, m.RequestPublic | None, str, str]:
    """(the request this Idempotency-Key already created, or None and the new request to store; the org; the
    submitting user's name)."""
    catalog = state.catalog.current()
    user = authenticate(catalog, credentials)
    org_id = submitting_org(user, body)
    # The checks read the cached catalogue, and the database only for an Idempotency-Key or a request id of the
    # client's own, outside the write transaction: writers hold the (SQLite) write lock only for the inserts,
    # and the unique keys settle any race between the checks and the inserts.
    if idempotency_key or body.request_id:
        with read_session(state.engine) as session:
            if idempotency_key and (earlier := crud.by_idempotency_key(session, org_id, idempotency_key)):
                return _repeat(earlier, body), None, org_id, user.name
            if body.request_id and session.get(m.ComputeRequest, body.request_id) is not None:
                # the same answer whoever's it is: an SME learns nothing about another organisation's ids
                raise crud.Conflict("request_id", "is not available; leave it out to have one generated")
    request_id = body.request_id or f"r-{uuid.uuid4().hex[:16]}"
    now = utcnow()
    problem = mapping.check_request(catalog, body, org_id, request_id, now)
    row = m.RequestPublic(
        **body.model_dump(exclude={"request_id", "org_id", "max_cost_cny"}),
        id=request_id,
        org_id=org_id,
        max_cost_fen=problem.requests[0].max_cost_fen,
        status=m.RequestStatus.PENDING,
        reason_code=None,
        reason=None,
        decided_round_id=None,
        created_at=now,
        updated_at=now,
    )
    return None, row, org_id, user.name


def _repeat(earlier: m.ComputeRequest, body: m.RequestCreate) -> m.ComputeRequest:
    """The request an ``Idempotency-Key`` created, if ``body`` asks for the same one (datetimes compared as
    instants, whatever their offsets); a key reused for another request is a conflict (Stripe's rule)."""
    mine = body.model_dump(include=set(m.RequestBase.model_fields))
    differ = sorted(name for name, value in mine.items() if getattr(earlier, name) != value)
    if body.request_id not in (None, earlier.id):
        differ.append("request_id")
    max_cost_fen = None if body.max_cost_cny is None else parse.cny_to_fen(str(body.max_cost_cny), "max_cost_cny")
    if earlier.max_cost_fen != max_cost_fen:
        differ.append("max_cost_cny")
    if differ:
        raise crud.Conflict(
            "Idempotency-Key",
            f"already used for request {earlier.id} with other values ({', '.join(differ)}); use a new key",
        )
    return earlier


@router.get("", response_model=list[m.RequestPublic], summary="List requests (an SME sees its own)")
def list_requests(
    session: SessionDep, user: CurrentUser, status: m.RequestStatus | None = None, limit: Limit = 1000
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
    row = crud.cancel_request(session, request_id, org_scope(user), user.name, utcnow())
    session.commit()
    return row
