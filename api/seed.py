"""Seeding an empty database from a scenario file, and the first administrator's token."""

from __future__ import annotations

from sqlalchemy.engine import Engine
from sqlmodel import select

from api import crud, mapping
from api import models as m
from api.auth import hash_token, new_token
from api.db import write_session


def seed_from_scenario(engine: Engine, path: str) -> bool:
    """Load ``path`` into an empty database (no programme yet); returns whether it did."""
    with write_session(engine) as session:
        if session.get(m.Programme, 1) is not None:
            return False
        crud.add_in_order(session, mapping.scenario_rows(mapping.load_scenario(path)))
        crud.audit(session, "seed", "seed", "programme", 1, {"scenario": str(path)})
    return True


def ensure_admin(engine: Engine, token: str = "") -> str | None:
    """Make sure user ``admin`` exists. With ``token`` it becomes (or stays) admin's token; without, a new
    admin gets a fresh token, returned once. Returns ``None`` when an admin exists and no token was given."""
    with write_session(engine) as session:
        admin = session.exec(select(m.User).where(m.User.name == "admin")).first()
        if admin is not None and not token:
            return None
        token = token or new_token()
        if admin is None:
            admin = m.User(name="admin", role=m.Role.ADMIN, token_hash=hash_token(token))
            session.add(admin)
            crud.audit(session, "seed", "create", "user", "admin", {"role": "admin"})
        elif admin.token_hash != hash_token(token):
            admin.token_hash = hash_token(token)
            session.add(admin)
            crud.audit(session, "seed", "rotate_token", "user", "admin")
    return token
