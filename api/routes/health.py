"""Liveness and Prometheus metrics."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterable, Iterator
from contextlib import asynccontextmanager
from datetime import datetime

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request, Response, status
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, func, select, text

from api import models as m
from api.db import utcnow
from api.deps import CatalogDep, Credentials, SessionDep, authenticate

# The text format every Prometheus server version reads; generate_latest writes it for names like ours.
TEXT_FORMAT = "text/plain; version=0.0.4; charset=utf-8"


@asynccontextmanager
async def metrics_registry(app: FastAPI) -> AsyncIterator[None]:
    """Give each app a registry of its own (the process-wide default would be shared by every app a test run
    creates) reading the engine that the app's lifespan has just opened: FastAPI runs an included router's
    lifespan inside the app's."""
    registry = CollectorRegistry()
    registry.register(ProgrammeCollector(app.state.engine))
    app.state.metrics = registry
    yield


router = APIRouter(tags=["health"], lifespan=metrics_registry)


@router.get("/health", summary="Liveness: the service and its database answer, and which server process answered")
def health(session: SessionDep) -> dict[str, str | int]:
    session.connection().execute(text("SELECT 1"))
    return {"status": "ok", "database": session.get_bind().dialect.name, "pid": os.getpid()}


class ProgrammeCollector(Collector):
    """The programme's figures, read at each scrape in a few indexed reads: what is costly (the horizon's
    utilisation) the rounds keep up to date."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def collect(self) -> Iterable[Metric]:
        with Session(self.engine) as session:
            return list(programme_metrics(session, utcnow()))


def _gauge(name: str, help_text: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, help_text, value=value)


def programme_metrics(session: Session, now: datetime) -> Iterator[Metric]:
    pending = session.exec(
        select(func.count()).select_from(m.ComputeRequest).where(m.ComputeRequest.status == m.RequestStatus.PENDING)
    ).one()
    yield _gauge("pcs_requests_pending", "Requests waiting for an allocation round.", pending)
    last = session.exec(
        select(m.AllocationRound)
        .where(m.AllocationRound.status == m.RoundStatus.COMMITTED)
        .order_by(col(m.AllocationRound.id).desc())
        .limit(1)
    ).first()
    if last is not None and last.finished_at is not None:
        yield _gauge(
            "pcs_last_round_timestamp_seconds", "When the last committed round ended.", last.finished_at.timestamp()
        )
        yield _gauge("pcs_last_round_gap", "Relative optimality gap of the last committed round.", last.gap or 0.0)
        yield _gauge(
            "pcs_last_round_duration_seconds", "Wall time of the last committed round.", last.wall_time_s or 0.0
        )
        yield _gauge("pcs_last_round_placed", "Requests placed by the last committed round.", last.placed)
    lock = session.get(m.RoundLock, "round")
    acquired = lock.acquired_at if lock is not None and lock.holder is not None else None
    beat = (lock.heartbeat_at if lock is not None else None) or acquired
    yield _gauge(
        "pcs_round_lease_age_seconds",
        "How long the running round has held its lease (0: no round is running).",
        (now - acquired).total_seconds() if acquired is not None else 0.0,
    )
    yield _gauge(
        "pcs_round_lease_silence_seconds",
        "Since the running round's last heartbeat; past lock_stale_s its process is taken to be dead.",
        (now - beat).total_seconds() if acquired is not None and beat is not None else 0.0,
    )
    rounds = CounterMetricFamily("pcs_rounds_total", "Allocation rounds by outcome.", labels=["status"])
    for round_status, count in session.exec(
        select(m.AllocationRound.status, func.count()).group_by(m.AllocationRound.status)
    ).all():
        rounds.add_metric([m.RoundStatus(round_status).value], count)
    yield rounds
    ratio = last.utilisation_ratio if last is not None and last.utilisation_ratio is not None else 0.0
    yield _gauge(
        "pcs_utilisation_ratio",
        "Committed accelerator-hours over available ones, programme horizon, after the last committed round.",
        ratio,
    )


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
def metrics(request: Request) -> Response:
    return Response(generate_latest(request.app.state.metrics), media_type=TEXT_FORMAT)
