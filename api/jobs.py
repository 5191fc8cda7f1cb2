"""The process's background work: periodic allocation rounds (APScheduler), rounds an administrator started,
and what-if jobs, each on threads of their own. What a round does is :mod:`api.rounds`'s business."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy.engine import Engine

from api import whatif_jobs
from api.db import utcnow
from api.rounds import Lease, RoundBusy, finish_round, run_round
from api.settings import Settings

log = logging.getLogger("pcs.rounds")


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
