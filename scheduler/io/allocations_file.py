"""Reading an allocations file (``allocations.csv``, written by :func:`scheduler.report.reports.allocations_frame`)
back, and checking every column of every row against the problem.

``request_id``, ``pool_id``, ``start``, ``cost_cny`` and ``subsidy_cny`` make the row's
:class:`~scheduler.model.domain.Placement`, which the rules of :mod:`scheduler.rules.validate` then check.
Every column is also compared with what the writer itself writes for that placement at its list price, with the
money from :mod:`scheduler.model.formulas`, so the file and the check cannot drift apart:

- ``site``, ``accelerator_type``: those of the pool; ``accelerators``: the request's;
- ``end``: ``start + formulas.run_slots`` (the run at the pool's speed);
- ``cost_cny``: the list price ``formulas.cost_fen``; ``subsidy_cny``: at most ``formulas.entitlement_fen``
  (less only once the voucher or the programme budget runs out, which the voucher rule judges);
- ``voucher_id``: the request's own voucher (so never another organisation's) when a subsidy is paid, else empty;
- ``reason_code``, ``reason``: empty for a placed request; for an unplaced one, every placement column empty and
  the reason that :func:`scheduler.rules.reasons.explain` gives for the plan read (as ``pcs solve`` writes it).

A header with an unknown, missing or repeated column, a row of another width, or a placement value that cannot
be read (status, start, money) is an :class:`~scheduler.model.errors.InputError`. A value that reads but differs is a
:class:`~scheduler.rules.base.Violation` of rule :data:`FILE_RULE` naming the line, the column, the value
found and the value expected.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from scheduler.io.parse import cny_to_fen, whole
from scheduler.model import formulas
from scheduler.model.domain import Placement, Pool, Problem, Request
from scheduler.model.errors import InputError
from scheduler.model.horizon import parse_datetime
from scheduler.report import export
from scheduler.report.reports import ALLOCATION_COLUMNS, allocations_frame
from scheduler.rules.base import Violation, known_placements
from scheduler.rules.reasons import explain

FILE_RULE = "allocations_file"
"""The rule name of a column that disagrees with the problem."""

# columns compared as values, not as text: 12.5 is 12.50 CNY, and an instant may be written at another offset
_READ: Mapping[str, Callable[[Any, str], object]] = {
    "accelerators": whole(0),
    "start": parse_datetime,
    "end": parse_datetime,
    "cost_cny": cny_to_fen,
    "subsidy_cny": cny_to_fen,
}


@dataclass(frozen=True)
class PlanFile:
    """An allocations file read back: its placements, the columns that disagree with the problem
    (:data:`FILE_RULE` violations), and the line of each request's first row."""

    plan: tuple[Placement, ...]
    mismatches: tuple[Violation, ...]
    line_of: Mapping[str, int]


@dataclass(frozen=True)
class _Row:
    """A row whose columns are compared: a known request, placed on a known pool or not placed."""

    line: int
    values: dict[str, str]
    request: Request
    placement: Placement | None = None
    pool: Pool | None = None


def read_allocations(problem: Problem, path: str | Path) -> tuple[Placement, ...]:
    """The placements of an ``allocations.csv``, without its column checks (:func:`read_plan_file` has both)."""
    return read_plan_file(problem, path).plan


def read_plan_file(problem: Problem, path: str | Path) -> PlanFile:
    """Read an ``allocations.csv`` and compare every column of every row with the problem.

    Raises :class:`~scheduler.model.errors.InputError` when the file cannot be read as an allocations file.
    """
    path = Path(path)
    plan: list[Placement] = []
    compared: list[_Row] = []
    line_of: dict[str, int] = {}
    mismatches: list[Violation] = []
    for line, values in _lines(path):
        request_id, status = values["request_id"], values["status"]
        if status not in ("allocated", "unallocated"):
            raise InputError(f"{path.name} line {line}: status", f"must be allocated or unallocated, got {status!r}")
        placement = _placement(problem, values, f"{path.name} line {line}") if status == "allocated" else None
        if placement is not None:
            plan.append(placement)
        request = problem.request_by_id.get(request_id)
        if request_id in line_of:  # the row itself is the fault (and a second placement breaks a rule too)
            mismatches.append(
                _mismatch(
                    line,
                    "request_id",
                    request_id,
                    "one row per request",
                    f"also on line {line_of[request_id]}",
                    request_id,
                )
            )
        elif request is None:
            if placement is None:  # an unknown request that is placed is named by the placement rule instead
                mismatches.append(
                    _mismatch(line, "request_id", request_id, "a request of the problem", "no such request")
                )
        elif placement is None:
            compared.append(_Row(line, values, request))
        elif placement.pool_id in problem.pool_by_id:  # else the placement rule names it
            compared.append(_Row(line, values, request, placement, problem.pool_by_id[placement.pool_id]))
        line_of.setdefault(request_id, line)
    mismatches += _differences(problem, compared, tuple(plan))
    return PlanFile(tuple(plan), tuple(mismatches), line_of)


