"""The catalogue cache: the rows that checking a token or a submission reads (sites, pools and their maintenance,
organisations, vouchers, users, the policy in force and the programme), loaded once per catalogue version.

Database triggers raise the one row of ``catalog_version`` on every write to those tables, whatever process or
code path writes (migration 0002). So a request reads one integer, and the process reloads the rows only when it
moved: a change an administrator makes through any server process holds for the very next request everywhere.
The version is read before the rows, so a loaded catalogue is never older than its version says (at worst newer,
and then reloaded once more for nothing).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from api import models as m
from api.auth import hash_token

VERSION_SQL = "SELECT version FROM catalog_version WHERE id = 1"


@dataclass(frozen=True)
class Catalog:
    """The catalogue as of ``version``: detached rows, shared read-only by every request of the process.

    Attributes
    ----------
    derived
        Objects computed from the rows (the core's pools of one horizon, ...), filled by :mod:`api.mapping`.
    """

    version: int
    programme: m.Programme | None
    policy: m.PolicyVersion | None
    sites: tuple[m.Site, ...]
    pools: tuple[m.Pool, ...]
    maintenance: dict[str, tuple[m.Maintenance, ...]]
    orgs: dict[str, m.Org]
    vouchers: dict[str, m.Voucher]
    users: dict[str, m.User]  # by token hash
    derived: dict[Any, Any] = field(default_factory=dict)

    def user(self, token: str) -> m.User | None:
        return self.users.get(hash_token(token))


def latest_policy(session: Session) -> m.PolicyVersion | None:
    return session.exec(select(m.PolicyVersion).order_by(m.PolicyVersion.id.desc()).limit(1)).first()


def stored_version(session: Session) -> int:
    return session.exec(select(m.CatalogVersion.version).where(m.CatalogVersion.id == 1)).one()


def lock_version(session: Session) -> int:
    """The catalogue version, its row locked until the transaction ends (PostgreSQL; SQLite's write transaction
    holds everything already): every catalogue change moves this row when it commits, so none can commit
    meanwhile. Take it after any row lock the transaction needs, as catalogue writers do."""
    query = select(m.CatalogVersion.version).where(m.CatalogVersion.id == 1).with_for_update()
    return session.exec(query).one()


def load(session: Session) -> Catalog:
    """Read the catalogue in ``session``: its version first, then the rows (each kind ordered by id)."""
    number = stored_version(session)
    maintenance: dict[str, list[m.Maintenance]] = {}
    for window in session.exec(select(m.Maintenance).order_by(m.Maintenance.id)):
        maintenance.setdefault(window.pool_id, []).append(window)
    return Catalog(
        version=number,
        programme=session.get(m.Programme, 1),
        policy=latest_policy(session),
        sites=tuple(session.exec(select(m.Site).order_by(m.Site.id))),
        pools=tuple(session.exec(select(m.Pool).order_by(m.Pool.id))),
        maintenance={pool_id: tuple(windows) for pool_id, windows in maintenance.items()},
        orgs={o.id: o for o in session.exec(select(m.Org).order_by(m.Org.id))},
        vouchers={v.id: v for v in session.exec(select(m.Voucher).order_by(m.Voucher.id))},
        users={u.token_hash: u for u in session.exec(select(m.User))},
    )


class CatalogCache:
    """The process's current :class:`Catalog`; one thread reloads it while the others wait for the result."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._catalog: Catalog | None = None
        self._lock = threading.Lock()

    def current(self) -> Catalog:
        """The catalogue at (or after) the database's version, reading one row when nothing changed."""
        # a bare DBAPI cursor: an ORM session costs ten times the read itself, on every request
        raw = self._engine.raw_connection()
        try:
            cursor = raw.cursor()
            cursor.execute(VERSION_SQL)
            (wanted,) = cursor.fetchone()
            cursor.close()
        finally:
            raw.close()
        catalog = self._catalog
        if catalog is not None and catalog.version >= wanted:
            return catalog
        with self._lock:
            catalog = self._catalog
            if catalog is None or catalog.version < wanted:
                with Session(self._engine) as own:  # closing it detaches the rows
                    catalog = self._catalog = load(own)
        return catalog
