"""Allocation rounds: one transaction, never overlapping, never moving what earlier rounds committed; the
voucher ledger always sums to the balance and concurrent debits never overspend."""

from __future__ import annotations

import dataclasses
import random
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, func, select

from api import crud, mapping, reports, round_commit, rounds
from api import models as m
from api.db import make_engine, utcnow, write_session
from api.settings import Settings
from scheduler import WAIT_WEIGHT_PER_SLOT
from tests.api.tiny import ADMIN, at, horizon_start, make_user, request_body, run_round_now


def state(engine: Engine) -> dict[str, Any]:
    """What a round may change: allocations, ledger, balances, request decisions."""
    with Session(engine) as session:
        return {
            "allocations": session.exec(select(func.count()).select_from(m.Allocation)).one(),
            "entries": session.exec(select(func.count()).select_from(m.VoucherEntry)).one(),
            "balances": {v.id: v.balance_fen for v in session.exec(select(m.Voucher))},
            "requests": {r.id: (r.status, r.reason_code) for r in session.exec(select(m.ComputeRequest))},
        }


def submit_some(client: TestClient, n: int = 6) -> None:
    sme = make_user(client, "alpha", "sme", "sme-a")
    for i in range(n):
        body = request_body(request_id=f"q{i}", voucher_id="v-a", earliest_start=at(i))
        assert client.post("/requests", headers=sme, json=body).status_code == 201


def assert_ledgers_balance(engine: Engine) -> None:
    with Session(engine) as session:
        for voucher in session.exec(select(m.Voucher)):
            assert crud.ledger_sum(session, voucher.id) == voucher.balance_fen >= 0, voucher.id


