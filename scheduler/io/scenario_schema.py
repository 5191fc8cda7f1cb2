"""The schema of a scenario's YAML file: one pydantic model per section, and its errors as the core's.

The models check the shape of a file (keys, types, signs) and hold values in the file's own units (CNY,
datetimes); :mod:`scheduler.io.scenarios` converts them to the frozen domain dataclasses, whose own checks
(a PUE in [1, 3], a percentage up to 100, ...) run there. A model refuses unknown keys and suggests the key
that was probably meant. :func:`first_error` turns pydantic's error into the key path and the rule of an
:class:`~scheduler.model.errors.InputError`.
"""

from __future__ import annotations

import difflib
from datetime import datetime
from decimal import Decimal
from fractions import Fraction
from types import MappingProxyType
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    PlainValidator,
    StringConstraints,
    Tag,
    ValidationError,
    field_serializer,
    model_validator,
)
from pydantic_core import ErrorDetails, PydanticCustomError

from scheduler.io import parse
from scheduler.model.domain import DEFAULT_QUOTAS, ClassQuota, OrgClass, Policy, Programme, Site
from scheduler.model.errors import InputError

Loc = tuple[str | int, ...]

DATA_KEYS = ("orgs", "vouchers", "requests")

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
Whole = Annotated[int, Field(gt=0)]
Count = Annotated[int, Field(ge=0)]
Number = Annotated[float, Field(allow_inf_nan=False)]
# Decimal keeps money exact to the fen; YAML writes amounts as floats, so it must accept them (not strict)
Cny = Annotated[Decimal, Field(ge=0, decimal_places=2, allow_inf_nan=False, strict=False)]
# The parse functions behind PlainValidator raise InputError: first_error keeps its rule and takes the key path
# from pydantic, so the field names given here are never shown.
# pydantic reads a float speed as its binary fraction (0.55 -> 2476979795053773/4503599627370496) and a bool
# as 0 or 1; parse.fraction reads the decimal text as written
Speed = Annotated[Fraction, PlainValidator(lambda value: parse.fraction(value, "speed"))]
# pydantic's datetime takes a number as Unix time; parse_datetime insists on ISO 8601 text with an offset
Instant = Annotated[datetime, PlainValidator(lambda value: parse.when(value, "time"))]
ClassName = Annotated[OrgClass, Field(strict=False)]  # from its text value
Params = dict[str, Any] | None  # checked by the generator or trace reader that takes them


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _known_keys(cls, data: Any) -> Any:
        # extra="forbid" alone names the unknown key but cannot suggest the one that was meant
        for key in data if isinstance(data, dict) else ():
            if key not in cls.model_fields:
                close = difflib.get_close_matches(str(key), list(cls.model_fields), n=1)
                hint = f"did you mean {close[0]!r}?" if close else f"allowed: {', '.join(cls.model_fields)}"
                raise PydanticCustomError("unknown_key", f"unknown key {key!r}; {hint}", {"key": key})
        return data


class HorizonSpec(_Section):
    start: Instant
    slot_minutes: Whole
    slots: Whole


class SiteSpec(_Section):
    id: Text
    name: Text
    region: Text
    pue: Number
    grid_co2_g_per_kwh: Number
    green_share: Number = Site.green_share


class MaintenanceSpec(_Section):
    start: Instant
    end: Instant
    capacity_lost: Whole


class PoolSpec(_Section):
    id: Text
    site: Text
    accelerator_type: Text
    capacity: Whole
    price_cny_per_hour: Cny
    speed: Speed
    power_w: Whole
    domestic: bool = False
    maintenance: list[MaintenanceSpec] | None = None


class QuotaSpec(_Section):
    nominal_pct: Count = ClassQuota.nominal_pct
    borrowing_limit_pct: Count | None = ClassQuota.borrowing_limit_pct
    lending_limit_pct: Count | None = ClassQuota.lending_limit_pct


class PolicySpec(_Section):
    sme_reserve_pct: Count
    reserve_release_hours: Count
    class_weights: dict[ClassName, Number]
    carbon_weight_per_kg: Number
    delay_weight_per_slot: Number = Policy.delay_weight_per_slot
    quotas: dict[ClassName, QuotaSpec] | None = None

    @field_serializer("quotas")
    def _class_quotas(self, quotas: dict[OrgClass, QuotaSpec] | None) -> Any:
        # dumped as the domain's ClassQuota objects (the policy's default when the file has none), so that Policy
        # checks them and names the class in its errors (policy.quotas.sme.nominal_pct). pydantic would dump the
        # dataclasses of a dict into dicts; a read-only mapping proxy is a type it passes through unchanged.
        if quotas is None:
            return MappingProxyType(dict(DEFAULT_QUOTAS))
        return MappingProxyType({c: ClassQuota(**spec.model_dump()) for c, spec in quotas.items()})


