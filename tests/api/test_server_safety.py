"""What the server leaves on disk and in its logs: an owner-only SQLite database, no password in the start-up
line, and timestamped ``pcs.*`` log lines on stderr once ``python -m api`` has started."""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.__main__ import masked_url
from api.app import create_app
from api.db import create_private_sqlite_file
from api.settings import Settings
from tests.api.tiny import ADMIN, ADMIN_TOKEN

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def usual_umask() -> Iterator[None]:
    """The common 022 umask, under which SQLite alone creates its files world-readable (0644)."""
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_sqlite_files_of_the_app_are_owner_only(usual_umask: None, tmp_path: Path, scenario: Path) -> None:
    database = tmp_path / "pcs.db"
    settings = Settings(
        database_url=f"sqlite:///{database}", run_rounds=False, seed_scenario=str(scenario), admin_token=ADMIN_TOKEN
    )
    with TestClient(create_app(settings)) as client:
        response = client.post("/users", headers=ADMIN, json={"name": "ann", "role": "auditor"})
        assert response.status_code == 201, response.text  # a write: the writers' lock file exists now
        files = [database, *(tmp_path / f"pcs.db{suffix}" for suffix in ("-wal", "-shm", "-writers.lock"))]
        assert {f.name: mode(f) for f in files} == {f.name: 0o600 for f in files}


def test_private_file_helper_leaves_existing_files_and_memory_alone(usual_umask: None, tmp_path: Path) -> None:
    existing = tmp_path / "old.db"
    existing.write_bytes(b"")
    existing.chmod(0o640)
    create_private_sqlite_file(f"sqlite:///{existing}")
    assert mode(existing) == 0o640
    create_private_sqlite_file(f"sqlite:///{tmp_path / 'new.db'}")
    assert mode(tmp_path / "new.db") == 0o600
    for url in ("sqlite://", "sqlite:///:memory:", f"sqlite:///{tmp_path / 'missing' / 'x.db'}"):
        create_private_sqlite_file(url)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["new.db", "old.db"]


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql+psycopg://pcs:s3cret@db.example:5432/pcs", "postgresql+psycopg://pcs:***@db.example:5432/pcs"),
        ("postgresql://pcs:p%40ss%2Fw0rd@db/pcs?sslmode=require", "postgresql://pcs:***@db/pcs?sslmode=require"),
        ("postgresql://pcs@db/pcs", "postgresql://pcs@db/pcs"),
        ("sqlite:///pcs.db", "sqlite:///pcs.db"),
        ("not a url with s3cret", "(a database URL that cannot be parsed)"),
    ],
)
def test_masked_url_hides_the_password(url: str, shown: str) -> None:
    assert masked_url(url) == shown


# python -m api up to uvicorn: what it prints and how it logs, with the app and uvicorn.run stubbed out
START = """
import logging
import api.__main__ as entry

assert not logging.getLogger("pcs").handlers, "logging configured at import time"
entry.create_app = lambda settings: None
entry.freeze_startup_objects = lambda: None

def run(app, **options):
    assert "pcs" in options["log_config"]["loggers"], "uvicorn (and its workers) not given the pcs loggers"
    logging.getLogger("pcs.rounds").info("round skipped: busy")
    logging.getLogger("pcs.rounds").debug("not shown at info")

entry.uvicorn.run = run
entry.main()
"""


def test_start_line_masks_the_password_and_pcs_loggers_print_with_a_timestamp(tmp_path: Path) -> None:
    environment = os.environ | {"PCS_DATABASE_URL": "postgresql+psycopg://pcs:s3cret@db.example/pcs"}
    environment.pop("PCS_LOG_LEVEL", None)
    done = subprocess.run(
        [sys.executable, "-c", START], cwd=ROOT, env=environment, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert "s3cret" not in done.stdout + done.stderr
    assert "database postgresql+psycopg://pcs:***@db.example/pcs" in done.stdout
    lines = [line for line in done.stderr.splitlines() if "pcs.rounds" in line]
    assert len(lines) == 1, done.stderr
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} INFO pcs\.rounds: round skipped: busy", lines[0])
