"""FastAPI dependencies, as ``Annotated`` aliases: settings, engine, sessions, the catalogue, the current user and
roles."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Annotated

from fastapi import Depends, HTTPException, Path, Query, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.engine import Engine
from sqlmodel import Session

from api import crud
from api import models as m
from api.catalog import Catalog
from api.db import utcnow
from api.models.limits import MAX_ID, MAX_LIMIT
from api.settings import Settings

bearer = HTTPBearer(auto_error=False, description="an API token: `Authorization: Bearer pcs_...`")


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_engine(request: Request) -> Engine:
    return request.app.state.engine


# The session dependencies are async generators on purpose: their set-up and tear-down then run on the event
# loop, not in the thread pool. A sync one would need a second pool thread to tear down (roll back, return its
# connection) while other requests' threads wait for that very connection or SQLite write lock: a deadlock
# under load. Creating and closing a session does no blocking work worth a thread.
async def get_session(engine: Annotated[Engine, Depends(get_engine)]) -> AsyncIterator[Session]:
    session = Session(engine, expire_on_commit=False)
    try:
        yield session
    finally:
        session.close()


async def get_write_session(request: Request) -> AsyncIterator[Session]:
    """A session whose transaction, begun at its first statement inside the route, takes the write lock first
    (SQLite ``BEGIN IMMEDIATE``); routes commit, and anything uncommitted is rolled back at the end."""
    session = Session(request.app.state.write_engine, expire_on_commit=False)
    try:
        yield session
    finally:
        session.close()


SettingsDep = Annotated[Settings, Depends(get_settings)]
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="at most this many rows")]
IntId = Annotated[int, Path(ge=1, le=MAX_ID)]
OptionalIntId = Annotated[int | None, Query(ge=1, le=MAX_ID)]
EngineDep = Annotated[Engine, Depends(get_engine)]
SessionDep = Annotated[Session, Depends(get_session)]
WriteSessionDep = Annotated[Session, Depends(get_write_session)]


def get_catalog(request: Request) -> Catalog:
    """The process's cached catalogue, checked against the database's catalogue version (one read)."""
    return request.app.state.catalog.current()


CatalogDep = Annotated[Catalog, Depends(get_catalog)]
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]


def authenticate(catalog: Catalog, credentials: HTTPAuthorizationCredentials | None) -> m.User:
    """The user whose token ``credentials`` carry (401 when there is none or it is unknown)."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED, "missing bearer token", headers={"WWW-Authenticate": "Bearer"}
        )
    user = catalog.user(credentials.credentials)
    if user is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "invalid token", headers={"WWW-Authenticate": "Bearer"})
    if user.token_expires_at is not None and user.token_expires_at <= utcnow():
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "token expired: an administrator issues a new one (POST /users/{id}/token)",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return user


# async, like ``require``'s check: they only look into the cached catalogue, which needs no thread of the pool
async def get_current_user(catalog: CatalogDep, credentials: Credentials) -> m.User:
    return authenticate(catalog, credentials)


CurrentUser = Annotated[m.User, Depends(get_current_user)]


def require(*roles: m.Role) -> Callable[[m.User], Awaitable[m.User]]:
    """A dependency that lets only ``roles`` through (403 for the others)."""

    async def check(user: CurrentUser) -> m.User:
        if user.role not in roles:
            allowed = " or ".join(r.value for r in roles)
            raise HTTPException(status.HTTP_403_FORBIDDEN, f"this needs the role {allowed}; you are {user.role.value}")
        return user

    return check


Admin = Annotated[m.User, Depends(require(m.Role.ADMIN))]
Reader = Annotated[m.User, Depends(require(m.Role.ADMIN, m.Role.AUDITOR))]


def org_scope(user: m.User) -> str | None:
    """The only organisation an SME may see; ``None`` (everything) for admins and auditors."""
    return user.org_id if user.role is m.Role.SME else None


def submitting_org(user: m.User, body: m.RequestCreate) -> str:
    """The organisation a request or quote is for: an SME's own; the one an administrator names."""
    if user.role is m.Role.SME:
        if body.org_id not in (None, user.org_id):
            raise crud.NotFound("org", body.org_id)
        return str(user.org_id)
    if user.role is m.Role.AUDITOR:
        raise crud.Forbidden("auditors have read-only access")
    if body.org_id is None:
        raise crud.Conflict("org_id", "an administrator must name the organisation")
    return body.org_id
