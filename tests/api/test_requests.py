"""SMEs' side: quote, submit (idempotent), bad input named by field and rule, rounds, allocations, vouchers."""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, func, select

from api import crud
from api import models as m
from api.group_commit import SubmissionWriter
from tests.api.tiny import ADMIN, at, make_user, request_body, run_round_now


def count(engine: Engine, model: type) -> int:
    with Session(engine) as session:
        return session.exec(select(func.count()).select_from(model)).one()


def test_health_and_metrics(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    assert client.get("/health").json()["status"] == "ok"
    assert client.get("/metrics").status_code == 401  # not public unless PCS_METRICS_PUBLIC
    assert client.get("/metrics", headers=make_user(client, "alpha", "sme", "sme-a")).status_code == 403
    text = client.get("/metrics", headers=ADMIN).text
    assert "pcs_requests_pending 2" in text
    assert "pcs_utilisation_ratio 0.0" in text  # no round yet
    record = run_round_now(client)
    for _ in range(100):  # recorded just after the commit, outside the round's transaction
        if (record := client.get(f"/rounds/{record['id']}", headers=ADMIN).json())["utilisation_ratio"] is not None:
            break
        time.sleep(0.05)
    text = client.get("/metrics", headers=ADMIN).text
    assert record["utilisation_ratio"] > 0 and f"pcs_utilisation_ratio {record['utilisation_ratio']}" in text
    # kept by the rounds, not computed per scrape
    monkeypatch.setattr("api.reports.utilisation_frame", lambda _: pytest.fail("computed per scrape"))
    assert client.get("/metrics", headers=ADMIN).status_code == 200
    public = client.app.state.settings.model_copy(update={"metrics_public": True})
    monkeypatch.setattr(client.app.state, "settings", public)
    assert client.get("/metrics").status_code == 200


def test_quote_names_price_entitlement_and_room(client: TestClient) -> None:
    sme = make_user(client, "alpha", "sme", "sme-a")
    quote = client.post("/quotes", headers=sme, json=request_body(voucher_id="v-a")).json()
    assert quote["capacity_available"] is True
    by_pool = {o["pool_id"]: o for o in quote["options"]}
    # 910B: speed 0.8 -> ceil(6 / 0.8) = 8 h; 4 x 8 x 3.00 CNY = 96 CNY; 30 % + 10 domestic + 5 green = 45 %
    assert by_pool["p-910b"]["cost_fen"] == 9600
    assert by_pool["p-910b"]["entitlement_fen"] == 9600 * 45 // 100
    assert by_pool["p-910b"]["out_of_pocket_fen"] == 9600 - 4320
    # A800: 4 x 6 x 5.50 = 132 CNY at 30 %
    assert by_pool["p-a800"]["entitlement_fen"] == 13200 * 30 // 100
    assert quote["best"]["pool_id"] == "p-910b"
    assert count(client.app.state.engine, m.ComputeRequest) == 2  # a quote stores nothing


def test_submit_round_allocation_and_voucher_debit(client: TestClient) -> None:
    sme = make_user(client, "alpha", "sme", "sme-a")
    submitted = client.post("/requests", headers=sme, json=request_body(voucher_id="v-a", request_id="mine"))
    assert submitted.status_code == 201, submitted.text
    assert submitted.json()["status"] == "pending"
    round_ = run_round_now(client)
    assert round_["status"] == "committed"
    assert round_["placed"] == 3 and round_["inputs_hash"]
    decision = client.get("/allocations/mine", headers=sme).json()
    assert decision["status"] == "allocated"
    allocation = decision["allocation"]
    assert allocation["accelerators"] == 4 and allocation["subsidy_fen"] > 0
    ledger = client.get("/vouchers/v-a", headers=sme).json()
    assert ledger["voucher"]["balance_fen"] == 200000 - allocation["subsidy_fen"]
    assert ledger["ledger_sum_fen"] == ledger["voucher"]["balance_fen"]
    assert [e["kind"] for e in ledger["entries"]] == ["issue", "subsidy"]
    assert client.get("/requests/mine", headers=sme).json()["decided_round_id"] == round_["id"]


def test_idempotency_key_creates_once(client: TestClient) -> None:
    sme = make_user(client, "alpha", "sme", "sme-a")
    headers = sme | {"Idempotency-Key": "order-17"}
    first = client.post("/requests", headers=headers, json=request_body())
    again = client.post("/requests", headers=headers, json=request_body())
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["id"] == again.json()["id"]
    assert len(client.get("/requests", headers=sme).json()) == 1


@pytest.mark.parametrize(
    ("changes", "field", "words"),
    [
        ({"deadline": at(0)}, "deadline", "after earliest_start"),
        ({"accelerator_types": "TPUv5"}, "accelerator_types", "unknown accelerator type"),
        ({"sites": "mars"}, "sites", "unknown site"),
        ({"accelerators": 64}, "accelerators", "the largest eligible pool has 32"),
        ({"voucher_id": "v-b"}, "voucher_id", "no voucher 'v-b' of organisation sme-a"),
        ({"voucher_id": "v-none"}, "voucher_id", "no voucher"),
        ({"duration_hours": 30, "deadline": at(20)}, "deadline", "shorter than the run"),
        ({"accelerators": 0}, "accelerators", "greater than 0"),
        ({"earliest_start": "2026-12-08T08:00:00"}, "earliest_start", "UTC offset"),
        ({"max_cost_cny": "1.234"}, "max_cost_cny", "decimal places"),
    ],
)
def test_bad_input_names_field_and_rule(client: TestClient, changes: dict, field: str, words: str) -> None:
    sme = make_user(client, "alpha", "sme", "sme-a")
    for path in ("/requests", "/quotes"):
        response = client.post(path, headers=sme, json=request_body(**changes))
        assert response.status_code == 422, response.text
        detail = response.json()["detail"]
        assert any(d["field"] == field and words in d["rule"] for d in detail), detail
    assert count(client.app.state.engine, m.ComputeRequest) == 2
    assert count(client.app.state.engine, m.AuditEntry) == 3  # seed admin, seed, the SME user: nothing else


def test_cancel_pending_and_allocated_refunds_subsidy(client: TestClient) -> None:
    sme = make_user(client, "alpha", "sme", "sme-a")
    client.post("/requests", headers=sme, json=request_body(request_id="one", voucher_id="v-a"))
    client.post("/requests", headers=sme, json=request_body(request_id="two"))
    assert client.post("/requests/two/cancel", headers=sme).json()["status"] == "cancelled"
    assert run_round_now(client)["status"] == "committed"
    assert client.get("/requests/two", headers=sme).json()["status"] == "cancelled"
    subsidy = client.get("/allocations/one", headers=sme).json()["allocation"]["subsidy_fen"]
    assert client.post("/requests/one/cancel", headers=sme).json()["status"] == "cancelled"
    ledger = client.get("/vouchers/v-a", headers=sme).json()
    assert [e["amount_fen"] for e in ledger["entries"]] == [200000, -subsidy, subsidy]
    assert ledger["voucher"]["balance_fen"] == 200000 == ledger["ledger_sum_fen"]
    again = client.post("/requests/one/cancel", headers=sme)
    assert again.status_code == 409 and again.json()["detail"][0]["field"] == "status"


def test_rejected_and_pending_requests_carry_a_reason(client: TestClient) -> None:
    sme = make_user(client, "alpha", "sme", "sme-a")
    # four requests that each want the whole A800 pool in the same short window: only one fits
    for i in range(4):
        body = request_body(request_id=f"full{i}", accelerators=16, accelerator_types="A800", deadline=at(8))
        assert client.post("/requests", headers=sme, json=body).status_code == 201
    run_round_now(client)
    decisions = {d["request_id"]: d for d in client.get("/allocations", headers=sme).json()}
    unplaced = [d for d in decisions.values() if d["allocation"] is None]
    assert len(unplaced) == 3
    for decision in unplaced:
        assert decision["reason_code"] and decision["reason"].endswith(".")
        assert decision["status"] in ("pending", "rejected")


def test_submissions_arriving_together_commit_in_one_batch_and_only_a_duplicate_fails(
    client: TestClient, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Group commit: what queues while the writer is busy is stored in one transaction; a batch holding a repeated
    Idempotency-Key is retried one submission at a time, so only the repeat fails, with the IntegrityError."""
    sme = make_user(client, "alpha", "sme", "sme-a")
    stored = client.post("/requests", headers=sme, json=request_body()).json()["id"]
    with engine.connect() as connection:
        row = dict(
            connection.execute(select(m.ComputeRequest.__table__).where(m.ComputeRequest.id == stored)).one()._mapping
        )
    submissions = [(row | {"id": f"r-batch-{i}", "idempotency_key": f"k-{i}"}, "alpha") for i in range(8)]
    submissions.append((row | {"id": "r-batch-repeat", "idempotency_key": "k-3"}, "alpha"))

    busy, calls = threading.Event(), []
    original = crud.insert_requests

    def held_first(write_engine: Engine, batch: list) -> None:
        calls.append([values["id"] for values, _ in batch])
        if len(calls) == 1:
            busy.wait(10)  # the writer is busy with the first submission while the others queue
        original(write_engine, batch)

    monkeypatch.setattr(crud, "insert_requests", held_first)
    writer = SubmissionWriter(client.app.state.write_engine)
    outcomes: dict[str, str] = {}

    def submit(submission: tuple[dict, str]) -> None:
        try:
            writer.insert(*submission)
            outcomes[submission[0]["id"]] = "stored"
        except IntegrityError:
            outcomes[submission[0]["id"]] = "duplicate"

    first = threading.Thread(target=submit, args=(submissions[0],))
    first.start()
    while not calls:
        time.sleep(0.01)
    others = [threading.Thread(target=submit, args=(s,)) for s in submissions[1:]]
    for thread in others:
        thread.start()
    while writer.pending() < len(others):
        time.sleep(0.01)
    busy.set()
    for thread in [first, *others]:
        thread.join(10)
    writer.stop()

    assert calls[0] == ["r-batch-0"] and sorted(calls[1]) == sorted(s[0]["id"] for s in submissions[1:])
    assert len(calls) == 2 + len(others)  # the batch of eight failed on the repeat, then each alone
    assert outcomes == {f"r-batch-{i}": "stored" for i in range(8)} | {"r-batch-repeat": "duplicate"}
    with Session(engine) as session:
        ids = set(session.exec(select(m.ComputeRequest.id).where(m.ComputeRequest.id.like("r-batch-%"))))
        audited = set(session.exec(select(m.AuditEntry.entity_id).where(m.AuditEntry.entity_id.like("r-batch-%"))))
    assert ids == audited == {f"r-batch-{i}" for i in range(8)}


def test_reads_answer_while_submissions_wait_for_the_write_lock(client: TestClient, database_url: str) -> None:
    """Sixty submissions queued behind a writer that holds SQLite's write lock hold no thread of the pool, so
    a read still answers at once; when the lock is released, every submission is stored."""
    if not database_url.startswith("sqlite"):
        pytest.skip("SQLite's single write lock")
    sme = make_user(client, "alpha", "sme", "sme-a")
    blocker = sqlite3.connect(database_url.removeprefix("sqlite:///"), isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    with ThreadPoolExecutor(max_workers=61) as pool:
        try:
            futures = [pool.submit(client.post, "/requests", headers=sme, json=request_body()) for _ in range(60)]
            time.sleep(1.5)  # every one of them is checked and waiting for the writer by now
            started = time.monotonic()
            read = pool.submit(
                lambda: [client.get("/health").status_code, client.get("/orgs", headers=sme).status_code]
            )
            with contextlib.suppress(TimeoutError):
                read.result(timeout=3.0)
            read_s = time.monotonic() - started
        finally:
            blocker.execute("ROLLBACK")  # the writers go on, whatever happened
            blocker.close()
        codes = [future.result(timeout=60).status_code for future in futures]
    assert read_s < 1.0, f"reads waited {read_s:.1f} s behind the writers"
    assert read.result() == [200, 200]
    assert codes == [201] * 60
    assert count(client.app.state.engine, m.ComputeRequest) == 62
