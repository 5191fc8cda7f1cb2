"""Users and their API tokens (admins only). A token is shown once; only its hash is stored."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, status
from sqlmodel import select

from api import crud
from api import models as m
from api.auth import hash_token, new_token
from api.db import utcnow
from api.deps import Admin, CurrentUser, IntId, SessionDep, SettingsDep, WriteSessionDep

router = APIRouter(prefix="/users", tags=["users"])


@router.get("/me", response_model=m.UserPublic, summary="Who am I")
def me(user: CurrentUser) -> Any:
    return user


@router.get("", response_model=list[m.UserPublic], summary="List users")
def list_users(session: SessionDep, _: Admin) -> Any:
    return crud.list_rows(session, m.User)


@router.post("", response_model=m.UserWithToken, status_code=status.HTTP_201_CREATED, summary="Create a user")
def create_user(body: m.UserCreate, session: WriteSessionDep, admin: Admin, settings: SettingsDep) -> Any:
    if body.org_id is not None:
        crud.get_or_404(session, m.Org, body.org_id, "org")
    token = new_token()
    expires = m.token_expiry(utcnow(), settings.token_ttl_days)
    row = m.User(
        name=body.name, role=body.role, org_id=body.org_id, token_hash=hash_token(token), token_expires_at=expires
    )
    session.add(row)
    session.flush()
    crud.audit(session, admin.name, "create", "user", row.id, {"name": row.name, "role": row.role.value})
    session.commit()
    return m.UserWithToken(**row.model_dump(exclude={"token_hash"}), token=token)


@router.post("/{user_id}/token", response_model=m.UserWithToken, summary="Issue a new token (the old one stops)")
def rotate_token(user_id: IntId, session: WriteSessionDep, admin: Admin, settings: SettingsDep) -> Any:
    row = crud.get_or_404(session, m.User, user_id, "user")
    token = new_token()
    row.token_hash, row.token_expires_at = hash_token(token), m.token_expiry(utcnow(), settings.token_ttl_days)
    session.add(row)
    crud.audit(session, admin.name, "rotate_token", "user", user_id)
    session.commit()
    return m.UserWithToken(**row.model_dump(exclude={"token_hash"}), token=token)


@router.delete("/{user_id}", status_code=status.HTTP_204_NO_CONTENT, summary="Delete a user")
def delete_user(user_id: IntId, session: WriteSessionDep, admin: Admin) -> None:
    row = crud.get_or_404(session, m.User, user_id, "user")
    if row.role is m.Role.ADMIN:
        # every admin row locked: two admins deleting each other at once cannot both pass
        admins = session.exec(select(m.User.id).where(m.User.role == m.Role.ADMIN).with_for_update()).all()
        if len(admins) <= 1:
            raise crud.Conflict("user_id", "the last administrator cannot be deleted; create another first")
    session.delete(row)
    crud.audit(session, admin.name, "delete", "user", user_id, {"name": row.name})
    session.commit()
