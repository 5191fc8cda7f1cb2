"""Money under concurrency, on SQLite and PostgreSQL: parallel cancels refund once, a cancel racing a round's
commit never leaves a cancelled request holding an allocation, and the reconciliation holds after each race.

SQLite serialises writers and hides most of these races; PostgreSQL's READ COMMITTED lets them through unless
the code locks what it reads, which is why every test here runs on both (CI sets ``PCS_TEST_DATABASE_URL``).
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from api import crud, reconcile, round_commit, rounds
from api import models as m
from api.settings import Settings
from tests.api.test_rounds import assert_ledgers_balance
from tests.api.tiny import ADMIN, at, make_user, request_body


def in_parallel(calls: list[Callable[[], Any]]) -> list[Any]:
    """Run ``calls`` in threads released at once by a barrier; their results in order."""
    barrier, results = threading.Barrier(len(calls)), [None] * len(calls)

    def go(index: int) -> None:
        barrier.wait()
        results[index] = calls[index]()

    threads = [threading.Thread(target=go, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return results


def money(client: TestClient) -> dict[str, Any]:
    report = client.get("/audit/money", headers=ADMIN)
    assert report.status_code == 200, report.text
    return report.json()


def sum_live_subsidy(engine: Engine) -> int:
    with Session(engine) as session:
        allocations = session.exec(select(m.Allocation).where(m.Allocation.status != m.AllocationStatus.CANCELLED))
        return sum(a.subsidy_fen for a in allocations)


def allocated_with_subsidy(client: TestClient, engine: Engine, settings: Settings, n: int) -> tuple[dict, list]:
    """``n`` requests of SME sme-a with voucher v-a, allocated by a round; the SME's header and the allocations."""
    sme = make_user(client, "alpha", "sme", "sme-a")
    for i in range(n):
        body = request_body(request_id=f"c{i}", voucher_id="v-a", earliest_start=at(2 + i), accelerators=2)
        assert client.post("/requests", headers=sme, json=body).status_code == 201
    assert rounds.run_round(engine, settings).status == m.RoundStatus.COMMITTED
    with Session(engine) as session:
        query = select(m.Allocation).where(m.Allocation.org_id == "sme-a").order_by(m.Allocation.request_id)
        allocations = session.exec(query).all()
    assert len(allocations) == n and all(a.subsidy_fen > 0 for a in allocations)
    return sme, allocations


def test_ten_parallel_cancels_refund_once(client: TestClient, engine: Engine, settings: Settings) -> None:
    sme, (allocation,) = allocated_with_subsidy(client, engine, settings, 1)
    before = client.get("/vouchers/v-a", headers=sme).json()["voucher"]["balance_fen"]
    answers = in_parallel([lambda: client.post("/requests/c0/cancel", headers=sme).status_code] * 10)
    assert Counter(answers) == {200: 1, 409: 9}
    voucher = client.get("/vouchers/v-a", headers=sme).json()
    assert voucher["voucher"]["balance_fen"] == before + allocation.subsidy_fen
    assert [e["kind"] for e in voucher["entries"]].count("refund") == 1
    report = money(client)
    assert report["ok"], report["problems"]
    assert report["live_subsidy_fen"] == report["subsidy_paid_fen"] == sum_live_subsidy(engine)


def test_an_administrators_repeated_cancels_of_many_requests_refund_each_once(
    client: TestClient, engine: Engine, settings: Settings
) -> None:
    _, allocations = allocated_with_subsidy(client, engine, settings, 6)
    calls = [
        lambda i=a.request_id: client.post(f"/requests/{i}/cancel", headers=ADMIN).status_code for a in allocations
    ]
    answers = in_parallel(calls * 4)
    assert Counter(answers) == {200: 6, 409: 18}
    with Session(engine) as session:
        refunds = session.exec(select(m.VoucherEntry).where(m.VoucherEntry.kind == m.EntryKind.REFUND)).all()
    assert sorted(e.request_id for e in refunds) == [a.request_id for a in allocations]
    assert money(client)["ok"]
    assert_ledgers_balance(engine)


