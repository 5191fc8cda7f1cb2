"""The allocation round: lease -> one snapshot -> solve apart -> re-check -> commit (:func:`finish_round`).

A round takes a lease on the ``round`` row of ``round_lock`` (``SELECT ... FOR UPDATE`` on PostgreSQL, a
``BEGIN IMMEDIATE`` transaction on SQLite), so rounds never overlap, not even across processes; a heartbeat keeps
the lease alive while the round runs, and the solve runs outside any transaction so that submissions go on
meanwhile. Allocations, voucher debits, request decisions and the round record are written in one transaction.
Anything that fails rolls all of that back; the round is then recorded as failed, with why.

What a round reads, and when:

1. The snapshot (:func:`api.mapping.snapshot`), in a read transaction: the catalogue, every pending request, the
   live allocations and the subsidy paid. It is the round's only full read of the state it solves.
2. The solve, in a child process (:func:`api.apart.decide_apart`), reads nothing. It runs the platform's online
   policy, as ``pcs simulate`` does (:func:`scheduler.decide_round`): the optimiser plans every pending request, and
   the round commits only the placements that start before the next round (``round_minutes`` after now); the other
   requests stay pending, and a later round decides them again. The solve is deterministic (CP-SAT's
   deterministic time), so the round's record (seed, workers, time limit, ``next_round_slot``,
   ``wait_weight_per_slot``) and inputs give the same plan again.
3. The re-check (:func:`api.round_commit.check`), in a read transaction, still outside the write lock: what may
   have changed since the snapshot (the catalogue tables whose counters moved, the ids of the pending requests and
   the rows of new ones, the live allocations, the subsidy paid). The plan is validated again on that state.
4. Under the write lock, :func:`api.round_commit.hold` locks the placed requests, the vouchers the plan debits and
   the catalogue version row; if any of that moved since the re-check, the re-check runs again there (reading what
   changed since the first one). Then the commit, and the money reconciliation of the state it leaves (aggregate
   queries, under the same locks).
5. After the commit, in transactions of their own: the horizon's utilisation (every allocation), for ``/metrics``.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from api import crud, mapping, reconcile, reports, round_commit
from api import models as m
from api.apart import decide_apart
from api.db import read_session, table, utcnow, write_session
from api.mapping import Snapshot
from api.round_commit import Checked, RoundFailed
from api.settings import Settings
from scheduler import WAIT_WEIGHT_PER_SLOT, Horizon, Reason, RoundDecision, SolveParams

__all__ = ["Lease", "RoundBusy", "RoundFailed", "finish_round", "run_round", "start_round"]

log = logging.getLogger("pcs.rounds")


class RoundBusy(RuntimeError):
    """Another round holds the lease."""


@dataclass(frozen=True)
class Lease:
    """A round that holds the lease (its record is ``running``) and keeps it alive by its heartbeat."""

    record: m.AllocationRound
    holder: str
    started: float
    beating: _Heartbeat


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
        params = SolveParams(
            time_limit_s=record.time_limit_s, seed=record.seed, num_workers=record.num_workers, deterministic=True
        )
        decided, next_slot = None, None
        if snap is not None:
            next_slot = next_round(snap.problem.horizon, now, settings.round_minutes)
            decided = solve_snapshot(snap, next_slot, params)
        elapsed = time.perf_counter() - started
        if elapsed > settings.round_timeout_s:
            raise RoundFailed(f"timed out: snapshot and solve took {elapsed:.1f} s > {settings.round_timeout_s} s")
        checked: Checked | None = None
        if snap is not None and decided is not None:
            with read_session(engine) as session:
                checked = round_commit.check(session, snap, decided[0].committed, now, record.id, since=snap)
        with write_session(engine) as session:
            lock = _lock_row(session)
            if lock.holder != holder:
                raise RoundFailed("the round lost its lease (it ran past lock_stale_s)")
            crud.advance_lifecycle(session, now)
            row = session.get(m.AllocationRound, record.id)
            assert row is not None
            if checked is not None and decided is not None:
                decision, reasons = decided
                row.next_round_slot, row.wait_weight_per_slot = next_slot, WAIT_WEIGHT_PER_SLOT
                if not round_commit.hold(session, checked):  # re-read and re-validate under the locks
                    # what it keeps is a part of the plan whose requests and vouchers are already locked
                    checked = round_commit.check(
                        session, checked.snap, decision.committed, now, record.id, since=checked.fresh
                    )
                round_commit.commit_plan(session, checked, decision, reasons, row, actor, now)
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


def solve_snapshot(snap: Snapshot, next_slot: int, params: SolveParams) -> tuple[RoundDecision, dict[str, Reason]]:
    """The online policy's round on the snapshot's problem (its commitments included, so they never move), in a
    process of its own (:func:`api.apart.decide_apart`): the placements that start before slot ``next_slot``, and
    a reason for every request it leaves pending or rejects."""
    return decide_apart(snap.problem, next_slot, params)


def next_round(horizon: Horizon, now: datetime, round_minutes: float) -> int:
    """The slot of ``horizon`` at which the next round runs, ``round_minutes`` after ``now``: its first slot boundary
    at or after that time, and at least slot 1 (the horizon starts at the slot ``now`` is in, see
    :func:`api.mapping.horizon_at`), so a placement starts before the next round exactly when its slot is below it."""
    return max(1, horizon.slot_at_or_after(now + timedelta(minutes=round_minutes)))


# ---------------------------------------------------------------- the lease


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


class _Heartbeat:
    """Renews the round lease's ``heartbeat_at`` every ``every_s`` seconds from a thread of its own while the round
    runs, so that a lease goes stale within ``lock_stale_s`` of its process dying, however long a round takes."""

    def __init__(self, engine: Engine, holder: str, every_s: float) -> None:
        self.engine, self.holder, self.every_s = engine, holder, every_s
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._run, name="pcs-round-heartbeat", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        locks = table(m.RoundLock)
        while not self.stopped.wait(self.every_s):
            try:
                with write_session(self.engine) as session:
                    session.execute(
                        update(locks)
                        .where(locks.c.name == "round", locks.c.holder == self.holder)
                        .values(heartbeat_at=utcnow())
                    )
            except Exception:  # the next beat tries again; the round itself notices a lost lease
                log.exception("round lease heartbeat failed")

    def stop(self) -> None:
        self.stopped.set()
        self.thread.join()


# ---------------------------------------------------------------- after the commit, or instead of it


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
