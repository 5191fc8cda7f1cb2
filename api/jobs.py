"""Allocation rounds (snapshot -> solve -> commit) run by APScheduler, and what-if jobs.

A round takes a lease on the ``round`` row of ``round_lock`` (``SELECT ... FOR UPDATE`` on PostgreSQL, a
``BEGIN IMMEDIATE`` transaction on SQLite), so rounds never overlap, not even across processes; the lease is
short-lived, and the solve runs outside any transaction so that submissions go on meanwhile. After the solve the
round re-reads the state and re-validates the plan on it with :func:`scheduler.rules.validate.violations`, still
outside the write lock (on SQLite that lock stops every submission); under the lock it then checks that nothing
the check depended on changed since (the catalogue version, which triggers move on every change to pools,
vouchers, the policy, the programme, ...; and the placed requests still pending), or else re-reads and
re-validates there. Allocations, voucher debits, request decisions and the round record are written in one
transaction. Anything that fails rolls all of that back; the round is then recorded as failed, with why.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy import insert, update
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from api import crud, mapping, reconcile, reports, whatif_jobs
from api import models as m
from api.catalog import lock_version, stored_version
from api.db import read_session, utcnow, write_session
from api.settings import Settings

log = logging.getLogger("pcs.rounds")

PERMANENT = {"no_eligible_pool", "too_large", "window_too_short", "cost_above_max"}
"""Reasons that no later round can change: the request is rejected. Others leave it pending."""


class RoundBusy(RuntimeError):
    """Another round holds the lease."""


class RoundFailed(RuntimeError):
    """The round could not commit; the database is as it was."""


def _holder() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}:{uuid.uuid4().hex[:8]}"


def _lock_row(session: Session) -> m.RoundLock:
    return session.exec(select(m.RoundLock).where(m.RoundLock.name == "round").with_for_update()).one()


def _take_lease(engine: Engine, settings: Settings, holder: str, trigger: str) -> m.AllocationRound:
    with write_session(engine) as session:
        lock = _lock_row(session)
        now = utcnow()
        if lock.holder is not None and lock.acquired_at is not None:
            alive = lock.heartbeat_at or lock.acquired_at
            if now - alive < timedelta(seconds=settings.lock_stale_s):
                raise RoundBusy(f"round {lock.round_id} is running (since {lock.acquired_at.isoformat()})")
            log.warning("round %s: taking over the lease of %s, silent since %s", lock.round_id, lock.holder, alive)
            stale = session.get(m.AllocationRound, lock.round_id) if lock.round_id else None
            if stale is not None and stale.status == m.RoundStatus.RUNNING:
                stale.status, stale.finished_at = m.RoundStatus.FAILED, now
                stale.error = f"abandoned: its process ({lock.holder}) stopped holding the lease"
                session.add(stale)
        record = m.AllocationRound(
            trigger=trigger,
            time_limit_s=min(settings.round_time_limit_s, settings.round_timeout_s),
            seed=settings.round_seed,
            num_workers=settings.round_workers,
        )
        session.add(record)
        session.flush()
        lock.holder, lock.round_id, lock.acquired_at, lock.heartbeat_at = holder, record.id, now, now
        session.add(lock)
    return record


def _release(session: Session, holder: str) -> None:
    lock = _lock_row(session)
    if lock.holder == holder:
        lock.holder, lock.round_id, lock.acquired_at, lock.heartbeat_at = None, None, None, None
        session.add(lock)


def run_round(
    engine: Engine,
    settings: Settings,
    *,
    trigger: str = "schedule",
    actor: str = "scheduler",
    now: datetime | None = None,
) -> m.AllocationRound:
    """Run one allocation round and return its record (``committed`` or ``failed``).

    Raises
    ------
    RoundBusy
        When another round (in this or another process) holds the lease; nothing is written then.
    """
    now = now or utcnow()
    return finish_round(engine, settings, start_round(engine, settings, trigger), actor=actor, now=now)


@dataclass(frozen=True)
class Lease:
    """A round that holds the lease (its record is ``running``) and keeps it alive by its heartbeat."""

    record: m.AllocationRound
    holder: str
    started: float
    beating: _Heartbeat


def start_round(engine: Engine, settings: Settings, trigger: str = "schedule") -> Lease:
    """Take the round lease and start its heartbeat; raises :class:`RoundBusy` (writing nothing) when it is held."""
    holder, started = _holder(), time.perf_counter()
    record = _take_lease(engine, settings, holder, trigger)
    assert record.id is not None  # flushed under the lease
    return Lease(record, holder, started, _Heartbeat(engine, holder, settings.lock_stale_s / 4))


def finish_round(
    engine: Engine, settings: Settings, lease: Lease, *, actor: str = "scheduler", now: datetime | None = None
) -> m.AllocationRound:
    """Snapshot, solve, re-check and commit the round ``lease`` started; its record, ``committed`` or ``failed``."""
    now = now or utcnow()
    record, holder, started, beating = lease.record, lease.holder, lease.started, lease.beating
    assert record.id is not None
    try:
        with read_session(engine) as session:
            snap = mapping.snapshot(session, now)
        result = None
        if snap is not None:
            result = mapping.solve_snapshot(snap, record.time_limit_s, record.seed, record.num_workers)
        elapsed = time.perf_counter() - started
        if elapsed > settings.round_timeout_s:
            raise RoundFailed(f"timed out: snapshot and solve took {elapsed:.1f} s > {settings.round_timeout_s} s")
        checked = None
        if snap is not None and result is not None:
            with read_session(engine) as session:
                checked = _check(session, snap, result.plan, now, record.id)
        with write_session(engine) as session:
            lock = _lock_row(session)
            if lock.holder != holder:
                raise RoundFailed("the round lost its lease (it ran past lock_stale_s)")
            crud.advance_lifecycle(session, now)
            row = session.get(m.AllocationRound, record.id)
            assert row is not None
            if checked is not None and result is not None:
                if not _hold(session, checked):  # re-read and re-validate under the locks
                    # what it keeps is a part of the plan whose requests and vouchers are already locked
                    checked = _check(session, checked.snap, result.plan, now, record.id)
                _commit_plan(session, checked, result, row, actor, now)
            else:
                row.error = "no programme horizon left (or no programme or policy configured): nothing to allocate"
            session.flush()
            money = reconcile.reconcile(session)  # the state this commit leaves, under the same locks
            row.money_problems = money.num_problems
            if not money.ok:
                log.error("round %s: the money does not reconcile: %s", row.id, "; ".join(money.problems[:5]))
            row.status, row.finished_at = m.RoundStatus.COMMITTED, utcnow()
            row.wall_time_s = time.perf_counter() - started
            session.add(row)
            _release(session, holder)
            crud.audit(session, actor, "commit", "round", row.id, {"placed": row.placed, "trigger": record.trigger})
    except Exception as exc:
        log.exception("round %s failed", record.id)
        return _record_failure(engine, record.id, holder, actor, f"{type(exc).__name__}: {exc}", started)
    finally:
        beating.stop()
    try:  # the round has committed: whatever happens here, it stays committed
        _record_utilisation(engine, row)
    except Exception:
        log.exception("round %s committed, but its utilisation was not recorded", row.id)
    return row


class _Heartbeat:
    """Renews the round lease's ``heartbeat_at`` every ``every_s`` seconds from a thread of its own while the round
    runs, so that a lease goes stale within ``lock_stale_s`` of its process dying, however long a round takes."""

    def __init__(self, engine: Engine, holder: str, every_s: float) -> None:
        self.engine, self.holder, self.every_s = engine, holder, every_s
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._run, name="pcs-round-heartbeat", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        table = m.RoundLock.__table__
        while not self.stopped.wait(self.every_s):
            try:
                with write_session(self.engine) as session:
                    session.execute(
                        update(table)
                        .where(table.c.name == "round", table.c.holder == self.holder)
                        .values(heartbeat_at=utcnow())
                    )
            except Exception:  # the next beat tries again; the round itself notices a lost lease
                log.exception("round lease heartbeat failed")

    def stop(self) -> None:
        self.stopped.set()
        self.thread.join()


@dataclass(frozen=True)
class Checked:
    """A plan solved on ``snap`` and validated on a later state, ``fresh`` (read at ``catalog_version``):
    ``committed`` is ``fresh`` restricted to the requests ``plan`` places."""

    catalog_version: int
    snap: mapping.Snapshot
    fresh: mapping.Snapshot
    committed: mapping.Snapshot
    plan: tuple[Any, ...]
    allocations: list[dict[str, Any]]  # the rows of round ``round_id`` to insert
    kpis: dict[str, Any]


def _check(session: Session, snap: mapping.Snapshot, plan: Any, now: datetime, round_id: int) -> Checked:
    """Re-read the state and re-validate ``plan`` (solved on ``snap``) on it, and compute what the round will
    write, so that the write lock is held only for the writes; raises :class:`RoundFailed`."""
    version = stored_version(session)  # first: the rows read next are at least this new
    fresh = mapping.snapshot(session, now)
    if fresh is None:
        raise RoundFailed("the programme or policy disappeared while the round solved")
    committed, kept = mapping.rebase(snap, fresh, plan)
    broken = mapping.plan_violations(committed, kept)
    if broken:
        raise RoundFailed(f"the plan breaks {len(broken)} rule(s) on the current state, e.g. {broken[0]}")
    allocations = mapping.allocation_rows(committed, kept, round_id)
    return Checked(version, snap, fresh, committed, kept, allocations, mapping.plan_kpis(snap, kept))


def _hold(session: Session, checked: Checked) -> bool:
    """Under the write lock: lock what the commit depends on and say whether the state ``checked`` validated the
    plan on still holds.

    Locks, in this order (a cancel takes request, allocation, voucher; a catalogue writer takes its row, then the
    version row when it commits, so no cycle can form): the placed requests that are still pending, the vouchers
    the plan debits, then the catalogue version row. From there on no cancel can take a placed request out of
    ``pending`` and no change to pools, vouchers, the budget or the policy can commit before the round does; a
    change that committed earlier moved the version, and the caller re-reads and re-validates. Nothing else adds
    allocations (the lease), and requests only ever leave ``pending``. SQLite renders no ``FOR UPDATE``: its
    ``BEGIN IMMEDIATE`` already holds every writer off.
    """
    placed = sorted(p.request_id for p in checked.plan)
    table = m.ComputeRequest.__table__
    still_pending = 0
    for start in range(0, len(placed), crud.ID_CHUNK):
        chunk = placed[start : start + crud.ID_CHUNK]
        locked = session.execute(
            select(table.c.id)
            .where(table.c.id.in_(chunk), table.c.status == m.RequestStatus.PENDING)
            .order_by(table.c.id)
            .with_for_update()
        )
        still_pending += len(locked.all())
    vouchers = sorted({a["voucher_id"] for a in checked.allocations if a["voucher_id"]})
    if vouchers:
        voucher = m.Voucher.__table__
        session.execute(select(voucher.c.id).where(voucher.c.id.in_(vouchers)).order_by(voucher.c.id).with_for_update())
    version = lock_version(session)
    return still_pending == len(placed) and version == checked.catalog_version


def _commit_plan(
    session: Session, checked: Checked, result: Any, row: m.AllocationRound, actor: str, now: datetime
) -> None:
    snap, fresh, plan, allocations = checked.snap, checked.fresh, checked.plan, checked.allocations
    if allocations:
        session.execute(insert(m.Allocation.__table__), allocations)
    decisions = [_decision(a["request_id"], m.RequestStatus.ALLOCATED, None, row.id) for a in allocations]
    for request_id, reason in result.reasons.items():
        if request_id in fresh.problem.request_by_id:
            status = m.RequestStatus.REJECTED if reason.code in PERMANENT else m.RequestStatus.PENDING
            decisions.append(_decision(request_id, status, reason, row.id))
    decisions += [_decision(i, m.RequestStatus.REJECTED, r, row.id) for i, r in fresh.pre_rejected.items()]
    crud.decide_requests(session, decisions, now)
    debits = [
        {
            "voucher_id": a["voucher_id"],
            "amount_fen": -a["subsidy_fen"],
            "kind": m.EntryKind.SUBSIDY,
            "request_id": a["request_id"],
            "round_id": row.id,
        }
        for a in allocations
        if a["subsidy_fen"] and a["voucher_id"]
    ]
    crud.post_entries(session, debits, actor)
    row.horizon_start = snap.problem.horizon.start
    row.inputs_hash, row.policy_version = snap.inputs_hash, snap.policy_version
    row.solver_status, row.result_status = result.solver_status, result.status
    row.objective, row.bound, row.gap = result.objective, result.bound, result.gap
    row.greedy_objective = result.greedy_objective
    row.requests_considered, row.placed = len(snap.problem.requests), len(plan)
    row.subsidy_fen = sum(p.subsidy_fen for p in plan)
    row.kpis = checked.kpis  # over all the requests it considered


def _decision(request_id: str, status: m.RequestStatus, reason: Any, round_id: int | None) -> dict[str, Any]:
    return {
        "b_id": request_id,
        "status": status,
        "reason_code": None if reason is None else reason.code,
        "reason": None if reason is None else reason.sentence,
        "decided_round_id": round_id,
    }


def _record_utilisation(engine: Engine, row: m.AllocationRound) -> None:
    """Store the horizon's utilisation after a committed round, for ``/metrics`` to read rather than compute on
    every scrape (outside the round's transaction: the report reads every allocation)."""
    with read_session(engine) as session:
        ratio = reports.utilisation_ratio(reports.utilisation_frame(session))
    with write_session(engine) as session:
        stored = session.get(m.AllocationRound, row.id)
        if stored is not None:
            stored.utilisation_ratio = row.utilisation_ratio = ratio
            session.add(stored)


def _record_failure(
    engine: Engine, round_id: int | None, holder: str, actor: str, error: str, started: float
) -> m.AllocationRound:
    """Record why the round failed (its own transaction: the round's writes were rolled back) and free the lease."""
    with write_session(engine) as session:
        row = session.get(m.AllocationRound, round_id)
        assert row is not None
        row.status, row.finished_at, row.error = m.RoundStatus.FAILED, utcnow(), error[:2000]
        row.wall_time_s = time.perf_counter() - started
        session.add(row)
        _release(session, holder)
        crud.audit(session, actor, "fail", "round", round_id, {"error": error[:500]})
    return row


class Background:
    """The process's periodic rounds (APScheduler) and its what-if worker threads."""

    def __init__(self, engine: Engine, settings: Settings) -> None:
        self.engine, self.settings = engine, settings
        self.executor = ThreadPoolExecutor(max_workers=settings.whatif_workers, thread_name_prefix="pcs-whatif")
        self.rounds = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pcs-round")
        self.scheduler: BackgroundScheduler | None = None

    def start(self) -> None:
        for job_id in whatif_jobs.recover(self.engine):  # queued before a restart; stale ones are failed
            self.submit_whatif(job_id)
        if self.settings.run_rounds:
            self.scheduler = BackgroundScheduler(timezone="UTC")
            self.scheduler.add_job(
                self.scheduled_round,
                "interval",
                minutes=self.settings.round_minutes,
                id="allocation-round",
                max_instances=1,
                coalesce=True,
                next_run_time=utcnow() + timedelta(seconds=5),
            )
            self.scheduler.start()

    def scheduled_round(self) -> None:
        try:
            record = run_round(self.engine, self.settings)
            log.info("round %s %s: %s placed", record.id, record.status.value, record.placed)
        except RoundBusy as exc:
            log.info("round skipped: %s", exc)

    def submit_round(self, lease: Lease, actor: str) -> None:
        """Finish a round an administrator started (``POST /rounds`` answers 202 at once; the client polls)."""
        self.rounds.submit(self._finish_round, lease, actor)

    def _finish_round(self, lease: Lease, actor: str) -> None:
        record = finish_round(self.engine, self.settings, lease, actor=actor)
        log.info("round %s %s: %s placed", record.id, record.status.value, record.placed)

    def submit_whatif(self, job_id: str) -> None:
        self.executor.submit(whatif_jobs.run, self.engine, self.settings, job_id)

    def stop(self) -> None:
        if self.scheduler is not None:
            self.scheduler.shutdown(wait=False)
        self.executor.shutdown(wait=False, cancel_futures=True)
        self.rounds.shutdown(wait=True)  # a round in flight commits or fails before the process ends
