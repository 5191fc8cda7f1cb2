"""Liveness and Prometheus metrics."""

from __future__ import annotations

import os

from fastapi import APIRouter, Response
from sqlmodel import func, select, text

from api import models as m
from api import reports
from api.db import utcnow
from api.deps import SessionDep

router = APIRouter(tags=["health"])


@router.get("/health", summary="Liveness: the service and its database answer, and which server process answered")
def health(session: SessionDep) -> dict[str, str | int]:
    session.exec(text("SELECT 1"))
    return {"status": "ok", "database": session.get_bind().dialect.name, "pid": os.getpid()}


def _gauge(name: str, help_text: str, value: float, labels: str = "") -> list[str]:
    return [f"# HELP {name} {help_text}", f"# TYPE {name} gauge", f"{name}{labels} {value}"]


@router.get("/metrics", summary="Prometheus text format", response_class=Response)
def metrics(session: SessionDep) -> Response:
    pending = session.exec(
        select(func.count()).select_from(m.ComputeRequest).where(m.ComputeRequest.status == m.RequestStatus.PENDING)
    ).one()
    lines = _gauge("pcs_requests_pending", "Requests waiting for an allocation round.", pending)
    last = session.exec(
        select(m.AllocationRound)
        .where(m.AllocationRound.status == m.RoundStatus.COMMITTED)
        .order_by(m.AllocationRound.id.desc())
        .limit(1)
    ).first()
    if last is not None and last.finished_at is not None:
        lines += _gauge(
            "pcs_last_round_timestamp_seconds", "When the last committed round ended.", last.finished_at.timestamp()
        )
        lines += _gauge("pcs_last_round_gap", "Relative optimality gap of the last committed round.", last.gap or 0.0)
        lines += _gauge(
            "pcs_last_round_duration_seconds", "Wall time of the last committed round.", last.wall_time_s or 0.0
        )
        lines += _gauge("pcs_last_round_placed", "Requests placed by the last committed round.", last.placed)
    lock = session.get(m.RoundLock, "round")
    held = lock is not None and lock.holder is not None and lock.acquired_at is not None
    now = utcnow()
    lines += _gauge(
        "pcs_round_lease_age_seconds",
        "How long the running round has held its lease (0: no round is running).",
        (now - lock.acquired_at).total_seconds() if held else 0.0,
    )
    lines += _gauge(
        "pcs_round_lease_silence_seconds",
        "Since the running round's last heartbeat; past lock_stale_s its process is taken to be dead.",
        (now - (lock.heartbeat_at or lock.acquired_at)).total_seconds() if held else 0.0,
    )
    counts = session.exec(select(m.AllocationRound.status, func.count()).group_by(m.AllocationRound.status)).all()
    lines += ["# HELP pcs_rounds_total Allocation rounds by outcome.", "# TYPE pcs_rounds_total counter"]
    lines += [f'pcs_rounds_total{{status="{s.value}"}} {n}' for s, n in counts]
    ratio = reports.utilisation_ratio(reports.utilisation_frame(session))
    lines += _gauge(
        "pcs_utilisation_ratio", "Committed accelerator-hours over available ones, programme horizon.", ratio
    )
    return Response("\n".join(lines) + "\n", media_type="text/plain; version=0.0.4; charset=utf-8")
