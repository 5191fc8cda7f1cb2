"""The limits on every number and text the API takes, declared once so that SQLite and PostgreSQL accept
exactly the same values, and every input model says ``extra="forbid"`` through :data:`STRICT`.

Money is integer fen in 64-bit columns (``BigInteger``): :data:`MAX_FEN` (CNY 100 billion, far above any city
programme) keeps a balance, a budget and any sum of them far from 2**63, so no addition can overflow. Energy
and carbon are 64-bit too. Floats must be finite. Instants must carry an offset and lie in :data:`YEARS` once
converted to UTC (Python's datetime overflows near years 1 and 9999 when an offset is applied).
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import AfterValidator, model_validator
from sqlalchemy import BigInteger
from sqlmodel import SQLModel
from sqlmodel.main import SQLModelConfig

MAX_FEN = 10**13
"""The largest amount of money in fen (CNY 100,000,000,000) any field, balance or budget may hold."""
MAX_CNY = Decimal(MAX_FEN) / 100
MAX_ACCELERATORS = 100_000
MAX_HOURS = 100_000
MAX_PRICE_FEN_PER_HOUR = 10**7  # CNY 100,000 per card-hour
MAX_POWER_W = 100_000
MAX_CAPACITY = 1_000_000
MAX_WEIGHT = 1_000.0  # class weights, carbon weight per kg
MAX_GRID_CO2_G_PER_KWH = 10_000.0
MAX_RELEASE_HOURS = 87_600  # ten years
MAX_LIMIT = 10_000  # rows a list may ask for
MAX_ID = 2**31 - 1  # integer ids in paths and queries: the serial keys are 32-bit
YEARS = (2000, 2200)

BIG = BigInteger
"""The column type of money (``*_fen``), energy (``*_wh``) and carbon (``*_g``)."""

STRICT = SQLModelConfig(extra="forbid")
"""Input models refuse fields they do not know (``"gpu_type"`` is an error, not silently dropped)."""


def _instant(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("must carry a UTC offset, e.g. 2026-12-08T09:00:00+08:00")
    try:
        utc = value.astimezone(UTC)
    except OverflowError:
        raise ValueError(f"must lie between the years {YEARS[0]} and {YEARS[1]}") from None
    if not YEARS[0] <= utc.year < YEARS[1]:
        raise ValueError(f"must lie between the years {YEARS[0]} and {YEARS[1]}")
    return value


Instant = Annotated[datetime, AfterValidator(_instant)]
"""An aware datetime within :data:`YEARS`."""


class Patch(SQLModel):
    """The base of update models: a field left out keeps its stored value; an explicit ``null`` is refused (every
    stored field has a value), and so is an unknown field."""

    model_config = STRICT

    @model_validator(mode="before")
    @classmethod
    def _no_nulls(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for name, value in data.items():
                if value is None:
                    raise ValueError(f"{name}: must not be null; leave it out to keep the stored value")
        return data
