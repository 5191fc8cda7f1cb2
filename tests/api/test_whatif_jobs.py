"""What-if jobs: a cap per administrator, a cancel, and recovery after a restart (queued ones run, abandoned
running ones fail with a reason); a job is run by one worker only."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from api import models as m
from api import whatif_jobs
from api.db import utcnow, write_session
from tests.api.tiny import ADMIN


def park(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep new jobs queued: this process's worker does not pick them up."""
    monkeypatch.setattr(client.app.state.background, "submit_whatif", lambda job_id: None)


def test_an_administrator_may_have_only_a_few_what_ifs_open_and_can_cancel_one(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    park(client, monkeypatch)
    cap = client.app.state.settings.whatif_open_per_admin
    ids = [client.post("/whatif", headers=ADMIN, json={"time_limit_s": 1}).json()["id"] for _ in range(cap)]
    refused = client.post("/whatif", headers=ADMIN, json={"time_limit_s": 1})
    assert refused.status_code == 409 and refused.json()["detail"][0]["field"] == "whatif"
    cancelled = client.post(f"/whatif/{ids[0]}/cancel", headers=ADMIN)
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert client.post(f"/whatif/{ids[0]}/cancel", headers=ADMIN).status_code == 409
    assert client.post("/whatif", headers=ADMIN, json={"time_limit_s": 1}).status_code == 202
    # a cancelled job is never run, not even by a worker that picks it up later
    whatif_jobs.run(client.app.state.engine, client.app.state.settings, ids[0])
    assert client.get(f"/whatif/{ids[0]}", headers=ADMIN).json()["status"] == "cancelled"


def test_after_a_restart_queued_jobs_run_and_abandoned_ones_fail(
    client: TestClient, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    park(client, monkeypatch)
    queued, abandoned, alive = (
        client.post("/whatif", headers=ADMIN, json={"time_limit_s": 1}).json()["id"] for _ in range(3)
    )
    with write_session(engine) as session:
        for job_id, started in ((abandoned, utcnow() - timedelta(hours=1)), (alive, utcnow())):
            job = session.get(m.WhatIfJob, job_id)
            job.status, job.started_at = "running", started
            session.add(job)
    assert whatif_jobs.recover(engine) == [queued]
    statuses = {i: client.get(f"/whatif/{i}", headers=ADMIN).json() for i in (queued, abandoned, alive)}
    assert statuses[abandoned]["status"] == "failed" and "abandoned" in statuses[abandoned]["error"]
    assert statuses[alive]["status"] == "running"  # its process may well be alive: left alone
    settings = client.app.state.settings
    real, runs = whatif_jobs.whatif.compare, []
    monkeypatch.setattr(whatif_jobs.whatif, "compare", lambda *a: runs.append(1) or real(*a))
    whatif_jobs.run(engine, settings, queued)
    whatif_jobs.run(engine, settings, queued)  # a second process that requeued it too: no second run
    done = client.get(f"/whatif/{queued}", headers=ADMIN).json()
    assert done["status"] == "done" and done["result"] and len(runs) == 1
