"""`pcs validate` checks every column of an allocations file: a plan written by `pcs solve --out` passes,
and the same file with any one column tampered with fails, naming the line and the column."""

from __future__ import annotations

import csv
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, timedelta
from pathlib import Path

import pytest

from scheduler.cli import main
from scheduler.io.scenarios import load_scenario
from scheduler.model.domain import Problem
from scheduler.model.horizon import parse_datetime
from scheduler.report.reports import ALLOCATION_COLUMNS

ROOT = Path(__file__).resolve().parents[1]
DEFAULT = ROOT / "scenarios" / "shanghai-default" / "scenario.yaml"

Rows = list[dict[str, str]]


@dataclass(frozen=True)
class Solved:
    scenario: Path
    allocations: Path
    problem: Problem

    def rows(self) -> Rows:
        with self.allocations.open(newline="", encoding="utf-8") as handle:
            return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def solved(tmp_path_factory: pytest.TempPathFactory) -> Solved:
    """One small solve, written with `pcs solve --out` (a day of the default scenario, low demand)."""
    tmp = tmp_path_factory.mktemp("validate_file")
    scenario = tmp / "small.yaml"
    scenario.write_text(
        f"base: {DEFAULT}\nname: small\nhorizon: {{slots: 24}}\n"
        "requests: {generator: {seed: 5, demand_factor: 0.5}}\n"
        "policy: {reserve_release_hours: 6}\n"
    )
    out = tmp / "out"
    argv = ["solve", str(scenario), "--time-limit", "3", "--workers", "2", "--out", str(out), "--quiet"]
    assert main(argv) == 0
    return Solved(out / "scenario.yaml", out / "allocations.csv", load_scenario(out / "scenario.yaml").problem)


