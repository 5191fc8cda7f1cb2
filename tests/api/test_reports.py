"""Administrators' reports (CSV, Excel, Parquet), what-if jobs on a copy, and scenario CSV imports."""

from __future__ import annotations

import io
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pandas as pd
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from api import seed
from api.reports import COLUMNS
from tests.api.test_rounds import state
from tests.api.tiny import ADMIN, SLOTS, at, make_user, request_body, run_round_now

READERS = {
    "csv": pd.read_csv,
    "xlsx": lambda data: pd.read_excel(data, engine="openpyxl"),
    "parquet": pd.read_parquet,
}


@pytest.mark.parametrize("fmt", sorted(READERS))
def test_utilisation_report_exports_read_back(client: TestClient, fmt: str) -> None:
    assert run_round_now(client)["placed"] == 2
    response = client.get(f"/reports/utilisation?format={fmt}", headers=ADMIN)
    assert response.status_code == 200
    frame = READERS[fmt](io.BytesIO(response.content))
    assert list(frame.columns) == COLUMNS
    assert set(frame["pool_id"]) == {"p-a800", "p-910b"}
    assert len(frame) == 2 * frame["day"].nunique()
    # capacity: 16 A800 x 48 h less 8 x 4 h of maintenance; 32 910B x 48 h
    capacity = frame.groupby("pool_id")["capacity_acc_h"].sum()
    assert capacity["p-a800"] == 16 * SLOTS - 8 * 4 and capacity["p-910b"] == 32 * SLOTS
    # seed-big: 8 large-firm accelerators x 6 h on A800 (or 8 h on 910B); seed-b: 4 SME 910B x 7 h
    used = frame[[c for c in COLUMNS if c.startswith("used_acc_h_")]].sum()
    assert used["used_acc_h_sme"] == 4 * 7 and used["used_acc_h_large"] in (8 * 6, 8 * 8)
    assert frame["used_acc_h"].sum() == used.sum()
    assert frame["subsidy_cny"].sum() == pytest.approx(4 * 7 * 3.0 * 0.45, abs=0.05)
    assert (frame["utilisation_pct"] <= 100).all() and frame["co2_kg"].sum() > 0


def test_bad_report_format_is_named(client: TestClient) -> None:
    response = client.get("/reports/utilisation?format=pdf", headers=ADMIN)
    assert response.status_code == 422 and response.json()["detail"][0]["field"] == "format"


def test_whatif_compares_on_a_copy_and_leaves_live_data_alone(client: TestClient, engine: Engine) -> None:
    before = state(engine)
    overrides = {
        "sme_reserve_pct": 50,
        "pool_capacity": {"p-a800": 4},
        "outages": [{"pool_id": "p-910b", "start": at(0), "end": at(48), "capacity_lost": 32}],
        "new_pools": [
            {
                "id": "p-new",
                "site_id": "s1",
                "accelerator_type": "A800",
                "capacity": 8,
                "price_fen_per_hour": 500,
                "speed": "1",
                "power_w": 400,
            }
        ],
        "time_limit_s": 2,
    }
    job = client.post("/whatif", headers=ADMIN, json=overrides)
    assert job.status_code == 202
    for _ in range(100):
        polled = client.get(f"/whatif/{job.json()['id']}", headers=ADMIN).json()
        if polled["status"] in ("done", "failed"):
            break
        time.sleep(0.1)
    assert polled["status"] == "done", polled["error"]
    live, variant = polled["result"]["live"], polled["result"]["variant"]
    assert live["kpis"]["placed"] == 2
    # the variant has 4 + 8 A800 and no 910B: seed-b (910B only) cannot run, seed-big can on the new pool
    assert variant["kpis"]["placed"] == 1
    assert state(engine) == before
    assert client.get("/pools/p-a800", headers=ADMIN).json()["capacity"] == 16


