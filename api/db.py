"""Engines, sessions and migrations.

SQLite runs in WAL mode with a busy timeout; a *write* session there starts with ``BEGIN IMMEDIATE`` so that
a transaction that reads before it writes takes the write lock first and never fails half-way on a lock
upgrade, after queueing behind the writers of this process and of the others (several workers). On PostgreSQL a
write session is an ordinary transaction (row locks do the rest).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import DateTime, Table, event, make_url
from sqlalchemy.engine import Engine
from sqlalchemy.types import TypeDecorator
from sqlmodel import Session, SQLModel, create_engine

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
WRITE = {"pcs_write": True}


class UTCDateTime(TypeDecorator):
    """Aware datetimes in, aware UTC datetimes out, on every backend (SQLite keeps no offset)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("datetimes must carry a UTC offset")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


def table(model: type[SQLModel]) -> Table:
    """The Core table of a table model, for bulk statements that skip the ORM."""
    core: Table = model.__table__  # type: ignore[attr-defined]  # SQLModel's metaclass sets it; its stubs omit it
    return core


def create_private_sqlite_file(url: str) -> None:
    """Create the SQLite file of ``url`` empty and owner-only (0600) if it does not exist yet.

    SQLite would create it 0644 (under the usual umask): any local user could read organisations, vouchers,
    requests and the token hashes. SQLite gives the ``-wal`` and ``-shm`` files the permissions of the database
    file, so they follow. In-memory databases and URI filenames are left to SQLite, and so is a missing folder
    (SQLite names it at connect time, as before); an existing file keeps its mode.
    """
    parsed = make_url(url)
    database = parsed.database
    if not database or database == ":memory:" or parsed.query.get("uri") in ("true", "1"):
        return
    with contextlib.suppress(FileExistsError, FileNotFoundError):
        os.close(os.open(database, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))


def make_engine(url: str) -> Engine:
    """An engine for ``url``; SQLite gets WAL, a busy timeout, foreign keys and explicit transactions, and a
    database file readable by its owner only."""
    if not url.startswith("sqlite"):
        return create_engine(url, pool_size=10, max_overflow=20, pool_pre_ping=True)
    create_private_sqlite_file(url)
    # sessions outlive a thread-pool call, so connections are shared across threads (one at a time)
    engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, pool_size=20, max_overflow=40)

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we emit BEGIN ourselves (pysqlite's is too late)
        cursor = dbapi_connection.cursor()
        for pragma in ("journal_mode=WAL", "busy_timeout=30000", "foreign_keys=ON", "synchronous=NORMAL"):
            cursor.execute(f"PRAGMA {pragma}")
        cursor.close()

    # Writers queue before BEGIN IMMEDIATE: the threads of this process on a lock of its own, then the processes
    # (several uvicorn workers, a CLI) on an flock of a file beside the database. A writer left to SQLite's busy
    # handler sleeps in steps of up to 100 ms even when the lock is free again, which ruins tail latency; a
    # blocked flock wakes as soon as it is released. The busy timeout still orders any other writer.
    writers = threading.Lock()
    database = make_url(url).database
    lock_path = f"{database}-writers.lock" if database and database != ":memory:" else None

    @event.listens_for(engine, "begin")
    def _begin(conn: Any) -> None:
        if not conn.get_execution_options().get("pcs_write"):
            conn.exec_driver_sql("BEGIN")
            return
        writers.acquire()
        conn.info["pcs_writer"] = True
        try:
            if lock_path is not None:
                conn.info["pcs_writer_fd"] = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
                fcntl.flock(conn.info["pcs_writer_fd"], fcntl.LOCK_EX)
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        except BaseException:
            _end(conn)
            raise

    def _end(conn: Any) -> None:
        if (fd := conn.info.pop("pcs_writer_fd", None)) is not None:
            os.close(fd)  # and with it the flock
        if conn.info.pop("pcs_writer", False):
            writers.release()

    event.listen(engine, "commit", _end)
    event.listen(engine, "rollback", _end)
    return engine


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


@contextmanager
def write_session(engine: Engine) -> Iterator[Session]:
    """A session whose transaction takes the write lock at once (SQLite) and commits on success."""
    with Session(engine, expire_on_commit=False) as session:
        session.connection(execution_options=WRITE)
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


@contextmanager
def read_session(engine: Engine) -> Iterator[Session]:
    with Session(engine, expire_on_commit=False) as session:
        yield session


PREPARE_LOCK_KEY = 0x70637370  # "pcsp": the PostgreSQL advisory lock of preparing a database


@contextmanager
def preparing(engine: Engine) -> Iterator[None]:
    """Hold the database's preparation lock: servers started at once migrate and seed one after the other (the
    later ones then find the schema current and the data there). PostgreSQL: a session advisory lock on a
    connection of its own; a SQLite file: an flock of a file beside it; an in-memory database: nothing."""
    if engine.dialect.name == "postgresql":
        with engine.connect() as connection:
            connection.exec_driver_sql(f"SELECT pg_advisory_lock({PREPARE_LOCK_KEY})")
            connection.commit()
            try:
                yield
            finally:
                connection.exec_driver_sql(f"SELECT pg_advisory_unlock({PREPARE_LOCK_KEY})")
                connection.commit()
        return
    database = make_url(str(engine.url)).database
    if not database or database == ":memory:":
        yield
        return
    descriptor = os.open(f"{database}-prepare.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        yield
    finally:
        os.close(descriptor)  # and with it the flock


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest Alembic revision."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
