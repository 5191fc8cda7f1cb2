"""End to end: the real server (``python -m api``, uvicorn) on a free loopback port, driven over HTTP by an
SME and an administrator, with its periodic rounds running; then stopped."""

from __future__ import annotations

import io
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from itertools import pairwise
from pathlib import Path

import httpx
import pandas as pd
import pytest

from tests.api.tiny import ADMIN, ADMIN_TOKEN, ROUND_AFTER_THE_HORIZON, at, bearer, make_user, request_body

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def running_server(database_url: str, scenario: Path, log_path: Path, **env: str) -> Iterator[httpx.Client]:
    """``python -m api`` on a free loopback port, until the block ends (then SIGTERM: it must stop cleanly)."""
    with server_process(database_url, scenario, log_path, **env) as (_, client):
        yield client


@contextmanager
def server_process(
    database_url: str, scenario: Path, log_path: Path, **env: str
) -> Iterator[tuple[subprocess.Popen, httpx.Client]]:
    """:func:`running_server`, with the server's process too (a test may kill it; then it is not stopped)."""
    port = free_port()
    environment = (
        os.environ
        | {
            "PCS_DATABASE_URL": database_url,
            "PCS_HOST": "127.0.0.1",
            "PCS_PORT": str(port),
            "PCS_ADMIN_TOKEN": ADMIN_TOKEN,
            "PCS_SEED_SCENARIO": str(scenario),
            "PCS_ROUND_MINUTES": "0.05",  # a periodic round every 3 s
            "PCS_ROUND_TIME_LIMIT_S": "2",
            "PCS_ROUND_WORKERS": "1",
            "PCS_LOG_LEVEL": "warning",
        }
        | env
    )
    log = log_path.open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "api"], cwd=ROOT, env=environment, stdout=log, stderr=subprocess.STDOUT
    )
    client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60)
    try:
        for _ in range(600):
            if process.poll() is not None:
                break
            try:
                if client.get("/health").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        else:
            pytest.fail("the server did not answer /health within 60 s")
        assert process.poll() is None, log_path.read_text()
        yield process, client
    finally:
        client.close()
        killed = process.poll() is not None
        # SIGTERM, as a service manager stops it: uvicorn shuts down gracefully, then re-raises the signal.
        # (Not SIGINT: once a large solve has run, OR-Tools has reset SIGINT to its default action.)
        process.send_signal(signal.SIGTERM)
        try:
            assert killed or process.wait(timeout=30) in (0, -signal.SIGTERM), log_path.read_text()
        finally:
            if process.poll() is None:
                process.kill()
            log.close()


@pytest.fixture
def server(database_url: str, scenario: Path, tmp_path: Path) -> Iterator[httpx.Client]:
    """A server whose next round, after its first scheduled one (5 s after it starts), lies past the tiny horizon:
    a round commits every placement it plans, so a session sees its request allocated (with rounds every 3 s,
    nothing that starts tomorrow would start before the next round)."""
    minutes = str(ROUND_AFTER_THE_HORIZON)
    with running_server(database_url, scenario, tmp_path / "server.log", PCS_ROUND_MINUTES=minutes) as client:
        yield client


@pytest.mark.slow
def test_two_server_processes_never_run_rounds_at_once(database_url: str, tmp_path: Path) -> None:
    """Two API processes on one database, a round triggered on each at the same moment: one plan commits."""
    default = ROOT / "scenarios" / "shanghai-default" / "scenario.yaml"  # 760 requests: a round takes > 2 s
    quiet = {"PCS_RUN_ROUNDS": "false", "PCS_ROUND_TIME_LIMIT_S": "2"}
    with (
        running_server(database_url, default, tmp_path / "a.log", **quiet) as a,
        running_server(database_url, default, tmp_path / "b.log", **quiet) as b,
        ThreadPoolExecutor(max_workers=2) as pool,
    ):
        codes = sorted(pool.map(lambda s: s.post("/rounds", headers=ADMIN).status_code, (a, b)))
        while (rounds := a.get("/rounds", headers=ADMIN).json())[0]["status"] == "running":
            time.sleep(0.1)
        decisions = b.get("/allocations", headers=ADMIN).json()
    assert codes == [202, 409]
    assert [r["status"] for r in rounds] == ["committed"] and rounds[0]["placed"] > 0
    assert sum(d["allocation"] is not None for d in decisions) == rounds[0]["placed"]


