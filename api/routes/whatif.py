"""Administrators' what-if: overrides solved on a copy of the live state, as a job the client polls."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Request, status

from api import crud
from api import models as m
from api.deps import Admin, SessionDep, WriteSessionDep

router = APIRouter(prefix="/whatif", tags=["what-if"])


@router.post(
    "",
    response_model=m.WhatIfPublic,
    status_code=status.HTTP_202_ACCEPTED,
    summary="Start a what-if; poll GET /whatif/{id} for the live and variant KPIs side by side",
)
def start(body: m.WhatIfCreate, request: Request, session: WriteSessionDep, admin: Admin) -> Any:
    job = m.WhatIfJob(id=f"w-{uuid.uuid4().hex[:16]}", created_by=admin.name, overrides=body.model_dump(mode="json"))
    crud.create(session, job, admin.name, "whatif")
    session.commit()
    request.app.state.background.submit_whatif(job.id)
    return job


@router.get("/{job_id}", response_model=m.WhatIfPublic, summary="A what-if job: queued, running, done or failed")
def poll(job_id: str, session: SessionDep, _: Admin) -> Any:
    return crud.get_or_404(session, m.WhatIfJob, job_id, "whatif")
