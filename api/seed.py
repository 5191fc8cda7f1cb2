"""Seeding an empty database from a scenario file, and the first administrator's token."""

from __future__ import annotations

import logging

from sqlalchemy.engine import Engine
from sqlmodel import select

from api import crud, mapping
from api import models as m
from api.auth import hash_token, new_token
from api.db import utcnow, write_session

log = logging.getLogger("pcs.seed")


def seed_from_scenario(engine: Engine, path: str) -> bool:
    """Load ``path`` into an empty database (no programme yet); returns whether it did."""
    with write_session(engine) as session:
        if session.get(m.Programme, 1) is not None:
            return False
        crud.add_in_order(session, mapping.scenario_rows(mapping.load_scenario(path)))
        crud.audit(session, "seed", "seed", "programme", 1, {"scenario": str(path)})
    return True


def ensure_admin(engine: Engine, token: str = "", ttl_days: float = 0.0) -> str | None:
    """Make sure user ``admin`` exists: a new one gets ``token`` (``PCS_ADMIN_TOKEN``) or a fresh token, returned
    once. An existing admin keeps its token: a restart never undoes a rotation made through the API (a ``token``
    that differs is ignored, with a warning). Returns ``None`` when the admin already existed."""
    with write_session(engine) as session:
        admin = session.exec(select(m.User).where(m.User.name == "admin")).first()
        if admin is not None:
            if token and admin.token_hash != hash_token(token):
                log.warning("PCS_ADMIN_TOKEN is ignored: user admin exists and has another token (rotated?)")
            return None
        token = token or new_token()
        expires = m.token_expiry(utcnow(), ttl_days)
        session.add(m.User(name="admin", role=m.Role.ADMIN, token_hash=hash_token(token), token_expires_at=expires))
        crud.audit(session, "seed", "create", "user", "admin", {"role": "admin"})
    return token
