"""Liveness and Prometheus metrics."""

from __future__ import annotations

import os

from fastapi import APIRouter, Depends, HTTPException, Request, Response, status
from sqlmodel import func, select, text

from api import models as m
from api.db import utcnow
from api.deps import CatalogDep, Credentials, SessionDep, authenticate

router = APIRouter(tags=["health"])


@router.get("/health", summary="Liveness: the service and its database answer, and which server process answered")
def health(session: SessionDep) -> dict[str, str | int]:
    session.exec(text("SELECT 1"))
    return {"status": "ok", "database": session.get_bind().dialect.name, "pid": os.getpid()}


def _gauge(name: str, help_text: str, value: float, labels: str = "") -> list[str]:
    return [f"# HELP {name} {help_text}", f"# TYPE {name} gauge", f"{name}{labels} {value}"]


async def metrics_reader(request: Request, catalog: CatalogDep, credentials: Credentials) -> None:
    """Anyone when ``PCS_METRICS_PUBLIC`` is set; otherwise an administrator or auditor (a bearer token in the
    scraper's configuration): the figures tell how busy the programme is."""
    if request.app.state.settings.metrics_public:
        return
    user = authenticate(catalog, credentials)
    if user.role not in (m.Role.ADMIN, m.Role.AUDITOR):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "metrics need the role admin or auditor")


@router.get(
    "/metrics",
    summary="Prometheus text format (admin or auditor unless PCS_METRICS_PUBLIC)",
    response_class=Response,
    dependencies=[Depends(metrics_reader)],
)
def metrics(session: SessionDep) -> Response:
    """A few indexed reads: what is costly (the horizon's utilisation) the rounds keep up to date."""
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
    ratio = last.utilisation_ratio if last is not None and last.utilisation_ratio is not None else 0.0
    lines += _gauge(
        "pcs_utilisation_ratio",
        "Committed accelerator-hours over available ones, programme horizon, after the last committed round.",
        ratio,
    )
    return Response("\n".join(lines) + "\n", media_type="text/plain; version=0.0.4; charset=utf-8")