class ProgrammeSpec(_Section):
    voucher_budget_cny: Cny
    domestic_bonus_pct: Count
    green_bonus_pct: Count = Programme.green_bonus_pct
    green_share_threshold: Number = Programme.green_share_threshold


class CommitmentSpec(_Section):
    pool: Text
    start: Instant
    end: Instant
    accelerators: Whole
    sme: bool


class GeneratorSource(_Section):
    """``{generator: {...}}``: the parameters of :mod:`scheduler.io.generator`."""

    generator: Params


class TraceSource(_Section):
    """``{trace: {...}}``: the parameters of :mod:`scheduler.io.traces`."""

    trace: Params


def _kind(value: Any, trace: bool) -> str | None:
    if isinstance(value, str):
        return "path"
    if isinstance(value, dict):
        return "trace" if trace and "trace" in value else "generator"
    return None


Source = Annotated[
    Annotated[Text, Tag("path")] | Annotated[GeneratorSource, Tag("generator")],
    Discriminator(
        lambda value: _kind(value, trace=False),
        custom_error_type="source",
        custom_error_message="must be a CSV path or a mapping {generator: {...}}",
    ),
]
RequestSource = Annotated[
    Annotated[Text, Tag("path")] | Annotated[GeneratorSource, Tag("generator")] | Annotated[TraceSource, Tag("trace")],
    Discriminator(
        lambda value: _kind(value, trace=True),
        custom_error_type="source",
        custom_error_message="must be a CSV path, a mapping {generator: {...}} or {trace: {...}}",
    ),
]


class ScenarioSpec(_Section):
    """A scenario file after its ``base:`` chain is merged."""

    # followed and removed while merging, so never set here; declared so that a misspelt ``base`` is suggested
    base: Text | None = None
    name: Text
    horizon: HorizonSpec
    sites: list[SiteSpec]
    pools: list[PoolSpec]
    policy: PolicySpec
    programme: ProgrammeSpec
    orgs: Source
    vouchers: Source
    requests: RequestSource
    commitments: list[CommitmentSpec] = []


# The rule of each pydantic error type, in the words the CSV readers use; {input} is the value as read,
# {msg} pydantic's own message, other fields come from the error's context. Decimal serves CNY amounts only.
_RULES = {
    "missing": "missing key {key!r}",
    "int_type": "must be a whole number, got {input!r}",
    "float_type": "must be a number, got {input!r}",
    "finite_number": "must be a finite number, got {input!r}",
    "bool_type": "must be true or false, got {input!r}",
    "string_type": "must be non-empty text, got {input!r}",
    "string_too_short": "must be non-empty text, got {input!r}",
    "decimal_type": "must be an amount in CNY, got {input!r}",
    "decimal_parsing": "must be an amount in CNY, got {input!r}",
    "decimal_max_places": "must have at most {decimal_places} decimals (whole fen), got {input!r}",
    "greater_than": "must be > {gt}, got {input!r}",
    "greater_than_equal": "must be >= {ge}, got {input!r}",
    "enum": "{input!r} is not one of {expected}",
    "list_type": "must be a list, got {input!r}",
    "dict_type": "must be a mapping, got {input!r}",
    "model_type": "must be a mapping of keys, got {input!r}",
    "source": "{msg}, got {input!r}",
}


def _shown(loc: Loc) -> Loc:
    """``loc`` as the file spells it: without the tag of a source's kind or the ``[key]`` of a mapping key."""
    if len(loc) > 1 and loc[0] in DATA_KEYS:
        loc = (loc[0], *loc[2:])
    return tuple(key for key in loc if key != "[key]")


def first_error(error: ValidationError) -> tuple[Loc, Loc, str]:
    """``(declared, at, rule)`` of the first of ``error``'s errors, pydantic listing them in the schema's order.

    ``at`` is the key path to show (``("pools", 2, "capacity")``); ``declared`` the path of the key whose
    file of origin to name: the same, except for an unknown key, which may come from another file than the
    section that holds it.
    """
    details: ErrorDetails = error.errors(include_url=False)[0]
    at = _shown(details["loc"])
    context = details.get("ctx", {})
    if details["type"] == "missing":
        at, context = at[:-1], {"key": at[-1]}
    if isinstance(context.get("error"), InputError):  # raised by a parse function behind a PlainValidator
        rule = context["error"].rule
    else:
        rule = _RULES.get(details["type"], "{msg}").format(**context, input=details["input"], msg=details["msg"])
    declared = (*at, context["key"]) if details["type"] == "unknown_key" else at
    return declared, at, rule
