"""Sites, pools with their maintenance windows, organisations and users (the XBase/X/XCreate/XUpdate/XPublic family)."""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum
from fractions import Fraction
from typing import Annotated

from pydantic import FiniteFloat, StringConstraints, field_validator, model_validator
from sqlmodel import Field, SQLModel

from api.db import UTCDateTime
from api.models.limits import (
    BIG,
    MAX_CAPACITY,
    MAX_GRID_CO2_G_PER_KWH,
    MAX_POWER_W,
    MAX_PRICE_FEN_PER_HOUR,
    STRICT,
    Instant,
    Patch,
)

ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
EntityId = Annotated[str, StringConstraints(pattern=ID_PATTERN)]


def check_speed(value: str | None) -> str | None:
    """A speed is written like ``0.8`` or ``2/3`` and is > 0 (kept as text so that it stays exact)."""
    if value is None:
        return None
    try:
        speed = Fraction(str(value).strip())
    except (ValueError, ZeroDivisionError):
        raise ValueError(f"must be a number such as 0.8 or 2/3, got {value!r}") from None
    if speed <= 0:
        raise ValueError(f"must be > 0, got {value!r}")
    return str(value).strip()


class Role(StrEnum):
    SME = "sme"
    ADMIN = "admin"
    AUDITOR = "auditor"


class OrgClassName(StrEnum):
    SME = "sme"
    LARGE = "large"
    RESEARCH = "research"
    KEY_PROJECT = "key_project"


# ---------------------------------------------------------------- sites


class SiteBase(SQLModel):
    name: str = Field(min_length=1, max_length=200)
    region: str = Field(min_length=1, max_length=100)
    pue: FiniteFloat = Field(ge=1.0, le=3.0)
    grid_co2_g_per_kwh: FiniteFloat = Field(ge=0, le=MAX_GRID_CO2_G_PER_KWH)
    green_share: FiniteFloat = Field(default=0.0, ge=0, le=1)


class Site(SiteBase, table=True):
    id: str = Field(primary_key=True, max_length=64)


class SiteCreate(SiteBase):
    model_config = STRICT

    id: EntityId


class SiteUpdate(Patch):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    region: str | None = Field(default=None, min_length=1, max_length=100)
    pue: FiniteFloat | None = Field(default=None, ge=1.0, le=3.0)
    grid_co2_g_per_kwh: FiniteFloat | None = Field(default=None, ge=0, le=MAX_GRID_CO2_G_PER_KWH)
    green_share: FiniteFloat | None = Field(default=None, ge=0, le=1)


class SitePublic(SiteBase):
    id: str


# ---------------------------------------------------------------- pools


class PoolBase(SQLModel):
    site_id: str = Field(foreign_key="site.id", max_length=64)
    accelerator_type: str = Field(min_length=1, max_length=64, index=True)
    capacity: int = Field(gt=0, le=MAX_CAPACITY)
    price_fen_per_hour: int = Field(ge=0, le=MAX_PRICE_FEN_PER_HOUR, sa_type=BIG)
    speed: str = Field(default="1", max_length=32, description="relative to the reference accelerator, e.g. 0.8")
    power_w: int = Field(gt=0, le=MAX_POWER_W)
    domestic: bool = False

    @field_validator("speed")
    @classmethod
    def _speed(cls, value: str | None) -> str | None:
        return check_speed(value)


class Pool(PoolBase, table=True):
    id: str = Field(primary_key=True, max_length=64)


class PoolCreate(PoolBase):
    id: EntityId

    model_config = {
        "extra": "forbid",
        "json_schema_extra": {
            "examples": [
                {
                    "id": "lingang-910b-2",
                    "site_id": "lingang",
                    "accelerator_type": "910B",
                    "capacity": 512,
                    "price_fen_per_hour": 350,
                    "speed": "0.8",
                    "power_w": 400,
                    "domestic": True,
                }
            ]
        },
    }


class PoolUpdate(Patch):
    capacity: int | None = Field(default=None, gt=0, le=MAX_CAPACITY)
    price_fen_per_hour: int | None = Field(default=None, ge=0, le=MAX_PRICE_FEN_PER_HOUR)
    speed: str | None = None
    power_w: int | None = Field(default=None, gt=0, le=MAX_POWER_W)
    domestic: bool | None = None

    @field_validator("speed")
    @classmethod
    def _speed(cls, value: str | None) -> str | None:
        return check_speed(value)


class PoolPublic(PoolBase):
    id: str


class MaintenanceBase(SQLModel):
    start: Instant = Field(sa_type=UTCDateTime)
    end: Instant = Field(sa_type=UTCDateTime)
    capacity_lost: int = Field(gt=0, le=MAX_CAPACITY)

    @model_validator(mode="after")
    def _ordered(self) -> MaintenanceBase:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("start, end: must carry a UTC offset, e.g. +08:00")
        if self.end <= self.start:
            raise ValueError("end: must be after start")
        return self


class Maintenance(MaintenanceBase, table=True):
    id: int | None = Field(default=None, primary_key=True)
    pool_id: str = Field(foreign_key="pool.id", index=True, max_length=64)


class MaintenanceCreate(MaintenanceBase):
    """A maintenance window as an administrator posts it (the pool comes from the path)."""

    model_config = STRICT


class MaintenancePublic(MaintenanceBase):
    id: int
    pool_id: str


# ---------------------------------------------------------------- organisations and users


class OrgBase(SQLModel):
    name: str = Field(min_length=1, max_length=200)
    org_class: OrgClassName


class Org(OrgBase, table=True):
    id: str = Field(primary_key=True, max_length=64)


class OrgCreate(OrgBase):
    model_config = STRICT

    id: EntityId


class OrgUpdate(Patch):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    org_class: OrgClassName | None = None


class OrgPublic(OrgBase):
    id: str


class UserBase(SQLModel):
    name: str = Field(min_length=1, max_length=100, unique=True)
    role: Role
    org_id: str | None = Field(default=None, foreign_key="org.id", max_length=64)


class User(UserBase, table=True):
    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(unique=True, max_length=64)
    token_expires_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


def token_expiry(now: datetime, ttl_days: float) -> datetime | None:
    """When a token issued at ``now`` stops working (``PCS_TOKEN_TTL_DAYS``; 0: never)."""
    return now + timedelta(days=ttl_days) if ttl_days > 0 else None


class UserCreate(UserBase):
    model_config = STRICT

    @model_validator(mode="after")
    def _org_for_sme(self) -> UserCreate:
        if self.role is Role.SME and not self.org_id:
            raise ValueError("org_id: an sme user must belong to an organisation")
        return self


class UserPublic(UserBase):
    id: int
    token_expires_at: datetime | None = None


class UserWithToken(UserPublic):
    token: str = Field(description="shown once; only its SHA-256 hash is stored")


# ---------------------------------------------------------------- the catalogue's version


class CatalogVersion(SQLModel, table=True):
    """One row whose ``version`` database triggers raise on every write to sites, pools, maintenance windows,
    organisations, users, vouchers, policy versions and the programme (migration 0002), so that a process can
    tell in one read whether its cached catalogue (:mod:`api.catalog`) is current; ``v_<table>`` moves with the
    writes to that table only (migration 0004), so that it reloads just the tables that changed."""

    __tablename__ = "catalog_version"

    id: int = Field(default=1, primary_key=True)
    version: int = 0
    v_site: int = 0
    v_pool: int = 0
    v_maintenance: int = 0
    v_org: int = 0
    v_user: int = 0
    v_voucher: int = 0
    v_policyversion: int = 0
    v_programme: int = 0