@pytest.mark.slow
def test_several_workers_all_serve_and_run_one_round_at_a_time(database_url: str, tmp_path: Path) -> None:
    """``PCS_WORKERS=2``: the parent prepares the database once, both workers answer and write (queueing on one
    SQLite write lock), their periodic rounds (every 3 s in each) never overlap, and two rounds triggered at once
    commit one plan."""
    default = ROOT / "scenarios" / "shanghai-default" / "scenario.yaml"  # 760 requests: a round takes > 2 s
    with running_server(database_url, default, tmp_path / "server.log", PCS_WORKERS="2") as server:
        pids = set()
        for _ in range(200):  # a new connection each time, accepted by whichever worker is free
            pids.add(httpx.get(f"{server.base_url}/health").json()["pid"])
            if len(pids) == 2:
                break
        assert len(pids) == 2
        sme = make_user(server, "alpha", "sme", "sme-001")
        body = {"accelerators": 16, "duration_hours": 8, "earliest_start": "2026-12-08T08:00:00+08:00"}
        body |= {"deadline": "2026-12-10T08:00:00+08:00", "accelerator_types": "910B;A800"}
        url = f"{server.base_url}/requests"
        with ThreadPoolExecutor(max_workers=8) as pool:  # new connections: both workers take some
            submitted = list(pool.map(lambda _: httpx.post(url, headers=sme, json=body), range(40)))
        assert [r.status_code for r in submitted] == [201] * 40 and len({r.json()["id"] for r in submitted}) == 40
        for _ in range(100):
            rounds = server.get("/rounds", headers=ADMIN).json()
            if sum(r["status"] == "committed" for r in rounds) >= 2:
                break
            time.sleep(0.2)
        with ThreadPoolExecutor(max_workers=2) as pool:
            codes = sorted(pool.map(lambda _: httpx.post(f"{server.base_url}/rounds", headers=ADMIN).status_code, "ab"))
        for _ in range(100):  # a periodic round may have started since: let it finish before reading the record
            rounds = server.get("/rounds", headers=ADMIN).json()
            if all(r["status"] != "running" for r in rounds):
                break
            time.sleep(0.2)
    assert 409 in codes and codes.count(201) <= 1  # one of them, or a periodic round, held the lease
    spans = sorted((r["started_at"], r["finished_at"]) for r in rounds)
    assert len(spans) >= 2 and all(r["status"] == "committed" for r in rounds)
    assert all(finished <= started for (_, finished), (started, _) in pairwise(spans))


def test_real_server_sme_and_admin_session(server: httpx.Client) -> None:
    user = server.post("/users", headers=ADMIN, json={"name": "alpha", "role": "sme", "org_id": "sme-a"})
    assert user.status_code == 201
    sme = bearer(user.json()["token"])

    quote = server.post("/quotes", headers=sme, json=request_body(voucher_id="v-a")).json()
    assert quote["capacity_available"] and quote["best"]["entitlement_fen"] > 0

    body = request_body(voucher_id="v-a", earliest_start=at(2))
    submitted = server.post("/requests", headers=sme | {"Idempotency-Key": "e2e-1"}, json=body)
    assert submitted.status_code == 201
    request_id = submitted.json()["id"]
    assert server.post("/requests", headers=sme | {"Idempotency-Key": "e2e-1"}, json=body).json()["id"] == request_id

    decision = {}
    for _ in range(60):  # a manual round, unless the periodic one got there first (then 409 or already placed)
        decision = server.get(f"/allocations/{request_id}", headers=sme).json()
        if decision["status"] == "allocated":
            break
        assert server.post("/rounds", headers=ADMIN).status_code in (202, 409)
        time.sleep(0.2)
    assert decision["status"] == "allocated", decision
    allocation = decision["allocation"]
    assert (
        allocation["subsidy_fen"] > 0
        and allocation["out_of_pocket_fen"] == allocation["cost_fen"] - allocation["subsidy_fen"]
    )

    ledger = server.get("/vouchers/v-a", headers=sme).json()
    debits = [e for e in ledger["entries"] if e["kind"] == "subsidy" and e["request_id"] == request_id]
    assert [e["amount_fen"] for e in debits] == [-allocation["subsidy_fen"]]
    assert ledger["voucher"]["balance_fen"] == ledger["ledger_sum_fen"] == 200000 - allocation["subsidy_fen"]

    for fmt, read in (("parquet", pd.read_parquet), ("xlsx", pd.read_excel), ("csv", pd.read_csv)):
        report = server.get(f"/reports/utilisation?format={fmt}", headers=ADMIN)
        assert report.status_code == 200
        frame = read(io.BytesIO(report.content))
        assert frame["used_acc_h"].sum() > 0 and frame["subsidy_cny"].sum() > 0

    for _ in range(100):  # the scheduled rounds run too
        if any(r["trigger"] == "schedule" for r in server.get("/rounds", headers=ADMIN).json()):
            break
        time.sleep(0.2)
    else:
        pytest.fail("no scheduled round within 20 s")

    # concurrent redemptions over real HTTP never overspend v-b: 12 debits of 6,000 fen race for its balance
    balance = server.get("/vouchers/v-b", headers=ADMIN).json()["voucher"]["balance_fen"]
    passing = min(12, balance // 6000)

    def redeem(_: int) -> int:
        return server.post("/vouchers/v-b/adjustments", headers=ADMIN, json={"amount_fen": -6000}).status_code

    with ThreadPoolExecutor(max_workers=12) as pool:
        codes = list(pool.map(redeem, range(12)))
    assert sorted(codes) == [201] * passing + [409] * (12 - passing)
    voucher = server.get("/vouchers/v-b", headers=ADMIN).json()
    assert voucher["voucher"]["balance_fen"] == balance - 6000 * passing == voucher["ledger_sum_fen"] >= 0

    other = server.post("/users", headers=ADMIN, json={"name": "beta", "role": "sme", "org_id": "sme-b"}).json()
    assert server.get(f"/requests/{request_id}", headers=bearer(other["token"])).status_code == 404
    metrics = server.get("/metrics", headers=ADMIN).text
    assert "pcs_last_round_gap" in metrics and "pcs_utilisation_ratio" in metrics