def write(path: Path, rows: Rows, columns: list[str] | None = None) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns or list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def validate(solved: Solved, path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(["validate", str(solved.scenario), str(path)])
    printed = capsys.readouterr()
    return code, printed.out, printed.err


def first(rows: Rows, test: Callable[[dict[str, str]], bool]) -> int:
    index = next((i for i, row in enumerate(rows) if test(row)), None)
    assert index is not None, "the small solve has no row of the kind this test needs"
    return index


def placed(row: dict[str, str]) -> bool:
    return row["status"] == "allocated"


def subsidised(row: dict[str, str]) -> bool:
    return placed(row) and float(row["subsidy_cny"]) > 0


def unplaced(row: dict[str, str]) -> bool:
    return row["status"] == "unallocated"


# ------------------------------------------------------------------ one tamper per column

Tamper = Callable[[Rows, Problem], int]
"""Changes one row of the file in place and returns its index."""


def _request_id(rows: Rows, _: Problem) -> int:
    earlier, later = sorted((first(rows, placed), first(rows, unplaced)))
    rows[later]["request_id"] = rows[earlier]["request_id"]  # a second row for one request
    return later


def _pool_id(rows: Rows, problem: Problem) -> int:
    i = first(rows, unplaced)
    rows[i]["pool_id"] = problem.pools[0].id  # an unplaced request with a pool
    return i


def _site(rows: Rows, problem: Problem) -> int:
    i = first(rows, placed)
    rows[i]["site"] = next(s.id for s in problem.sites if s.id != rows[i]["site"])
    return i


def _accelerator_type(rows: Rows, problem: Problem) -> int:
    i = first(rows, placed)
    rows[i]["accelerator_type"] = next(
        p.accelerator_type for p in problem.pools if p.accelerator_type != rows[i]["accelerator_type"]
    )
    return i


def _accelerators(rows: Rows, _: Problem) -> int:
    i = first(rows, placed)
    rows[i]["accelerators"] = str(int(rows[i]["accelerators"]) * 100)
    return i


def _end(rows: Rows, _: Problem) -> int:
    i = first(rows, placed)
    rows[i]["end"] = (parse_datetime(rows[i]["end"], "end") + timedelta(hours=500)).isoformat()
    return i


def _cost(rows: Rows, _: Problem) -> int:
    i = first(rows, placed)
    rows[i]["cost_cny"] = f"{float(rows[i]['cost_cny']) * 0.9:.2f}"  # a discount for one organisation
    return i


def _subsidy(rows: Rows, _: Problem) -> int:
    i = first(rows, subsidised)
    rows[i]["subsidy_cny"] = f"{float(rows[i]['subsidy_cny']) * 100:.2f}"
    return i


def _voucher(rows: Rows, problem: Problem) -> int:
    i = first(rows, subsidised)
    org_id = problem.request_by_id[rows[i]["request_id"]].org_id
    rows[i]["voucher_id"] = next(v.id for v in problem.vouchers if v.org_id != org_id)
    return i


def _reason_code(rows: Rows, _: Problem) -> int:
    i = first(rows, unplaced)
    rows[i]["reason_code"] = "capacity_full" if rows[i]["reason_code"] != "capacity_full" else "outranked"
    return i


def _reason(rows: Rows, _: Problem) -> int:
    i = first(rows, placed)
    rows[i]["reason"] = "Approved by the director."  # a placed request carries no reason
    return i


def _start(rows: Rows, _: Problem) -> int:
    i = first(rows, placed)
    rows[i]["start"] = (parse_datetime(rows[i]["start"], "start") + timedelta(minutes=30)).isoformat()
    return i


def _status(rows: Rows, _: Problem) -> int:
    i = first(rows, placed)
    rows[i]["status"] = "approved"
    return i


# column -> (tamper, exit code); exit 2 where the value cannot be read into a placement at all
TAMPERS: dict[str, tuple[Tamper, int]] = {
    "request_id": (_request_id, 1),
    "status": (_status, 2),
    "pool_id": (_pool_id, 1),
    "site": (_site, 1),
    "accelerator_type": (_accelerator_type, 1),
    "accelerators": (_accelerators, 1),
    "start": (_start, 2),
    "end": (_end, 1),
    "cost_cny": (_cost, 1),
    "subsidy_cny": (_subsidy, 1),
    "voucher_id": (_voucher, 1),
    "reason_code": (_reason_code, 1),
    "reason": (_reason, 1),
}


def test_every_written_column_has_a_tamper_case() -> None:
    assert list(TAMPERS) == ALLOCATION_COLUMNS


def test_the_file_written_by_solve_passes(solved: Solved, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = validate(solved, solved.allocations, capsys)
    assert (code, err) == (0, "")
    assert "0 violation(s)" in out


def test_the_same_values_written_otherwise_pass(
    solved: Solved, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Values are compared, not text: 12.5 CNY is 12.50 CNY, an instant in UTC is the same instant."""
    rows = solved.rows()
    for row in rows:
        if placed(row):
            row["cost_cny"] = str(float(row["cost_cny"]))
            for column in ("start", "end"):
                row[column] = parse_datetime(row[column], column).astimezone(UTC).isoformat()
    code, out, _ = validate(solved, write(tmp_path / "same.csv", rows[::-1]), capsys)
    assert code == 0, out


@pytest.mark.parametrize("column", ALLOCATION_COLUMNS)
def test_a_tampered_column_fails_naming_line_and_column(
    column: str, solved: Solved, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tamper, expected_code = TAMPERS[column]
    rows = solved.rows()
    index = tamper(rows, solved.problem)
    line = index + 2  # the header is line 1
    code, out, err = validate(solved, write(tmp_path / "tampered.csv", rows), capsys)
    assert code == expected_code, out + err
    if expected_code == 1:
        assert f"allocations_file: line {line}, column {column}: found {rows[index][column]!r}" in out
        assert f"request {rows[index]['request_id']}" in out
    else:
        assert f"tampered.csv line {line}: {column}" in err


def test_a_voucher_of_another_organisation_is_named_as_such(
    solved: Solved, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = solved.rows()
    index = _voucher(rows, solved.problem)
    request = solved.problem.request_by_id[rows[index]["request_id"]]
    code, out, _ = validate(solved, write(tmp_path / "voucher.csv", rows), capsys)
    assert code == 1
    assert f"expected {request.voucher_id!r}" in out
    assert f"belongs to {solved.problem.voucher_by_id[rows[index]['voucher_id']].org_id}" in out


def test_a_voucher_on_a_request_that_names_none_fails(
    solved: Solved, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = solved.rows()
    index = first(rows, lambda row: placed(row) and solved.problem.request_by_id[row["request_id"]].voucher_id is None)
    rows[index]["voucher_id"] = solved.problem.vouchers[0].id
    rows[index]["subsidy_cny"] = "1.00"
    code, out, _ = validate(solved, write(tmp_path / "voucher.csv", rows), capsys)
    assert code == 1
    assert f"line {index + 2}, column subsidy_cny: found '1.00', expected '0.00'" in out
    assert f"line {index + 2}, column voucher_id: found {rows[index]['voucher_id']!r}, expected ''" in out


def test_a_rule_violation_is_located_at_its_line(
    solved: Solved, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = solved.rows()
    index = _cost(rows, solved.problem)
    _, out, _ = validate(solved, write(tmp_path / "price.csv", rows), capsys)
    assert "price: charged" in out
    assert f"(line {index + 2}, request {rows[index]['request_id']}" in out


def test_an_unknown_column_is_refused_by_name(
    solved: Solved, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = solved.rows()
    for row in rows:
        row["discount_pct"] = "10"
    code, out, err = validate(solved, write(tmp_path / "extra.csv", rows), capsys)
    assert code == 2, out
    assert "extra.csv: unknown column(s) discount_pct" in err


@pytest.mark.parametrize("column", ALLOCATION_COLUMNS)
def test_a_missing_column_is_refused_by_name(
    column: str, solved: Solved, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = solved.rows()
    for row in rows:
        del row[column]
    code, out, err = validate(solved, write(tmp_path / "missing.csv", rows), capsys)
    assert code == 2, out
    assert f"missing.csv: missing column(s) {column} " in err


def test_a_repeated_column_is_refused_by_name(
    solved: Solved, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = solved.allocations.read_text(encoding="utf-8").splitlines()
    repeated = [f"{line},{line.split(',')[0]}" for line in lines]
    path = tmp_path / "repeated.csv"
    path.write_text("\n".join(repeated) + "\n", encoding="utf-8")
    code, _, err = validate(solved, path, capsys)
    assert code == 2
    assert "repeated.csv: repeated column(s) request_id" in err


def test_a_row_of_another_width_is_refused_at_its_line(
    solved: Solved, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = solved.allocations.read_text(encoding="utf-8").splitlines()
    lines[3] += ",surplus"
    path = tmp_path / "wide.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    code, _, err = validate(solved, path, capsys)
    assert code == 2
    assert "wide.csv line 4: has 14 values; the header has 13 columns" in err
