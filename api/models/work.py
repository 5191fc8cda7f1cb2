"""Requests and their lifecycle, allocations, allocation rounds and their lock, what-if jobs, the audit log."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from pydantic import model_validator
from sqlalchemy import JSON, UniqueConstraint
from sqlmodel import Field, SQLModel

from api.db import UTCDateTime, utcnow
from api.models.catalog import EntityId
from api.models.limits import BIG, MAX_ACCELERATORS, MAX_CNY, MAX_HOURS, Instant


class RequestStatus(StrEnum):
    PENDING = "pending"
    ALLOCATED = "allocated"
    REJECTED = "rejected"
    CANCELLED = "cancelled"
    RUNNING = "running"
    COMPLETED = "completed"


class RequestBase(SQLModel):
    """The fields of ``requests.csv``; ``accelerator_types`` and ``sites`` are ``;``-separated or ``*``."""

    accelerators: int = Field(gt=0, le=MAX_ACCELERATORS)
    duration_hours: int = Field(gt=0, le=MAX_HOURS)
    earliest_start: Instant = Field(sa_type=UTCDateTime)
    deadline: Instant = Field(sa_type=UTCDateTime)
    accelerator_types: str = Field(default="*", min_length=1, max_length=500)
    sites: str = Field(default="*", min_length=1, max_length=500)
    voucher_id: str | None = Field(default=None, max_length=64)

    @model_validator(mode="after")
    def _window(self) -> RequestBase:
        if self.earliest_start.tzinfo is None:
            raise ValueError("earliest_start: must carry a UTC offset, e.g. 2026-12-08T09:00:00+08:00")
        if self.deadline.tzinfo is None:
            raise ValueError("deadline: must carry a UTC offset, e.g. 2026-12-09T09:00:00+08:00")
        if self.deadline <= self.earliest_start:
            raise ValueError("deadline: must be after earliest_start")
        return self


class ComputeRequest(RequestBase, table=True):
    __tablename__ = "compute_request"
    __table_args__ = (UniqueConstraint("org_id", "idempotency_key", name="uq_request_idempotency"),)

    id: str = Field(primary_key=True, max_length=64)
    org_id: str = Field(foreign_key="org.id", index=True, max_length=64)
    max_cost_fen: int | None = Field(default=None, sa_type=BIG)
    status: RequestStatus = Field(default=RequestStatus.PENDING, index=True)
    reason_code: str | None = Field(default=None, max_length=64)
    reason: str | None = Field(default=None, max_length=500)
    decided_round_id: int | None = None
    idempotency_key: str | None = Field(default=None, max_length=200)
    submitted_by: str = Field(default="", max_length=100)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class RequestCreate(RequestBase):
    request_id: EntityId | None = Field(default=None, description="generated when left out")
    org_id: str | None = Field(
        default=None, max_length=64, description="administrators only; an SME submits for its own"
    )
    # sqlmodel types ``le`` as a float; pydantic compares the Decimal bound exactly
    max_cost_cny: Decimal | None = Field(default=None, ge=0, le=MAX_CNY, decimal_places=2)  # type: ignore[call-overload]

    model_config = {
        "extra": "forbid",
        "json_schema_extra": {
            "examples": [
                {
                    "accelerators": 64,
                    "duration_hours": 12,
                    "earliest_start": "2026-12-08T08:00:00+08:00",
                    "deadline": "2026-12-10T08:00:00+08:00",
                    "accelerator_types": "910B;A800",
                    "sites": "*",
                    "max_cost_cny": "5000.00",
                    "voucher_id": "v-sme-001",
                }
            ]
        },
    }


class RequestPublic(RequestBase):
    id: str
    org_id: str
    max_cost_fen: int | None
    status: RequestStatus
    reason_code: str | None
    reason: str | None
    decided_round_id: int | None
    created_at: datetime
    updated_at: datetime


class AllocationStatus(StrEnum):
    ALLOCATED = "allocated"
    RUNNING = "running"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


class Allocation(SQLModel, table=True):
    """A committed placement; later rounds never move it (they see it as a commitment)."""

    id: int | None = Field(default=None, primary_key=True)
    request_id: str = Field(foreign_key="compute_request.id", unique=True, max_length=64)
    round_id: int = Field(foreign_key="allocation_round.id", index=True)
    org_id: str = Field(foreign_key="org.id", index=True, max_length=64)
    org_class: str = Field(max_length=32)
    pool_id: str = Field(foreign_key="pool.id", index=True, max_length=64)
    accelerators: int
    start: datetime = Field(sa_type=UTCDateTime)
    end: datetime = Field(sa_type=UTCDateTime)
    cost_fen: int = Field(sa_type=BIG)
    subsidy_fen: int = Field(default=0, sa_type=BIG)
    voucher_id: str | None = Field(default=None, max_length=64)
    energy_wh: int = Field(default=0, sa_type=BIG)
    co2_g: int = Field(default=0, sa_type=BIG)
    status: AllocationStatus = Field(default=AllocationStatus.ALLOCATED, index=True)


class AllocationPublic(SQLModel):
    id: int
    request_id: str
    round_id: int
    org_id: str
    pool_id: str
    accelerators: int
    start: datetime
    end: datetime
    cost_fen: int
    subsidy_fen: int
    out_of_pocket_fen: int
    voucher_id: str | None
    co2_g: int
    status: AllocationStatus


class Decision(SQLModel):
    """A request and what became of it: its allocation, or the reason it has none."""

    request_id: str
    org_id: str
    status: RequestStatus
    allocation: AllocationPublic | None = None
    reason_code: str | None = None
    reason: str | None = None


class RoundStatus(StrEnum):
    RUNNING = "running"
    COMMITTED = "committed"
    FAILED = "failed"


class AllocationRound(SQLModel, table=True):
    __tablename__ = "allocation_round"

    id: int | None = Field(default=None, primary_key=True)
    trigger: str = Field(default="schedule", max_length=32)
    status: RoundStatus = Field(default=RoundStatus.RUNNING)
    started_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    finished_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    horizon_start: datetime | None = Field(default=None, sa_type=UTCDateTime)
    inputs_hash: str | None = Field(default=None, max_length=64)
    policy_version: int | None = None
    time_limit_s: float = 0.0
    seed: int = 0
    num_workers: int = 1
    next_round_slot: int | None = Field(default=None, description="it committed the placements before this slot")
    wait_weight_per_slot: float | None = Field(default=None, description="the optimiser's value of a slot of waiting")
    solver_status: str | None = Field(default=None, max_length=32)
    result_status: str | None = Field(default=None, max_length=32)
    objective: float | None = None
    bound: float | None = None
    gap: float | None = None
    greedy_objective: float | None = None
    wall_time_s: float | None = None
    requests_considered: int = 0
    placed: int = 0
    subsidy_fen: int = Field(default=0, sa_type=BIG)
    kpis: dict[str, Any] | None = Field(default=None, sa_type=JSON)
    money_problems: int | None = Field(default=None, description="what the reconciliation found at its commit")
    utilisation_ratio: float | None = Field(default=None, description="the horizon's, after its commit")
    error: str | None = Field(default=None, max_length=2000)


class RoundPublic(SQLModel):
    id: int
    trigger: str
    status: RoundStatus
    started_at: datetime
    finished_at: datetime | None
    horizon_start: datetime | None
    inputs_hash: str | None
    policy_version: int | None
    time_limit_s: float
    seed: int
    num_workers: int
    next_round_slot: int | None
    wait_weight_per_slot: float | None
    solver_status: str | None
    result_status: str | None
    objective: float | None
    bound: float | None
    gap: float | None
    greedy_objective: float | None
    wall_time_s: float | None
    requests_considered: int
    placed: int
    subsidy_fen: int
    kpis: dict[str, Any] | None
    money_problems: int | None
    utilisation_ratio: float | None
    error: str | None


class RoundLock(SQLModel, table=True):
    """One row per lock name; a round holds ``round`` from snapshot to commit (a lease across processes)."""

    __tablename__ = "round_lock"

    name: str = Field(primary_key=True, max_length=32)
    holder: str | None = Field(default=None, max_length=100)
    round_id: int | None = None
    acquired_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    heartbeat_at: datetime | None = Field(
        default=None, sa_type=UTCDateTime, description="the holder's last sign of life"
    )


class AuditEntry(SQLModel, table=True):
    __tablename__ = "audit_log"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)
    actor: str = Field(max_length=100)
    action: str = Field(max_length=32)
    entity: str = Field(max_length=32)
    entity_id: str = Field(max_length=64)
    detail: dict[str, Any] | None = Field(default=None, sa_type=JSON)


class AuditPublic(SQLModel):
    id: int
    at: datetime
    actor: str
    action: str
    entity: str
    entity_id: str
    detail: dict[str, Any] | None


class WhatIfJob(SQLModel, table=True):
    __tablename__ = "whatif_job"

    id: str = Field(primary_key=True, max_length=64)
    status: str = Field(default="queued", max_length=16)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    started_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    finished_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_by: str = Field(default="", max_length=100)
    overrides: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    result: dict[str, Any] | None = Field(default=None, sa_type=JSON)
    error: str | None = Field(default=None, max_length=2000)


class WhatIfPublic(SQLModel):
    id: str
    status: str
    created_at: datetime
    finished_at: datetime | None
    overrides: dict[str, Any]
    result: dict[str, Any] | None
    error: str | None
