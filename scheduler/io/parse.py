"""Field parsers: a value as written in a file -> the core's type, or an :class:`InputError` that names
the field (``where``) and the rule. Money is exact: CNY as written <-> integer fen (0.01 CNY)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from typing import Any

from scheduler.model.errors import InputError
from scheduler.model.horizon import parse_datetime


def whole(lo: int) -> Callable[[Any, str], int]:
    def convert(value: Any, where: str) -> int:
        text = value.strip() if isinstance(value, str) else value
        if isinstance(text, str) and text.lstrip("+-").isdigit():
            text = int(text)
        if not isinstance(text, int) or isinstance(text, bool) or text < lo:
            bound = "> 0" if lo == 1 else f">= {lo}"
            raise InputError(where, f"must be a whole number {bound}, got {value!r}")
        return text

    return convert


def fraction(value: Any, where: str) -> Fraction:
    try:
        if isinstance(value, bool):
            raise ValueError
        result = Fraction(str(value).strip())
    except (ValueError, ZeroDivisionError):
        raise InputError(where, f"must be a number such as 0.8 or 2/3, got {value!r}") from None
    if result <= 0:
        raise InputError(where, f"must be > 0, got {value!r}")
    return result


def text(value: Any, where: str) -> str:
    if isinstance(value, bool | dict | list) or value is None or not str(value).strip():
        raise InputError(where, f"must be non-empty text, got {value!r}")
    return str(value).strip()


def when(value: Any, where: str) -> datetime:
    return parse_datetime(value, where)


def cny_to_fen(value: Any, where: str) -> int:
    """CNY as written (``12.5``, ``"12.50"``) -> exact integer fen; the error names ``where``."""
    try:
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise InvalidOperation
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        raise InputError(where, f"must be an amount in CNY, got {value!r}") from None
    if not amount.is_finite() or amount < 0:
        raise InputError(where, f"must be an amount in CNY >= 0, got {value!r}")
    fen = amount * 100
    if fen != fen.to_integral_value():
        raise InputError(where, f"must have at most 2 decimals (whole fen), got {value!r}")
    return int(fen)


def fen_to_cny(fen: int) -> str:
    """Exact text with 2 decimals: ``1250`` -> ``"12.50"``."""
    sign = "-" if fen < 0 else ""
    return f"{sign}{abs(fen) // 100}.{abs(fen) % 100:02d}"


def build(cls: Callable[..., Any], where: str | Callable[[str], str], **kwargs: Any) -> Any:
    """Construct a domain object; its validation errors get located at ``where`` (or at ``where(field)``)."""
    try:
        return cls(**kwargs)
    except InputError as exc:
        raise exc.within(where if isinstance(where, str) else where(exc.field)) from None


def names(text: str) -> frozenset[str] | None:
    """A names field as written: ``*`` for any (``None``), else ``;``-separated names."""
    if text.strip() == "*":
        return None
    return frozenset(part.strip() for part in text.split(";") if part.strip())


def names_text(items: frozenset[str] | None) -> str:
    """The inverse of :func:`names`: ``*`` for ``None``, else the names sorted and ``;``-separated."""
    return "*" if items is None else ";".join(sorted(items))
