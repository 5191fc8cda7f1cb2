"""The CSV tables of a scenario (``orgs.csv``, ``vouchers.csv``, ``requests.csv``): columns and readers.

Every error names the file, the data row (1-based) with its id, the column and the rule. ``requests.csv`` may
have a ``submitted_at`` column (ISO 8601 with offset; empty: unknown): when the request was submitted, so when a
simulated round may first see it (:meth:`~scheduler.model.domain.Problem.arrival_slot`); without it a request
arrives at its earliest start, which must not come before its submission.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scheduler.io import parse
from scheduler.model.domain import Org, OrgClass, Request, Voucher, derive_org_class
from scheduler.model.errors import InputError
from scheduler.model.horizon import Horizon

ORG_COLUMNS = {"org_id": True, "name": True, "org_class": False, "employees": False, "revenue_cny": False}
VOUCHER_COLUMNS = dict.fromkeys(("voucher_id", "org_id", "ratio_pct", "balance_cny", "valid_from", "valid_until"), True)
REQUEST_COLUMNS = dict.fromkeys(("request_id", "org_id", "accelerators", "duration_hours", "earliest_start"), True)
REQUEST_COLUMNS |= {"deadline": True, "accelerator_types": True, "sites": True, "max_cost_cny": False}
REQUEST_COLUMNS |= {"voucher_id": False, "submitted_at": False}


@dataclass(frozen=True)
class CsvRef:
    """A CSV path as written (``text``) and resolved against the file that named it."""

    text: str
    path: Path


def _rows(ref: CsvRef, columns: Mapping[str, bool], where: str, label: str) -> Iterator[tuple[str, dict]]:
    """``(location, row)`` per data row, location ``requests.csv row 3``; values stripped, empty as ``""``."""
    try:
        handle = ref.path.open(newline="", encoding="utf-8-sig")
    except FileNotFoundError:
        raise InputError(where, f"file {ref.text!r} not found ({ref.path})") from None
    number = 0
    with handle:
        try:
            reader = csv.DictReader(handle)
            found = [name.strip() for name in reader.fieldnames or []]
            for name in found:
                if name not in columns:
                    raise InputError(label, f"unknown column {name!r}; allowed: {', '.join(columns)}")
            for name, required in columns.items():
                if required and name not in found:
                    raise InputError(label, f"missing column {name!r}; found: {', '.join(found) or 'none'}")
            for number, row in enumerate(reader, start=1):
                if None in row:
                    raise InputError(f"{label} row {number}", "has more values than the header has columns")
                values = {k.strip(): (v or "").strip() for k, v in row.items()}
                if nul := next((k for k, v in values.items() if "\x00" in v), None):
                    raise InputError(f"{label} row {number}: {nul}", "must not contain a NUL character")
                yield f"{label} row {number}", values
        except UnicodeDecodeError:
            raise InputError(label, f"is not UTF-8 text (near row {number + 1}); save it as UTF-8 CSV") from None
        except csv.Error as error:  # e.g. a field over the csv module's limit of 131,072 characters
            raise InputError(f"{label} row {number + 1}", f"cannot be read as CSV: {error}") from None


def _unique_id(value: str, where: str, seen: dict[str, str], column: str) -> str:
    if not value:
        raise InputError(f"{where}: {column}", "must not be empty")
    if value in seen:
        raise InputError(f"{where}: {column}", f"{value!r} is used twice (also in {seen[value]})")
    seen[value] = where
    return value


def read_orgs(ref: CsvRef, where: str, label: str) -> tuple[Org, ...]:
    orgs: list[Org] = []
    seen: dict[str, str] = {}
    for loc, row in _rows(ref, ORG_COLUMNS, where, label):
        org_id = _unique_id(row["org_id"], loc, seen, "org_id")
        loc = f"{loc} (org {org_id})"
        if row.get("org_class"):
            org_class = OrgClass.parse(row["org_class"], f"{loc}: org_class")
        elif row.get("employees") and row.get("revenue_cny"):
            employees = parse.whole(0)(row["employees"], f"{loc}: employees")
            org_class = derive_org_class(employees, parse.whole(0)(row["revenue_cny"], f"{loc}: revenue_cny"))
        else:
            raise InputError(f"{loc}: org_class", "must be given, or else both employees and revenue_cny")
        orgs.append(parse.build(Org, loc, id=org_id, name=parse.text(row["name"], f"{loc}: name"), org_class=org_class))
    return tuple(orgs)


def read_vouchers(ref: CsvRef, where: str, label: str, org_ids: set[str], horizon: Horizon) -> tuple[Voucher, ...]:
    vouchers: list[Voucher] = []
    seen: dict[str, str] = {}
    for loc, row in _rows(ref, VOUCHER_COLUMNS, where, label):
        voucher_id = _unique_id(row["voucher_id"], loc, seen, "voucher_id")
        loc = f"{loc} (voucher {voucher_id})"
        if row["org_id"] not in org_ids:
            raise InputError(f"{loc}: org_id", f"unknown organisation {row['org_id']!r}")
        valid_from = parse.when(row["valid_from"], f"{loc}: valid_from")
        valid_until = parse.when(row["valid_until"], f"{loc}: valid_until")
        if valid_until <= valid_from:
            raise InputError(f"{loc}: valid_until", "must be after valid_from")
        kwargs = {
            "id": voucher_id,
            "org_id": row["org_id"],
            "ratio_pct": parse.whole(1)(row["ratio_pct"], f"{loc}: ratio_pct"),
            "balance_fen": parse.cny_to_fen(row["balance_cny"], f"{loc}: balance_cny"),
            "valid_from_slot": horizon.slot_at_or_after(valid_from),
            "valid_until_slot": horizon.slot_at_or_after(valid_until),
        }
        vouchers.append(parse.build(Voucher, loc, **kwargs))
    return tuple(vouchers)


def _names(text: str, where: str, known: set[str], what: str) -> frozenset[str] | None:
    """``*`` for any, else ``;``-separated names that must all be known."""
    if text.strip() == "*":
        return None
    names = parse.names(text)
    if not names:
        raise InputError(where, f"must name at least one {what}, or be *")
    unknown = sorted(names - known)
    if unknown:
        raise InputError(where, f"unknown {what} {unknown[0]!r}; known: {', '.join(sorted(known))}")
    return names


def read_requests(ref: CsvRef, where: str, label: str, known: dict[str, Any]) -> tuple[Request, ...]:
    horizon: Horizon = known["horizon"]
    requests: list[Request] = []
    seen: dict[str, str] = {}
    for loc, row in _rows(ref, REQUEST_COLUMNS, where, label):
        request_id = _unique_id(row["request_id"], loc, seen, "request_id")
        loc = f"{loc} (request {request_id})"
        org_id, voucher_id, max_cost = row["org_id"], row.get("voucher_id") or None, row.get("max_cost_cny")
        if org_id not in known["org_ids"]:
            raise InputError(f"{loc}: org_id", f"unknown organisation {org_id!r}")
        earliest = parse.when(row["earliest_start"], f"{loc}: earliest_start")
        deadline = parse.when(row["deadline"], f"{loc}: deadline")
        if deadline <= earliest:
            raise InputError(f"{loc}: deadline", "must be after earliest_start")
        submitted = parse.when(row["submitted_at"], f"{loc}: submitted_at") if row.get("submitted_at") else None
        if submitted is not None and earliest < submitted:
            raise InputError(
                f"{loc}: earliest_start",
                f"{row['earliest_start']} is before submitted_at {row['submitted_at']}: a request cannot start before "
                "it is submitted",
            )
        earliest_slot, deadline_slot = horizon.slot_at_or_after(earliest), horizon.slot_at_or_before(deadline)
        if deadline_slot <= earliest_slot:
            raise InputError(f"{loc}: deadline", "must be after earliest_start by at least one whole slot")
        if voucher_id is not None and voucher_id not in known["voucher_owner"]:
            raise InputError(f"{loc}: voucher_id", f"unknown voucher {voucher_id!r}")
        if voucher_id is not None and known["voucher_owner"][voucher_id] != org_id:
            owner = known["voucher_owner"][voucher_id]
            raise InputError(f"{loc}: voucher_id", f"voucher {voucher_id} belongs to another organisation ({owner})")
        kwargs = {
            "id": request_id,
            "org_id": org_id,
            "accelerators": parse.whole(1)(row["accelerators"], f"{loc}: accelerators"),
            "duration_hours": parse.whole(1)(row["duration_hours"], f"{loc}: duration_hours"),
            "earliest_slot": earliest_slot,
            "deadline_slot": deadline_slot,
            "accelerator_types": _names(
                row["accelerator_types"], f"{loc}: accelerator_types", known["types"], "accelerator type"
            ),
            "sites": _names(row["sites"], f"{loc}: sites", known["site_ids"], "site"),
            "max_cost_fen": parse.cny_to_fen(max_cost, f"{loc}: max_cost_cny") if max_cost else None,
            "voucher_id": voucher_id,
            "submitted_at": submitted,
        }
        requests.append(parse.build(Request, loc, **kwargs))
    return tuple(requests)