def test_whatif_bad_override_fails_the_job_with_the_field(client: TestClient) -> None:
    job = client.post("/whatif", headers=ADMIN, json={"pool_capacity": {"p-none": 3}, "time_limit_s": 1}).json()
    for _ in range(100):
        polled = client.get(f"/whatif/{job['id']}", headers=ADMIN).json()
        if polled["status"] in ("done", "failed"):
            break
        time.sleep(0.1)
    assert polled["status"] == "failed" and "pool_capacity.p-none" in polled["error"]
    sme = make_user(client, "alpha", "sme", "sme-a")
    assert client.post("/whatif", headers=sme, json={}).status_code == 403


def test_import_scenario_csvs(client: TestClient) -> None:
    orgs = "org_id,name,org_class\nnew-sme,New SME,sme\n"
    vouchers = (
        f"voucher_id,org_id,ratio_pct,balance_cny,valid_from,valid_until\nv-new,new-sme,40,100.50,{at(0)},{at(48)}\n"
    )
    requests = (
        "request_id,org_id,accelerators,duration_hours,earliest_start,deadline,accelerator_types,sites,max_cost_cny,"
        f"voucher_id\nimp-1,new-sme,2,3,{at(1)},{at(10)},A800,s1,50,v-new\n"
    )
    files = {"orgs": ("orgs.csv", orgs), "vouchers": ("vouchers.csv", vouchers), "requests": ("requests.csv", requests)}
    response = client.post("/imports/scenario", headers=ADMIN, files=files)
    assert response.status_code == 201, response.text
    assert response.json() == {"orgs": 1, "vouchers": 1, "requests": 1}
    voucher = client.get("/vouchers/v-new", headers=ADMIN).json()
    assert voucher["voucher"]["balance_fen"] == 10050 == voucher["ledger_sum_fen"]
    assert client.get("/requests/imp-1", headers=ADMIN).json()["max_cost_fen"] == 5000


def test_import_with_a_bad_row_names_it_and_stores_nothing(client: TestClient, engine: Engine) -> None:
    before = state(engine)
    orgs = "org_id,name,org_class\nok-org,Fine,sme\n"
    requests = (
        "request_id,org_id,accelerators,duration_hours,earliest_start,deadline,accelerator_types,sites\n"
        f"imp-1,ok-org,2,3,{at(1)},{at(10)},A800,*\n"
        f"imp-2,ok-org,2,3,{at(9)},{at(3)},A800,*\n"
    )
    response = client.post(
        "/imports/scenario", headers=ADMIN, files={"orgs": ("o.csv", orgs), "requests": ("r.csv", requests)}
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["field"] == "requests.csv row 2 (request imp-2): deadline"
    assert state(engine) == before
    assert client.get("/orgs/ok-org", headers=ADMIN).status_code == 404


def test_an_import_reads_and_checks_its_files_outside_the_write_lock(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Submissions go on while an import's files are read and checked (slow for a large import); only the
    inserts, in bulk, take the write lock."""
    real = seed.csv_rows

    def slow(*args: Any) -> Any:
        rows = real(*args)
        time.sleep(2.0)  # a large file being checked
        return rows

    monkeypatch.setattr(seed, "csv_rows", slow)
    orgs = "org_id,name,org_class\n" + "".join(f"bulk-{i},Bulk {i},sme\n" for i in range(2000))
    sme = make_user(client, "alpha", "sme", "sme-a")
    with ThreadPoolExecutor(max_workers=1) as pool:
        importing = pool.submit(client.post, "/imports/scenario", headers=ADMIN, files={"orgs": ("o.csv", orgs)})
        time.sleep(0.5)
        started = time.monotonic()
        submitted = client.post("/requests", headers=sme, json=request_body())
        waited = time.monotonic() - started
        assert not importing.done()
        imported = importing.result(timeout=60)
    assert submitted.status_code == 201 and waited < 1.0, waited
    assert imported.status_code == 201 and imported.json()["orgs"] == 2000
    audit = client.get("/audit?entity=org&limit=3", headers=ADMIN).json()
    assert [a["action"] for a in audit] == ["create"] * 3 and audit[0]["entity_id"].startswith("bulk-")
