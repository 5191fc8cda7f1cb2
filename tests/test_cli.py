"""`pcs solve` and `pcs validate` end to end, through the console entry point."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

from scheduler.cli import main
from scheduler.io.allocations_file import read_allocations
from scheduler.io.scenarios import load_scenario
from scheduler.rules.validate import objective, violations

ROOT = Path(__file__).resolve().parents[1]
DEFAULT = ROOT / "scenarios" / "shanghai-default" / "scenario.yaml"


@pytest.fixture
def small_scenario(tmp_path: Path) -> Path:
    """The default scenario cut to one day and a small demand, as a what-if file on top of it."""
    path = tmp_path / "small.yaml"
    path.write_text(
        f"base: {DEFAULT}\nname: small\nhorizon: {{slots: 24}}\n"
        "requests: {generator: {seed: 5, demand_factor: 0.5}}\n"
        "policy: {reserve_release_hours: 6}\n"
    )
    return path


@pytest.mark.slow
def test_solve_writes_a_valid_replayable_run(small_scenario: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "out"
    assert main(["solve", str(small_scenario), "--time-limit", "10", "--workers", "2", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    for heading in (
        "utilisation",
        "SME share of placed work",
        "SME demand served",
        "subsidy paid",
        "voucher budget left",
        "CO2",
        "placed by class",
        "mean start delay",
        "greedy start value",
        "final value",
        "upper bound",
        "gap",
    ):
        assert heading in printed
    summary = json.loads((out / "summary.json").read_text())
    assert summary["solve"]["objective"] >= summary["solve"]["greedy_objective"]
    assert summary["solve"]["bound"] >= summary["solve"]["objective"]

    # the resolved inputs replay to the same problem, and the allocations check out against them
    replayed = load_scenario(out / "scenario.yaml")
    assert replayed.problem == load_scenario(small_scenario).problem
    plan = read_allocations(replayed.problem, out / "allocations.csv")
    assert violations(replayed.problem, plan) == []
    assert objective(replayed.problem, plan) == pytest.approx(summary["solve"]["objective"])

    with (out / "allocations.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == len(replayed.problem.requests)
    assert {r["status"] for r in rows} <= {"allocated", "unallocated"}
    assert all(r["reason_code"] and r["reason"] for r in rows if r["status"] == "unallocated")
    assert all(not r["reason_code"] for r in rows if r["status"] == "allocated")

    capsys.readouterr()
    assert main(["validate", str(out / "scenario.yaml"), str(out / "allocations.csv")]) == 0
    assert "0 violation(s)" in capsys.readouterr().out


@pytest.mark.slow
def test_validate_reports_a_tampered_price_and_exits_non_zero(small_scenario: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "out"
    assert (
        main(["solve", str(small_scenario), "--time-limit", "5", "--workers", "2", "--out", str(out), "--quiet"]) == 0
    )
    with (out / "allocations.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    placed = next(r for r in rows if r["status"] == "allocated")
    placed["cost_cny"] = f"{float(placed['cost_cny']) * 0.9:.2f}"  # a discount for one organisation
    tampered = tmp_path / "tampered.csv"
    with tampered.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    capsys.readouterr()
    assert main(["validate", str(out / "scenario.yaml"), str(tampered)]) == 1
    printed = capsys.readouterr().out
    assert "price: charged" in printed and f"request {placed['request_id']}" in printed


def test_bad_scenario_exits_2_naming_the_field(tmp_path: Path, capsys) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(f"base: {DEFAULT}\npolicy: {{sme_reserve_pct: 140}}\n")
    assert main(["solve", str(bad), "--time-limit", "1"]) == 2
    error = capsys.readouterr().err
    assert "policy.sme_reserve_pct" in error and "0..100" in error


@pytest.mark.slow
def test_python_dash_m_runs_the_same_cli(small_scenario: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "scheduler",
            "solve",
            str(small_scenario),
            "--time-limit",
            "3",
            "--workers",
            "2",
            "--quiet",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "requests placed" in done.stdout


@pytest.mark.slow
def test_default_scenario_solves_within_budget_and_validates(tmp_path: Path) -> None:
    """The issue's acceptance run: 60 s limit, under 90 s wall, no violation, final >= greedy start."""
    out = tmp_path / "out"
    done = subprocess.run(
        [sys.executable, "-m", "scheduler", "solve", str(DEFAULT), "--time-limit", "60", "--out", str(out), "--quiet"],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["solve"]["wall_time_s"] < 90
    assert summary["solve"]["objective"] >= summary["solve"]["greedy_objective"]
    problem = load_scenario(out / "scenario.yaml").problem
    assert violations(problem, read_allocations(problem, out / "allocations.csv")) == []