def _lines(path: Path) -> list[tuple[int, dict[str, str]]]:
    """``(line, values by column)`` of every non-blank row, after checking the header; values stripped."""
    try:
        handle = path.open(newline="", encoding="utf-8-sig")  # -sig: a spreadsheet may have added a BOM
    except OSError as error:
        raise InputError(str(path), f"cannot be read ({error.strerror})") from None
    rows: list[tuple[int, dict[str, str]]] = []
    with handle:
        try:
            reader = csv.reader(handle)
            header = [name.strip() for name in next(reader, [])]
            _check_header(path.name, header)
            previous = reader.line_num
            for values in reader:
                line, previous = previous + 1, reader.line_num  # a quoted value may span lines: name the first
                if not values:
                    continue
                if len(values) != len(header):
                    raise InputError(
                        f"{path.name} line {line}", f"has {len(values)} values; the header has {len(header)} columns"
                    )
                rows.append((line, dict(zip(header, (export.restore(v).strip() for v in values), strict=True))))
        except (csv.Error, UnicodeDecodeError) as error:
            raise InputError(path.name, f"is not a UTF-8 CSV file ({error})") from None
    return rows


def _check_header(name: str, header: list[str]) -> None:
    unknown = [c for c in header if c not in ALLOCATION_COLUMNS]
    missing = [c for c in ALLOCATION_COLUMNS if c not in header]
    repeated = sorted({c for c in header if header.count(c) > 1})
    faults = [
        f"{what} column(s) {', '.join(columns)}"
        for what, columns in (("unknown", unknown), ("missing", missing), ("repeated", repeated))
        if columns
    ]
    if faults:
        raise InputError(name, f"{'; '.join(faults)} (the columns are {', '.join(ALLOCATION_COLUMNS)})")


def _slot(problem: Problem, values: dict[str, str], column: str, where: str) -> int:
    when = parse_datetime(values[column], f"{where}: {column}")
    slot = problem.horizon.slot_at_or_after(when, f"{where}: {column}")
    if problem.horizon.to_datetime(slot) != when:
        raise InputError(f"{where}: {column}", f"must fall on a slot boundary, got {values[column]!r}")
    return slot


def _placement(problem: Problem, values: dict[str, str], where: str) -> Placement:
    return Placement(
        request_id=values["request_id"],
        pool_id=values["pool_id"],
        start_slot=_slot(problem, values, "start", where),
        cost_fen=cny_to_fen(values["cost_cny"], f"{where}: cost_cny"),
        subsidy_fen=cny_to_fen(values["subsidy_cny"], f"{where}: subsidy_cny"),
        end_slot=_slot(problem, values, "end", where),
    )


def _differences(problem: Problem, rows: list[_Row], plan: tuple[Placement, ...]) -> list[Violation]:
    """Each column of ``rows`` that differs from what the writer writes for the plan read, its placements at
    list price and with a subsidy within the entitlement, and its unplaced requests with their reasons."""
    priced = {
        row.request.id: Placement(
            row.request.id,
            row.pool.id,
            row.placement.start_slot,
            cost_fen=formulas.cost_fen(row.request, row.pool),
            subsidy_fen=min(
                row.placement.subsidy_fen,
                formulas.entitlement_fen(problem, row.request, row.pool, row.placement.start_slot),
            ),
            end_slot=row.placement.start_slot + formulas.run_slots(problem, row.request, row.pool),
        )
        for row in rows
        if row.placement is not None and row.pool is not None
    }
    unplaced = len(priced) < len(rows)
    reasons = explain(problem, tuple(known_placements(problem, plan))) if unplaced else {}
    frame = allocations_frame(problem, tuple(priced.values()), reasons)
    expected_of = {str(r["request_id"]): r for r in frame.to_dict("records")}
    found: list[Violation] = []
    for row in rows:
        request, pool = row.request, row.pool
        if pool is None and request.id not in reasons:
            continue  # placed by another row of the file, reported as a repeated request
        for column in ALLOCATION_COLUMNS:
            value = expected_of[request.id][column]
            expected = "" if pd.isna(value) else str(value)
            if not _same(column, row.values[column], expected):
                note = _note(problem, column, row.values[column], request, pool)
                found.append(
                    _mismatch(
                        row.line, column, row.values[column], expected, note, request.id, pool.id if pool else None
                    )
                )
    return found


def _same(column: str, found: str, expected: str) -> bool:
    read = _READ.get(column)
    if not expected or read is None:
        return found == expected
    try:
        return read(found, column) == read(expected, column)
    except InputError:
        return False


def _note(problem: Problem, column: str, found: str, request: Request, pool: Pool | None) -> str:
    """Why the expected value is what it is."""
    if pool is None:
        return "why the plan leaves it unplaced" if column in ("reason_code", "reason") else "empty: not placed"
    if column in ("site", "accelerator_type"):
        return f"that of pool {pool.id}"
    if column == "accelerators":
        return f"request {request.id} asks for {request.accelerators}"
    if column == "end":
        return f"start + the run of {formulas.run_hours(request, pool)} h on {pool.id}, speed {float(pool.speed):g}"
    if column == "cost_cny":
        return f"the list price on {pool.id}"
    if column == "subsidy_cny":
        if request.voucher_id is None:
            return "the request names no voucher"
        return f"at most the entitlement of voucher {request.voucher_id} at this start"
    if column == "voucher_id":
        voucher = problem.voucher_by_id.get(found)
        if found and voucher is None:
            return "no such voucher"
        if voucher is not None and voucher.org_id != request.org_id:
            return f"voucher {found} belongs to {voucher.org_id}, request {request.id} to {request.org_id}"
        return "the request's own voucher when a subsidy is paid, else empty"
    return "empty: placed" if column in ("reason_code", "reason") else ""


def _mismatch(
    line: int,
    column: str,
    found: str,
    expected: str,
    note: str,
    request_id: str | None = None,
    pool_id: str | None = None,
) -> Violation:
    message = f"line {line}, column {column}: found {found!r}, expected {expected!r}" + (f"; {note}" if note else "")
    return Violation(FILE_RULE, message, request_id, pool_id)