@pytest.mark.parametrize("when", ["before_locks", "after_locks"])
def test_cancels_racing_a_rounds_commit_leave_no_cancelled_request_holding_an_allocation(
    client: TestClient, engine: Engine, settings: Settings, monkeypatch: pytest.MonkeyPatch, when: str
) -> None:
    """Cancels fired while the round is inside its commit transaction: before it locks the requests it places
    (they commit first on PostgreSQL; the round must drop them) or after (they wait, then refund)."""
    sme = make_user(client, "alpha", "sme", "sme-a")
    ids = [f"r{i}" for i in range(8)]
    for i, request_id in enumerate(ids):
        body = request_body(request_id=request_id, voucher_id="v-a", earliest_start=at(2 + i), accelerators=2)
        assert client.post("/requests", headers=sme, json=body).status_code == 201
    threads: list[threading.Thread] = []
    answers: list[int] = []

    def fire_cancels() -> None:
        for request_id in ids[::2]:

            def cancel(request_id: str = request_id) -> None:
                answers.append(client.post(f"/requests/{request_id}/cancel", headers=sme).status_code)

            threads.append(threading.Thread(target=cancel))
            threads[-1].start()
        time.sleep(0.5)  # PostgreSQL: cancels of unlocked rows commit now; SQLite: they queue behind the round

    if when == "before_locks":
        real_advance = crud.advance_lifecycle

        def advance(session: Session, now: Any) -> int:
            fire_cancels()
            return real_advance(session, now)

        monkeypatch.setattr(crud, "advance_lifecycle", advance)
    else:
        real_hold = round_commit.hold

        def hold(session: Session, checked: Any) -> bool:
            held = real_hold(session, checked)
            fire_cancels()
            return held

        monkeypatch.setattr(round_commit, "hold", hold)
    record = rounds.run_round(engine, settings)
    for thread in threads:
        thread.join(timeout=60)
    monkeypatch.undo()
    assert record.status == m.RoundStatus.COMMITTED, record.error
    assert record.money_problems == 0
    assert answers == [200] * 4  # every cancel went through: pending or allocated and not started
    with Session(engine) as session:
        statuses = {r.id: r.status for r in session.exec(select(m.ComputeRequest))}
        live = session.exec(select(m.Allocation).where(m.Allocation.status != m.AllocationStatus.CANCELLED)).all()
    assert all(statuses[i] == m.RequestStatus.CANCELLED for i in ids[::2])
    assert all(statuses[a.request_id] == m.RequestStatus.ALLOCATED for a in live)
    report = money(client)
    assert report["ok"], report["problems"]
    assert_ledgers_balance(engine)


def test_the_reconciliation_finds_a_double_refund_and_a_cancelled_request_holding_an_allocation(
    client: TestClient, engine: Engine, settings: Settings
) -> None:
    """The check itself can fail: each kind of damage the races above once did is reported."""
    _, (first, second) = allocated_with_subsidy(client, engine, settings, 2)
    assert money(client)["ok"]
    with Session(engine) as session:  # a refund posted twice, as a racing cancel did
        for _ in range(2):
            crud.post_entry(session, first.voucher_id, first.subsidy_fen, m.EntryKind.REFUND, "t", request_id="c0")
        request = session.get(m.ComputeRequest, second.request_id)
        request.status = m.RequestStatus.CANCELLED  # cancelled, but its allocation still live
        session.add(request)
        session.commit()
        report = reconcile.reconcile(session)
    assert not report.ok
    text = "\n".join(report.problems)
    assert "request c0: its subsidy and refund lines net" in text
    assert "request c1 is cancelled but its allocation is allocated" in text
    assert "live allocations hold" in text
    assert report.num_problems == 3
