"""Vouchers and their ledger, the programme (budget, horizon) and policy versions."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import FiniteFloat, model_validator
from sqlalchemy import JSON
from sqlmodel import Field, SQLModel

from api.db import UTCDateTime, utcnow
from api.models.catalog import EntityId
from api.models.limits import BIG, MAX_FEN, MAX_RELEASE_HOURS, MAX_WEIGHT, STRICT, Instant, Patch


class EntryKind(StrEnum):
    ISSUE = "issue"  # the voucher's opening balance
    SUBSIDY = "subsidy"  # a round paid part of an allocation (debit)
    REFUND = "refund"  # a cancelled allocation gave its subsidy back (credit)
    ADJUSTMENT = "adjustment"  # an administrator's credit or debit


class VoucherBase(SQLModel):
    org_id: str = Field(foreign_key="org.id", index=True, max_length=64)
    ratio_pct: int = Field(ge=1, le=100)
    valid_from: Instant = Field(sa_type=UTCDateTime)
    valid_until: Instant = Field(sa_type=UTCDateTime)

    @model_validator(mode="after")
    def _ordered(self) -> VoucherBase:
        if self.valid_from.tzinfo is None or self.valid_until.tzinfo is None:
            raise ValueError("valid_from, valid_until: must carry a UTC offset, e.g. +08:00")
        if self.valid_until <= self.valid_from:
            raise ValueError("valid_until: must be after valid_from")
        return self


class Voucher(VoucherBase, table=True):
    id: str = Field(primary_key=True, max_length=64)
    balance_fen: int = Field(ge=0, le=MAX_FEN, sa_type=BIG)


class VoucherCreate(VoucherBase):
    model_config = STRICT

    id: EntityId
    balance_fen: int = Field(ge=0, le=MAX_FEN, description="opening balance, recorded in the ledger as an issue entry")


class VoucherUpdate(Patch):
    ratio_pct: int | None = Field(default=None, ge=1, le=100)
    valid_from: Instant | None = None
    valid_until: Instant | None = None


class VoucherPublic(VoucherBase):
    id: str
    balance_fen: int


class VoucherEntry(SQLModel, table=True):
    """One line of a voucher's ledger: the balance is always the sum of its entries."""

    id: int | None = Field(default=None, primary_key=True)
    voucher_id: str = Field(foreign_key="voucher.id", index=True, max_length=64)
    amount_fen: int = Field(sa_type=BIG)
    kind: EntryKind
    request_id: str | None = Field(default=None, max_length=64)
    round_id: int | None = None
    note: str = Field(default="", max_length=500)
    actor: str = Field(default="", max_length=100)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class VoucherEntryPublic(SQLModel):
    id: int
    voucher_id: str
    amount_fen: int
    kind: EntryKind
    request_id: str | None
    round_id: int | None
    note: str
    actor: str
    created_at: datetime


class AdjustmentCreate(SQLModel):
    """A manual credit (> 0) or debit (< 0); a debit never takes the balance below zero."""

    model_config = STRICT

    amount_fen: int = Field(ge=-MAX_FEN, le=MAX_FEN, description="fen; negative to debit")
    note: str = Field(default="", max_length=500)

    @model_validator(mode="after")
    def _non_zero(self) -> AdjustmentCreate:
        if self.amount_fen == 0:
            raise ValueError("amount_fen: must not be zero")
        return self


class VoucherBalance(SQLModel):
    voucher: VoucherPublic
    ledger_sum_fen: int
    entries: list[VoucherEntryPublic]


# ---------------------------------------------------------------- programme and policy


class ProgrammeBase(SQLModel):
    voucher_budget_fen: int = Field(ge=0, le=MAX_FEN, sa_type=BIG)
    domestic_bonus_pct: int = Field(default=0, ge=0, le=100)
    green_bonus_pct: int = Field(default=0, ge=0, le=100)
    green_share_threshold: FiniteFloat = Field(default=0.5, ge=0, le=1)


class Programme(ProgrammeBase, table=True):
    """The single programme row: its budget, reward rules and planning horizon."""

    id: int = Field(default=1, primary_key=True)
    name: str = Field(default="programme", max_length=200)
    horizon_start: datetime = Field(sa_type=UTCDateTime)
    slot_minutes: int = Field(gt=0)
    horizon_slots: int = Field(gt=0)
    utc_offset_minutes: int = Field(default=0, description="the programme's local time, for daily reports")


class ProgrammeUpdate(Patch):
    voucher_budget_fen: int | None = Field(default=None, ge=0, le=MAX_FEN)
    domestic_bonus_pct: int | None = Field(default=None, ge=0, le=100)
    green_bonus_pct: int | None = Field(default=None, ge=0, le=100)
    green_share_threshold: FiniteFloat | None = Field(default=None, ge=0, le=1)


class ProgrammePublic(ProgrammeBase):
    name: str
    horizon_start: datetime
    slot_minutes: int
    horizon_slots: int
    utc_offset_minutes: int
    subsidy_paid_fen: int = 0
    budget_left_fen: int = 0


CLASS_NAMES = ("sme", "large", "research", "key_project")


class PolicyBase(SQLModel):
    sme_reserve_pct: int = Field(ge=0, le=100)
    reserve_release_hours: int = Field(ge=0, le=MAX_RELEASE_HOURS)
    class_weights: dict[str, float] = Field(sa_type=JSON)
    carbon_weight_per_kg: FiniteFloat = Field(ge=0, le=MAX_WEIGHT)
    delay_weight_per_slot: FiniteFloat = Field(default=0.0005, ge=0, lt=1)

    @model_validator(mode="after")
    def _weights(self) -> PolicyBase:
        for name, weight in self.class_weights.items():
            if name not in CLASS_NAMES:
                raise ValueError(f"class_weights.{name}: unknown class; allowed: {', '.join(CLASS_NAMES)}")
            if not 0 <= weight <= MAX_WEIGHT:  # also refuses NaN
                raise ValueError(f"class_weights.{name}: must be a number from 0 to {MAX_WEIGHT:g}")
        missing = [name for name in CLASS_NAMES if name not in self.class_weights]
        if missing:
            raise ValueError(f"class_weights: missing {', '.join(missing)}")
        return self


class PolicyVersion(PolicyBase, table=True):
    """Policies are never edited in place: every change is a new version."""

    id: int | None = Field(default=None, primary_key=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    created_by: str = Field(default="", max_length=100)


class PolicyCreate(PolicyBase):
    model_config = {
        "extra": "forbid",
        "json_schema_extra": {
            "examples": [
                {
                    "sme_reserve_pct": 25,
                    "reserve_release_hours": 24,
                    "class_weights": {"key_project": 4, "sme": 3, "research": 2, "large": 1},
                    "carbon_weight_per_kg": 0.2,
                    "delay_weight_per_slot": 0.0005,
                }
            ]
        },
    }


class PolicyPublic(PolicyBase):
    id: int
    created_at: datetime
    created_by: str


def model_dump_changes(update: SQLModel) -> dict[str, Any]:
    """The fields an update model actually sets."""
    return update.model_dump(exclude_unset=True)


class MoneyAudit(SQLModel):
    """The money reconciliation (``api.reconcile``): whether it holds, and each problem it found."""

    ok: bool
    num_problems: int
    problems: list[str]
    vouchers_checked: int
    live_subsidy_fen: int
    subsidy_paid_fen: int
    voucher_budget_fen: int
