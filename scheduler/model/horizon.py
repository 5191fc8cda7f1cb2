"""The one place where datetimes and slot numbers convert.

Inside the core a time is an integer slot: slot ``t`` covers
``[start + t * slot_minutes, start + (t + 1) * slot_minutes)``. Slot ``slots`` is the
horizon's end, so a placement may end there but not start there.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from fractions import Fraction

from scheduler.model.errors import InputError

_MICROSECOND = timedelta(microseconds=1)


@dataclass(frozen=True)
class Horizon:
    """A planning horizon of ``slots`` slots of ``slot_minutes`` minutes from ``start``."""

    start: datetime
    slot_minutes: int
    slots: int

    def __post_init__(self) -> None:
        if self.start.tzinfo is None:
            raise InputError("horizon.start", "must carry a UTC offset, e.g. 2026-12-07T00:00:00+08:00")
        if not isinstance(self.slot_minutes, int) or self.slot_minutes <= 0 or 1440 % self.slot_minutes:
            raise InputError("horizon.slot_minutes", "must be a positive whole number that divides 1440")
        if not isinstance(self.slots, int) or self.slots <= 0:
            raise InputError("horizon.slots", "must be a positive whole number")

    @property
    def end(self) -> datetime:
        return self.to_datetime(self.slots)

    def to_datetime(self, slot: int) -> datetime:
        """The instant at which ``slot`` begins."""
        return self.start + timedelta(minutes=slot * self.slot_minutes)

    def _offset_slots(self, when: datetime, field: str) -> Fraction:
        """Slots from the start to ``when``, exactly: a timedelta divided by a timedelta is integer arithmetic on
        microseconds, so an instant one microsecond past a boundary is past it (a float of seconds is not exact)."""
        if when.tzinfo is None or when.utcoffset() is None:
            raise InputError(field, "must carry a UTC offset, e.g. 2026-12-07T08:00:00+08:00")
        return Fraction((when - self.start) // _MICROSECOND, self.slot_minutes * 60 * 1_000_000)

    def slot_at_or_after(self, when: datetime, field: str = "time") -> int:
        """The first slot boundary at or after ``when``, in any time zone (an earliest start or an arrival
        rounds up: 10:20 -> the 11:00 slot with hourly slots, 11:00:00 exactly -> the 11:00 slot)."""
        return math.ceil(self._offset_slots(when, field))

    def slot_at_or_before(self, when: datetime, field: str = "time") -> int:
        """The last slot boundary at or before ``when`` (a deadline rounds down)."""
        return math.floor(self._offset_slots(when, field))

    def slots_for_hours(self, hours: int) -> int:
        """Whole slots needed to hold ``hours`` hours."""
        return -(-hours * 60 // self.slot_minutes)

    @property
    def slot_hours(self) -> Fraction:
        return Fraction(self.slot_minutes, 60)


def parse_datetime(text: str, field: str) -> datetime:
    """Parse an ISO 8601 datetime that carries an offset; the error names ``field``."""
    try:
        value = datetime.fromisoformat(str(text).strip())
    except ValueError:
        raise InputError(field, f"{text!r} is not an ISO 8601 datetime") from None
    if value.tzinfo is None:
        raise InputError(field, f"{text!r} must carry a UTC offset, e.g. +08:00")
    return value
