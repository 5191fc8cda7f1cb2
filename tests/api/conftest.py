"""Fixtures of the API suite: every test runs against SQLite and, when ``PCS_TEST_DATABASE_URL`` is set
(CI sets it), against PostgreSQL too, each in a schema of its own that is dropped afterwards."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from api.app import create_app
from api.settings import Settings
from tests.api.tiny import ADMIN_TOKEN, write_tiny_scenario

PG_ENV = "PCS_TEST_DATABASE_URL"


def _pg_schema_url(base: str, schema: str) -> str:
    joiner = "&" if "?" in base else "?"
    return f"{base}{joiner}options=-csearch_path%3D{schema}"


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database: a SQLite file, or a PostgreSQL schema of its own (dropped afterwards)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'pcs.db'}"
        return
    base = os.environ.get(PG_ENV)
    if not base:
        pytest.skip(f"{PG_ENV} is not set (CI sets it)")
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
    )


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as test_client:
        yield test_client


@pytest.fixture
def engine(client: TestClient) -> Any:
    return client.app.state.engine
