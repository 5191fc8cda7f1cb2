"""What-if jobs: queued by ``POST /whatif``, claimed and run by a process's worker thread, cancellable, and
recovered after a restart.

A job moves ``queued`` -> ``running`` -> ``done`` | ``failed``, or to ``cancelled`` from either of the first two.
Every move is a conditional ``UPDATE`` on the status it expects, so a job is claimed by one worker of one process
only (every process requeues what is queued when it starts), and a cancel wins over a result that arrives later.
A ``running`` job whose process died stays so forever unless reaped: one running for longer than twice its time
limit plus :data:`GRACE_S` is failed as abandoned when a process starts.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import select, update
from sqlalchemy.engine import CursorResult, Engine

from api import mapping, whatif
from api import models as m
from api.db import read_session, table, utcnow, write_session
from api.settings import Settings

OPEN = ("queued", "running")
GRACE_S = 120.0


def _move(engine: Engine, job_id: str, expected: tuple[str, ...], **values: Any) -> bool:
    """Set ``values`` on the job if its status is one of ``expected``; whether it was."""
    jobs = table(m.WhatIfJob)
    with write_session(engine) as session:
        statement = update(jobs).where(jobs.c.id == job_id, jobs.c.status.in_(expected)).values(**values)
        done = cast("CursorResult[Any]", session.execute(statement))
        return done.rowcount == 1


def run(engine: Engine, settings: Settings, job_id: str, now: datetime | None = None) -> None:
    """Claim the job (if still queued), solve the live state and its variant on copies, store the comparison
    (unless the job was cancelled meanwhile)."""
    if not _move(engine, job_id, ("queued",), status="running", started_at=utcnow()):
        return  # cancelled, or claimed by another process
    with read_session(engine) as session:
        job = session.get(m.WhatIfJob, job_id)
        overrides = dict(job.overrides) if job is not None else {}
    try:
        with read_session(engine) as session:
            snap = mapping.snapshot(session, now or utcnow())
        if snap is None:
            raise ValueError("no programme horizon left: nothing to compare")
        result, error, status = whatif.compare(snap.problem, overrides, settings.round_workers), None, "done"
    except Exception as exc:
        result, error, status = None, f"{type(exc).__name__}: {exc}"[:2000], "failed"
    _move(engine, job_id, ("running",), status=status, result=result, error=error, finished_at=utcnow())


def open_jobs(engine: Engine, admin: str) -> int:
    """How many of ``admin``'s jobs are queued or running."""
    jobs = table(m.WhatIfJob)
    with read_session(engine) as session:
        query = select(jobs.c.id).where(jobs.c.created_by == admin, jobs.c.status.in_(OPEN))
        return len(session.execute(query).all())


def cancel(engine: Engine, job_id: str) -> bool:
    """Cancel a queued or running job (a running solve finishes in its thread, its result is dropped)."""
    return _move(engine, job_id, OPEN, status="cancelled", finished_at=utcnow(), error="cancelled")


def recover(engine: Engine, now: datetime | None = None) -> list[str]:
    """At a process's start: fail the running jobs whose process must have died, and return the queued ones (to
    requeue: whichever process claims one first runs it)."""
    now = now or utcnow()
    jobs = table(m.WhatIfJob)
    with read_session(engine) as session:
        rows = session.execute(
            select(jobs.c.id, jobs.c.status, jobs.c.started_at, jobs.c.overrides).where(jobs.c.status.in_(OPEN))
        ).all()
    queued = []
    for job_id, status, started_at, overrides in rows:
        if status == "queued":
            queued.append(job_id)
            continue
        limit_s = float((overrides or {}).get("time_limit_s") or 600)
        if started_at is None or now - started_at > timedelta(seconds=2 * limit_s + GRACE_S):
            _move(
                engine,
                job_id,
                ("running",),
                status="failed",
                finished_at=now,
                error="abandoned: the process running it stopped; start the what-if again",
            )
    return queued
