"""Administrators' what-if: overrides solved on a copy of the live state, as a job the client polls."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Request, status

from api import crud, whatif_jobs
from api import models as m
from api.db import read_session, write_session
from api.deps import Admin, EngineDep, SessionDep, WriteSessionDep

router = APIRouter(prefix="/whatif", tags=["what-if"])


@router.post(
    "",
    response_model=m.WhatIfPublic,
    status_code=status.HTTP_202_ACCEPTED,
    summary="Start a what-if; poll GET /whatif/{id} for the live and variant KPIs side by side",
)
def start(body: m.WhatIfCreate, request: Request, session: WriteSessionDep, admin: Admin) -> Any:
    cap = request.app.state.settings.whatif_open_per_admin
    if whatif_jobs.open_jobs(request.app.state.engine, admin.name) >= cap:
        raise crud.Conflict("whatif", f"at most {cap} what-ifs queued or running per administrator: wait or cancel one")
    job = m.WhatIfJob(id=f"w-{uuid.uuid4().hex[:16]}", created_by=admin.name, overrides=body.model_dump(mode="json"))
    crud.create(session, job, admin.name, "whatif")
    session.commit()
    request.app.state.background.submit_whatif(job.id)
    return job


@router.get(
    "/{job_id}", response_model=m.WhatIfPublic, summary="A what-if job: queued, running, done, failed or cancelled"
)
def poll(job_id: str, session: SessionDep, _: Admin) -> Any:
    return crud.get_or_404(session, m.WhatIfJob, job_id, "whatif")


@router.post("/{job_id}/cancel", response_model=m.WhatIfPublic, summary="Cancel a queued or running what-if")
def cancel(job_id: str, engine: EngineDep, admin: Admin) -> Any:
    with read_session(engine) as session:
        job = crud.get_or_404(session, m.WhatIfJob, job_id, "whatif")
    if not whatif_jobs.cancel(engine, job_id):
        raise crud.Conflict("status", f"a {job.status} what-if cannot be cancelled")
    with write_session(engine) as session:
        crud.audit(session, admin.name, "cancel", "whatif", job_id)
        return crud.get_or_404(session, m.WhatIfJob, job_id, "whatif")
