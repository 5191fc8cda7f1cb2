"""A quote before submitting, and the overrides of an administrator's what-if."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from sqlmodel import Field, SQLModel

from api.models.catalog import MaintenanceCreate, PoolCreate
from api.models.limits import MAX_CAPACITY, MAX_FEN


class QuoteOption(SQLModel):
    """One eligible pool: what the request would cost there, and whether there is room in its window."""

    pool_id: str
    site_id: str
    accelerator_type: str
    run_hours: int
    cost_fen: int
    subsidy_pct: int
    entitlement_fen: int = Field(description="the voucher's share, limited by its balance and the programme budget")
    out_of_pocket_fen: int
    within_max_cost: bool
    capacity_available: bool
    earliest_start_with_room: datetime | None


class Quote(SQLModel):
    org_id: str
    voucher_id: str | None
    voucher_balance_fen: int | None
    capacity_available: bool
    best: QuoteOption | None = Field(description="the cheapest option with room and within max_cost, if any")
    options: list[QuoteOption]


class Outage(MaintenanceCreate):
    pool_id: str = Field(max_length=64)


class WhatIfCreate(SQLModel):
    """Overrides applied to a copy of the live state; live data is never touched."""

    sme_reserve_pct: int | None = Field(default=None, ge=0, le=100)
    voucher_ratio_pct: int | None = Field(default=None, ge=1, le=100, description="applied to every voucher")
    voucher_budget_fen: int | None = Field(default=None, ge=0, le=MAX_FEN)
    pool_capacity: dict[Annotated[str, Field(max_length=64)], Annotated[int, Field(ge=0, le=MAX_CAPACITY)]] = Field(
        default_factory=dict, description="pool id -> new capacity"
    )
    outages: list[Outage] = Field(default_factory=list)
    new_pools: list[PoolCreate] = Field(default_factory=list)
    time_limit_s: float = Field(default=10.0, gt=0, le=600)

    model_config = {
        "extra": "forbid",
        "json_schema_extra": {
            "examples": [
                {
                    "sme_reserve_pct": 30,
                    "voucher_budget_fen": 200000000,
                    "pool_capacity": {"qingpu-h800": 512},
                    "outages": [
                        {
                            "pool_id": "baoshan-a800",
                            "start": "2026-12-09T00:00:00+08:00",
                            "end": "2026-12-10T00:00:00+08:00",
                            "capacity_lost": 512,
                        }
                    ],
                    "time_limit_s": 10,
                }
            ]
        },
    }
