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
from sqlmodel import Session, col, select

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
    table_versions: dict[str, int]
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
    return session.exec(select(m.PolicyVersion).order_by(col(m.PolicyVersion.id).desc()).limit(1)).first()


def lock_version(session: Session) -> int:
    """The catalogue version, its row locked until the transaction ends (PostgreSQL; SQLite's write transaction
    holds everything already): every catalogue change moves this row when it commits, so none can commit
    meanwhile. Take it after any row lock the transaction needs, as catalogue writers do."""
    query = select(m.CatalogVersion.version).where(m.CatalogVersion.id == 1).with_for_update()
    return session.exec(query).one()


TABLES = ("site", "pool", "maintenance", "org", "user", "voucher", "policyversion", "programme")
"""The catalogue's tables, each with its own counter ``v_<table>`` in ``catalog_version`` (migration 0004)."""


def load(session: Session, previous: Catalog | None = None) -> Catalog:
    """Read the catalogue in ``session``: its versions first, then the rows (each kind ordered by id) of the
    tables whose counter moved since ``previous`` (all of them without one); the others are ``previous``'s."""
    row = session.exec(select(m.CatalogVersion).where(m.CatalogVersion.id == 1)).one()
    versions = {table: getattr(row, f"v_{table}") for table in TABLES}

    def stale(table: str) -> bool:
        return previous is None or previous.table_versions[table] != versions[table]

    def maintenance() -> dict[str, tuple[m.Maintenance, ...]]:
        windows: dict[str, list[m.Maintenance]] = {}
        for window in session.exec(select(m.Maintenance).order_by(col(m.Maintenance.id))):
            windows.setdefault(window.pool_id, []).append(window)
        return {pool_id: tuple(each) for pool_id, each in windows.items()}

    readers = {
        "programme": ("programme", lambda: session.get(m.Programme, 1)),
        "policyversion": ("policy", lambda: latest_policy(session)),
        "site": ("sites", lambda: tuple(session.exec(select(m.Site).order_by(m.Site.id)))),
        "pool": ("pools", lambda: tuple(session.exec(select(m.Pool).order_by(m.Pool.id)))),
        "maintenance": ("maintenance", maintenance),
        "org": ("orgs", lambda: {o.id: o for o in session.exec(select(m.Org).order_by(m.Org.id))}),
        "voucher": ("vouchers", lambda: {v.id: v for v in session.exec(select(m.Voucher).order_by(m.Voucher.id))}),
        "user": ("users", lambda: {u.token_hash: u for u in session.exec(select(m.User))}),
    }
    fields: dict[str, Any] = {
        name: read() if stale(table) else getattr(previous, name) for table, (name, read) in readers.items()
    }
    return Catalog(version=row.version, table_versions=versions, **fields)


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
            fetched = cursor.fetchone()
            assert fetched is not None  # the one row of catalog_version (migration 0002)
            (wanted,) = fetched
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
                    catalog = self._catalog = load(own, catalog)
        return catalog