def test_failure_mid_commit_leaves_no_partial_allocation_or_debit(
    client: TestClient, engine: Engine, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    submit_some(client)
    before = state(engine)
    real, calls = crud.post_entries, []

    def failing(session: Session, entries: list, actor: str) -> None:
        # the allocations and decisions are written; the debits go through, then the commit fails
        real(session, entries, actor)
        session.flush()
        with Session(bind=session.connection()) as peek:
            calls.append(peek.exec(select(func.count()).select_from(m.Allocation)).one())
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(crud, "post_entries", failing)
    record = rounds.run_round(engine, settings, trigger="test")
    assert calls == [8]  # inside the failed transaction, all 8 allocations were there
    assert record.status == m.RoundStatus.FAILED and "disk on fire" in record.error
    assert state(engine) == before
    monkeypatch.undo()
    listed = client.get("/rounds", headers=ADMIN).json()
    assert [r["status"] for r in listed] == ["failed"] and "disk on fire" in listed[0]["error"]
    # the lease was released: the next round commits
    assert rounds.run_round(engine, settings).status == m.RoundStatus.COMMITTED
    assert state(engine)["allocations"] == 8
    assert_ledgers_balance(engine)


def test_a_plan_with_violations_is_never_committed(
    client: TestClient, engine: Engine, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    submit_some(client, 2)
    before = state(engine)
    real = rounds.solve_snapshot

    def overbooking(snap: mapping.Snapshot, *args: Any) -> Any:
        decision, reasons = real(snap, *args)
        # every request on the A800 pool at slot 0: over capacity and outside windows
        plan = tuple(dataclasses.replace(p, pool_id="p-a800", start_slot=0) for p in decision.committed)
        return dataclasses.replace(decision, committed=plan), reasons

    monkeypatch.setattr(rounds, "solve_snapshot", overbooking)
    record = rounds.run_round(engine, settings)
    assert record.status == m.RoundStatus.FAILED and "breaks" in record.error
    assert state(engine) == before


def between_check_and_commit(monkeypatch: pytest.MonkeyPatch, change: Callable[[Any], None]) -> list[int]:
    """Call ``change(plan)`` once the round has validated its plan outside the write lock, before it commits;
    returns the number of broken rules each validation found."""
    real, found = round_commit.plan_violations, []

    def hooked(snap: mapping.Snapshot, plan: Any) -> list[str]:
        broken = real(snap, plan)
        found.append(len(broken))
        if len(found) == 1:
            change(plan)
        return broken

    monkeypatch.setattr(round_commit, "plan_violations", hooked)
    return found


def test_a_snapshot_since_an_earlier_one_equals_a_full_read(client: TestClient, engine: Engine) -> None:
    """A round's re-check reads only what changed since its snapshot, and sees the same state as a full read."""
    submit_some(client, 3)
    assert client.delete("/pools/p-910b", headers=ADMIN).status_code == 204  # seed-b (910B only) can never run
    sme = make_user(client, "beta", "sme", "sme-b")
    now = utcnow()
    with Session(engine) as session:
        first = mapping.snapshot(session, now)
    assert first is not None and "seed-b" in first.pre_rejected
    late = request_body(request_id="late", accelerator_types="A800")
    assert client.post("/requests", headers=sme, json=late).status_code == 201
    assert client.post("/requests/q1/cancel", headers=ADMIN).status_code == 200
    for catalogue_changed in (False, True):
        if catalogue_changed:  # no pool left: every pending request is now refused, as only a full read can tell
            for window in client.get("/pools/p-a800/maintenance", headers=ADMIN).json():
                assert client.delete(f"/pools/p-a800/maintenance/{window['id']}", headers=ADMIN).status_code == 204
            assert client.delete("/pools/p-a800", headers=ADMIN).status_code == 204
        with Session(engine) as session:
            since, full = mapping.snapshot(session, now, first), mapping.snapshot(session, now)
        assert since is not None and full is not None
        assert (since.inputs_hash, since.pre_rejected) == (full.inputs_hash, full.pre_rejected)
        assert "q1" not in since.problem.request_by_id and "q1" not in since.pre_rejected
        if not catalogue_changed:
            assert "late" in since.problem.request_by_id
            assert since.problem.request_by_id["q0"] is first.problem.request_by_id["q0"]  # taken over, not re-read
        else:
            assert {"q0", "late"} <= set(since.pre_rejected)


def test_a_request_cancelled_after_the_check_is_left_out_of_the_commit(
    client: TestClient, engine: Engine, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    submit_some(client, 3)
    cancelled = []

    def cancel_one(plan: Any) -> None:
        cancelled.append(plan[0].request_id)
        assert client.post(f"/requests/{plan[0].request_id}/cancel", headers=ADMIN).status_code == 200

    found = between_check_and_commit(monkeypatch, cancel_one)
    record = rounds.run_round(engine, settings)
    assert found == [0, 0]  # validated outside the lock, then again under it: a placed request had left pending
    assert record.status == m.RoundStatus.COMMITTED
    with Session(engine) as session:
        allocated = set(session.exec(select(m.Allocation.request_id)).all())
    assert cancelled[0] not in allocated and len(allocated) == record.placed > 0
    assert client.get(f"/requests/{cancelled[0]}", headers=ADMIN).json()["status"] == "cancelled"
    assert_ledgers_balance(engine)


def test_a_pool_shrunk_after_the_check_fails_the_round_under_the_lock(
    client: TestClient, engine: Engine, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    submit_some(client, 3)
    before = state(engine)

    def shrink(_: Any) -> None:
        for pool in ("p-a800", "p-910b"):
            assert client.patch(f"/pools/{pool}", headers=ADMIN, json={"capacity": 1}).status_code == 200

    found = between_check_and_commit(monkeypatch, shrink)
    record = rounds.run_round(engine, settings)
    assert found[0] == 0 and found[1] > 0  # the catalogue version moved: re-validated under the lock, and refused
    assert record.status == m.RoundStatus.FAILED and "breaks" in record.error
    assert state(engine) == before


def test_a_round_that_times_out_commits_nothing(client: TestClient, engine: Engine, settings: Settings) -> None:
    submit_some(client, 2)
    before = state(engine)
    record = rounds.run_round(engine, settings.model_copy(update={"round_timeout_s": 0.0}))
    assert record.status == m.RoundStatus.FAILED and record.error.startswith("RoundFailed: timed out")
    assert state(engine) == before


def test_two_rounds_started_at_once_commit_one_plan(
    client: TestClient, engine: Engine, settings: Settings, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    submit_some(client)
    real = rounds.solve_snapshot

    def slow(*args: Any) -> Any:
        time.sleep(1.0)  # both rounds are surely in flight together
        return real(*args)

    monkeypatch.setattr(rounds, "solve_snapshot", slow)
    # a second engine stands for a second API process: its own connections, the same database
    engines = [engine, make_engine(database_url)]
    barrier, outcomes = threading.Barrier(2), []

    def go(own: Engine) -> None:
        barrier.wait()
        try:
            outcomes.append(rounds.run_round(own, settings).status)
        except rounds.RoundBusy:
            outcomes.append("busy")

    threads = [threading.Thread(target=go, args=(e,)) for e in engines]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    engines[1].dispose()
    assert sorted(outcomes) == sorted([m.RoundStatus.COMMITTED, "busy"])
    listed = client.get("/rounds", headers=ADMIN).json()
    assert [r["status"] for r in listed] == ["committed"]
    with Session(engine) as session:
        ids = session.exec(select(m.Allocation.request_id)).all()
    assert len(ids) == len(set(ids)) == 8
    assert_ledgers_balance(engine)


def test_a_busy_round_is_a_409_over_http(client: TestClient, engine: Engine, settings: Settings) -> None:
    with write_session(engine) as session:
        lock = session.get(m.RoundLock, "round")
        lock.holder, lock.acquired_at = "another-process", utcnow()
        session.add(lock)
    response = client.post("/rounds", headers=ADMIN)
    assert response.status_code == 409 and "running" in response.json()["detail"]
    # a lease older than lock_stale_s belongs to a crashed process and is taken over
    with write_session(engine) as session:
        lock = session.get(m.RoundLock, "round")
        lock.acquired_at = utcnow() - timedelta(seconds=settings.lock_stale_s + 1)
        session.add(lock)
    assert run_round_now(client)["status"] == "committed"


def test_committed_allocations_never_move(client: TestClient, engine: Engine, settings: Settings) -> None:
    submit_some(client, 3)
    first = rounds.run_round(engine, settings)
    with Session(engine) as session:
        committed = {a.request_id: (a.pool_id, a.start, a.end) for a in session.exec(select(m.Allocation))}
    sme = make_user(client, "beta", "sme", "sme-b")
    for i in range(6):  # more demand that wants the very same room
        body = request_body(request_id=f"later{i}", accelerators=16, accelerator_types="A800", deadline=at(47))
        client.post("/requests", headers=sme, json=body)
    second = rounds.run_round(engine, settings)
    assert (first.status, second.status) == (m.RoundStatus.COMMITTED, m.RoundStatus.COMMITTED)
    with Session(engine) as session:
        after = {a.request_id: (a.pool_id, a.start, a.end) for a in session.exec(select(m.Allocation))}
        pools = {p.id: p.capacity for p in session.exec(select(m.Pool))}
        allocations = session.exec(select(m.Allocation)).all()
    assert {k: after[k] for k in committed} == committed
    assert len(after) > len(committed)
    # together, both rounds' allocations stay within capacity in every hour
    start = min(a.start for a in allocations)
    for hour in range(48):
        t = start + timedelta(hours=hour)
        for pool_id, capacity in pools.items():
            used = sum(a.accelerators for a in allocations if a.pool_id == pool_id and a.start <= t < a.end)
            assert used <= capacity


def test_an_hourly_round_commits_what_starts_before_the_next_round_and_leaves_the_rest_pending(
    client: TestClient, engine: Engine, settings: Settings
) -> None:
    """The online policy of ``pcs simulate``: a round commits the placements that start before the next round;
    a request whose earliest start is hours later stays pending, with no allocation, until a round near its start."""
    hourly = settings.model_copy(update={"round_minutes": 60.0})
    sme = make_user(client, "alpha", "sme", "sme-a")
    for request_id, earliest in (("now", at(0)), ("later", at(5))):
        body = request_body(request_id=request_id, earliest_start=earliest)
        assert client.post("/requests", headers=sme, json=body).status_code == 201

    def decisions() -> dict[str, tuple[str, Any]]:
        with Session(engine) as session:
            starts = {a.request_id: a.start for a in session.exec(select(m.Allocation))}
            mine = select(m.ComputeRequest).where(col(m.ComputeRequest.id).in_(["now", "later"]))
            return {r.id: (r.status, starts.get(r.id)) for r in session.exec(mine)}

    start = horizon_start()
    first = rounds.run_round(engine, hourly, now=start)
    assert first.status == m.RoundStatus.COMMITTED
    assert decisions() == {"now": (m.RequestStatus.ALLOCATED, start), "later": (m.RequestStatus.PENDING, None)}
    later = client.get("/requests/later", headers=sme).json()
    assert later["reason_code"] == "planned_later" and "decides it again" in later["reason"]  # not "not selected"
    second = rounds.run_round(engine, hourly, now=start + timedelta(hours=5))
    assert second.status == m.RoundStatus.COMMITTED
    assert decisions()["later"] == (m.RequestStatus.ALLOCATED, start + timedelta(hours=5))
    # what replays them: the slot their commitments start before, the optimiser's value of waiting
    assert [(r.next_round_slot, r.wait_weight_per_slot) for r in (first, second)] == [(1, WAIT_WEIGHT_PER_SLOT)] * 2


def test_lifecycle_moves_allocations_to_running_and_completed(client: TestClient, engine: Engine) -> None:
    submit_some(client, 1)
    run_round_now(client)
    with write_session(engine) as session:
        allocation = session.exec(select(m.Allocation).where(m.Allocation.request_id == "q0")).one()
        crud.advance_lifecycle(session, allocation.start)
    assert client.get("/requests/q0", headers=ADMIN).json()["status"] == "running"
    with write_session(engine) as session:
        crud.advance_lifecycle(session, allocation.end)
    assert client.get("/requests/q0", headers=ADMIN).json()["status"] == "completed"


def hammer(n_threads: int, action: Callable[[int], bool]) -> int:
    """Run ``action(i)`` on ``n_threads`` threads at once; how many returned True."""
    barrier, wins = threading.Barrier(n_threads), []

    def go(i: int) -> None:
        barrier.wait()
        wins.append(action(i))

    threads = [threading.Thread(target=go, args=(i,)) for i in range(n_threads)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return sum(wins)


def test_concurrent_redemptions_never_overspend(client: TestClient, engine: Engine) -> None:
    # v-b holds 500 CNY = 50,000 fen; 16 redemptions of 7,000 fen race for it: at most 7 can pass
    def redeem(_: int) -> bool:
        try:
            with write_session(engine) as session:
                crud.post_entry(session, "v-b", -7000, m.EntryKind.ADJUSTMENT, "race")
            return True
        except crud.Overspend:
            return False

    assert hammer(16, redeem) == 7
    voucher = client.get("/vouchers/v-b", headers=ADMIN).json()
    assert voucher["voucher"]["balance_fen"] == 50000 - 7 * 7000 == voucher["ledger_sum_fen"]


def test_concurrent_redemptions_over_http_never_overspend(client: TestClient) -> None:
    def redeem(_: int) -> bool:
        response = client.post("/vouchers/v-b/adjustments", headers=ADMIN, json={"amount_fen": -9000})
        assert response.status_code in (201, 409), response.text
        return response.status_code == 201

    assert hammer(8, redeem) == 5
    voucher = client.get("/vouchers/v-b", headers=ADMIN).json()
    assert voucher["voucher"]["balance_fen"] == 5000 == voucher["ledger_sum_fen"]


def test_ledger_always_sums_to_balance(client: TestClient, engine: Engine, settings: Settings) -> None:
    rng = random.Random(7)
    sme = make_user(client, "alpha", "sme", "sme-a")
    for step in range(12):
        action = rng.choice(["submit", "submit", "round", "cancel", "credit", "debit"])
        if action == "submit":
            body = request_body(request_id=f"s{step}", voucher_id="v-a", accelerators=rng.choice([2, 4, 8]))
            client.post("/requests", headers=sme, json=body)
        elif action == "round":
            rounds.run_round(engine, settings)
        elif action == "cancel":
            mine = client.get("/requests", headers=sme).json()
            live = [r["id"] for r in mine if r["status"] in ("pending", "allocated")]
            if live:
                client.post(f"/requests/{rng.choice(live)}/cancel", headers=sme)
        else:
            amount = rng.randint(1, 50000) * (1 if action == "credit" else -1)
            client.post("/vouchers/v-a/adjustments", headers=ADMIN, json={"amount_fen": amount})
        assert_ledgers_balance(engine)
    programme = client.get("/programme", headers=ADMIN).json()
    assert programme["budget_left_fen"] >= 0


def test_a_long_round_keeps_its_lease_by_heartbeat_and_a_silent_one_is_taken_over(
    client: TestClient, engine: Engine, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A lease goes stale ``lock_stale_s`` after its holder's last heartbeat, not after its start: a round that
    solves for longer than that keeps it, and the lease of a process that stopped beating is taken over."""
    submit_some(client, 2)
    quick = settings.model_copy(update={"lock_stale_s": 0.4})
    real, seen = rounds.solve_snapshot, []

    def slow(*args: Any) -> Any:
        if seen:  # the probe's own round, if it took the lease over
            return real(*args)
        time.sleep(1.2)  # three stale periods: only the heartbeat keeps the lease
        text = client.get("/metrics", headers=ADMIN).text
        (age,) = [line.split()[1] for line in text.splitlines() if line.startswith("pcs_round_lease_age_seconds ")]
        seen.append(float(age))
        try:
            rounds.run_round(engine, quick)
            seen.append("took over")
        except rounds.RoundBusy:
            seen.append("busy")
        return real(*args)

    monkeypatch.setattr(rounds, "solve_snapshot", slow)
    assert rounds.run_round(engine, quick).status == m.RoundStatus.COMMITTED
    assert seen[0] >= 1.0 and seen[1] == "busy"
    monkeypatch.undo()
    with write_session(engine) as session:  # a holder that died: acquired long ago, no beat since
        lock = session.get(m.RoundLock, "round")
        lock.holder, lock.acquired_at = "dead-process", utcnow() - timedelta(seconds=1)
        lock.heartbeat_at = lock.acquired_at
        session.add(lock)
    assert rounds.run_round(engine, quick).status == m.RoundStatus.COMMITTED
    assert "pcs_round_lease_age_seconds 0.0" in client.get("/metrics", headers=ADMIN).text


def test_a_failure_after_the_commit_leaves_the_round_committed(
    client: TestClient, engine: Engine, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    submit_some(client, 2)

    def broken(_: Any) -> Any:
        raise RuntimeError("report broke")

    monkeypatch.setattr(reports, "utilisation_frame", broken)
    record = rounds.run_round(engine, settings)
    assert record.status == m.RoundStatus.COMMITTED and record.utilisation_ratio is None
    assert run_round_now(client)["status"] == "committed"  # and the lease was released


def test_a_round_and_a_what_if_with_no_pool_left_commit_nothing_and_do_not_fail(client: TestClient) -> None:
    for window in client.get("/pools/p-a800/maintenance", headers=ADMIN).json():
        assert client.delete(f"/pools/p-a800/maintenance/{window['id']}", headers=ADMIN).status_code == 204
    for pool in ("p-a800", "p-910b"):
        assert client.delete(f"/pools/{pool}", headers=ADMIN).status_code == 204
    record = run_round_now(client)
    assert record["status"] == "committed" and record["placed"] == 0, record
