"""Servers started at once on an empty database: one migrates and seeds, the others wait and find it ready."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from sqlmodel import Session, func, select

from api import models as m
from api.db import make_engine

ROOT = Path(__file__).resolve().parents[2]
PREPARE = """
import sys
from api.app import prepare_database
from api.db import make_engine
from api.settings import Settings
settings = Settings(database_url=sys.argv[1], seed_scenario=sys.argv[2], admin_token="pcs_test_admin_token")
engine = make_engine(settings.database_url)
prepare_database(engine, settings)
engine.dispose()
"""


@pytest.mark.slow
def test_three_servers_preparing_an_empty_database_at_once_migrate_and_seed_it_once(
    database_url: str, scenario: Path
) -> None:
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", PREPARE, database_url, str(scenario)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    outcomes = [(p.wait(timeout=120), p.communicate()[1]) for p in processes]
    assert [code for code, _ in outcomes] == [0, 0, 0], outcomes
    engine = make_engine(database_url)
    with Session(engine) as session:
        counts = {
            model.__name__: session.exec(select(func.count()).select_from(model)).one()
            for model in (m.Site, m.Pool, m.Org, m.Voucher, m.ComputeRequest, m.User, m.VoucherEntry)
        }
    engine.dispose()
    assert counts == {"Site": 2, "Pool": 2, "Org": 4, "Voucher": 2, "ComputeRequest": 2, "User": 1, "VoucherEntry": 2}
