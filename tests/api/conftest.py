"""Fixtures of the API suite: every test runs against SQLite and against PostgreSQL too, each in a schema of its
own that is dropped afterwards. The PostgreSQL server is ``PCS_TEST_DATABASE_URL`` (CI sets it) or else the local
one when it answers (``tests/conftest.py``); without one those variants are skipped and the run's summary says so."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from api.app import create_app
from api.settings import Settings
from tests.api.tiny import ADMIN_TOKEN, ROUND_AFTER_THE_HORIZON, write_tiny_scenario


def _pg_schema_url(base: str, schema: str) -> str:
    joiner = "&" if "?" in base else "?"
    return f"{base}{joiner}options=-csearch_path%3D{schema}"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database: a SQLite file, or a PostgreSQL schema of its own (dropped afterwards)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'pcs.db'}"
        return
    base = request.getfixturevalue("postgres_url")
    schema = f"pcs_test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.exec_driver_sql(f"CREATE SCHEMA {schema}")
    try:
        yield _pg_schema_url(base, schema)
    finally:
        with admin.connect() as connection:
            connection.exec_driver_sql(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        admin.dispose()


@pytest.fixture
def scenario(tmp_path: Path) -> Path:
    return write_tiny_scenario(tmp_path / "scenario")


@pytest.fixture
def settings(database_url: str, scenario: Path) -> Settings:
    return Settings(
        database_url=database_url,
        run_rounds=False,
        seed_scenario=str(scenario),
        admin_token=ADMIN_TOKEN,
        round_time_limit_s=2.0,
        round_workers=1,
        round_minutes=ROUND_AFTER_THE_HORIZON,
    )


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as test_client:
        yield test_client


@pytest.fixture
def engine(client: TestClient) -> Any:
    return client.app.state.engine
