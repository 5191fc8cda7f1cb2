"""Reports of a simulated run: figures checked by hand on tiny runs, exports and charts."""

from __future__ import annotations

import base64
import dataclasses
from datetime import timedelta
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

from scheduler.model import formulas
from scheduler.model.domain import Voucher
from scheduler.report.charts import kpi_bars, write_compare_report, write_run_report
from scheduler.report.export import export_tables
from scheduler.report.reports import (
    best_baseline,
    budget_frame,
    compare_frame,
    jain_index,
    ratio_to_best_baseline,
    run_kpis,
    run_tables,
    side_by_side,
)
from scheduler.sim.simulate import Arrival, Demand, SimulationParams, simulate
from tests.factories import (
    HORIZON_START,
    LARGE,
    RESEARCH,
    SME,
    make_pool,
    make_problem,
    make_programme,
    make_request,
)

PNG = b"\x89PNG\r\n\x1a\n"


def test_jain_index() -> None:
    assert jain_index([1, 1, 1, 1]) == pytest.approx(1.0)
    assert jain_index([1, 0, 0, 0]) == pytest.approx(0.25)
    assert jain_index([1.0, 0.5]) == pytest.approx(1.5**2 / (2 * 1.25))


@pytest.fixture(scope="module")
def run():
    # pool of 4 for 12 h: A (SME, 4 x 3 h, voucher) at 0; B (large, 2 x 2 h) at 1 waits until 3;
    # C (research, 4 x 2 h, deadline 4) arrives at 2 and cannot fit: it expires.
    voucher = Voucher("v", SME, 50, 10_000, 0, 12)
    a = make_request("a", SME, 4, 3, 0, 12, voucher_id="v")
    b = make_request("b", LARGE, 2, 2, 1, 12)
    c = make_request("c", RESEARCH, 4, 2, 2, 4)
    problem = make_problem(
        pools=[make_pool(capacity=4)], requests=[a, b, c], vouchers=[voucher], programme=make_programme(1_000)
    )
    demand = Demand((Arrival(0, a), Arrival(1, b), Arrival(2, c)))
    return simulate(problem, demand, SimulationParams(scheduler="greedy", progress=False))


def test_run_tables_by_hand(run) -> None:
    tables = run_tables(run)
    pool = tables["utilisation_by_pool"].iloc[0]
    assert (pool["available_acc_h"], pool["used_acc_h"]) == (48, 16)  # 4 x 12 available; 12 + 4 used
    assert pool["utilisation_pct"] == pytest.approx(100 * 16 / 48, abs=0.01)
    assert tables["utilisation_by_site"]["used_acc_h"].sum() == 16
    assert tables["utilisation_by_type"]["used_acc_h"].sum() == 16
    day = tables["utilisation_by_day"]
    assert day["day"].tolist() == [1] and day["used_acc_h"].tolist() == [16]
    hour = tables["utilisation_by_hour"].set_index("hour_of_day")["used_acc_h"]
    assert hour[0] == 4 and hour[3] == 2 and hour[5] == 0
    by_class = tables["by_class"].set_index("org_class")
    assert by_class.loc["sme", ["placed", "wait_p50_h", "deadline_met_pct"]].tolist() == [1, 0, 100]
    assert by_class.loc["large", ["placed", "wait_p50_h", "used_acc_h"]].tolist() == [1, 2, 4]
    assert by_class.loc["research", ["placed", "expired", "deadline_met_pct"]].tolist() == [0, 1, 0]
    fair = tables["fairness_by_org"].set_index("org_id")["served_share"]
    assert fair.to_dict() == {LARGE: 1.0, RESEARCH: 0.0, SME: 1.0}
    budget = tables["budget"]
    # A costs 4 x 3 x 100 = 1200 fen, entitled to 600, paid in round 0
    assert budget["cumulative_cny"].iloc[-1] == pytest.approx(6.0)
    assert budget["budget_left_cny"].iloc[-1] == pytest.approx(4.0)


def test_budget_burn_down_sums_in_fen_and_converts_once() -> None:
    # subsidies of 0.10 CNY: summed as float CNY they reach 0.30000000000000004 and the rows stop adding up
    budget = budget_frame([(3, 10), (1, 10), (2, 5), (2, 5)], 100, 0.5)
    assert budget["slot"].tolist() == [0, 1, 2, 3]
    assert budget["hour"].tolist() == [0.0, 0.5, 1.0, 1.5]
    assert budget["subsidy_cny"].tolist() == [0.0, 0.1, 0.1, 0.1]
    assert budget["cumulative_cny"].tolist() == [0.0, 0.1, 0.2, 0.3]
    assert budget["budget_left_cny"].tolist() == [1.0, 0.9, 0.8, 0.7]


def test_run_kpis_by_hand(run) -> None:
    figures = run_kpis(run)
    assert figures["placed"] == 2 and figures["expired"] == 1 and figures["open"] == 0
    assert figures["deadline_met_pct"] == pytest.approx(200 / 3, abs=0.01)
    assert figures["wait_p50_h"] == pytest.approx(1.0)  # waits 0 and 2
    assert figures["jain_index"] == pytest.approx(jain_index([1, 1, 0]), abs=1e-4)
    assert figures["sme_share_pct"] == pytest.approx(75.0)  # 12 of the 16 placed accelerator-hours
    assert figures["subsidy_paid_cny"] == pytest.approx(6.0)
    assert figures["valid"] is True


def test_served_work_value_carbon_and_per_class_kpis_by_hand(run) -> None:
    figures = run_kpis(run)
    problem = run.problem
    assert figures["served_work_acc_h"] == 16  # 4 x 3 + 2 x 2 at reference speed
    assert figures["weighted_value"] == formulas.objective_milli(problem, run.plan) / formulas.MILLI
    co2_g = sum(
        formulas.co2_g(problem, problem.request_by_id[p.request_id], problem.pool_by_id[p.pool_id]) for p in run.plan
    )
    assert co2_g > 0 and figures["co2_kg_per_acc_h"] == pytest.approx(co2_g / 1000 / 16, abs=1e-4)
    assert figures["utilisation_speed_adjusted_pct"] == pytest.approx(100 * 16 / 48, abs=0.01)  # speed 1: as is
    assert figures["sme_wait_p90_h"] == 0
    by_class = run_tables(run)["by_class"].set_index("org_class")
    assert by_class.loc["sme", ["served_work_acc_h", "served_work_share_pct"]].tolist() == [12, 75]
    assert by_class.loc["large", ["served_work_acc_h", "wait_p90_h", "deadline_met_pct"]].tolist() == [4, 2, 100]
    assert by_class.loc["research", "served_work_acc_h"] == 0 and by_class.loc["research", "jain_index"] != 1
    assert by_class["weighted_value"].sum() == pytest.approx(figures["weighted_value"])


def test_waits_count_from_the_submission_and_speed_adjusted_utilisation_weighs_pools_by_speed() -> None:
    # b is submitted at 00:20 for a start from 01:00; a holds the fast pool (speed 2: its 8 reference hours run
    # 4 hours) until 04:00 and the slow pool is closed, so b starts at 04:00 and has waited 3 h 40 min.
    a = make_request("a", SME, 2, 8, 0, 12)
    b = dataclasses.replace(make_request("b", LARGE, 2, 2, 1, 12), submitted_at=HORIZON_START + timedelta(minutes=20))
    fast, slow = make_pool("fast", capacity=2, speed=2), make_pool("slow", capacity=2, maintenance=[(0, 12, 2)])
    problem = make_problem(pools=[fast, slow], requests=[a, b])
    run = simulate(
        problem, Demand((Arrival(0, a), Arrival(1, b))), SimulationParams(scheduler="greedy", progress=False)
    )
    assert {p.request_id: p.start_slot for p in run.plan} == {"a": 0, "b": 4}
    placements = run_tables(run)["placements"].set_index("request_id")
    assert placements.loc["b", "wait_h"] == pytest.approx(4 - 1 / 3)
    figures = run_kpis(run)
    assert figures["wait_p90_h"] == pytest.approx(0.9 * (4 - 1 / 3), abs=0.01)
    assert figures["served_work_acc_h"] == 2 * 8 + 2 * 2
    # per served reference accelerator-hour (20), not per occupied one (10)
    co2_kg = sum(formulas.co2_g(problem, problem.request_by_id[r], fast) for r in ("a", "b")) / 1000
    assert co2_kg > 0 and figures["co2_kg_per_acc_h"] == pytest.approx(co2_kg / 20, abs=1e-4)
    # speed-adjusted: 20 reference accelerator-hours served of the fast pool's 2 x 12 x speed 2 = 48 (the closed
    # pool has none); not speed-adjusted: 2 x 4 + 2 x 1 accelerator-hours occupied of 2 x 12 available.
    assert figures["utilisation_speed_adjusted_pct"] == pytest.approx(100 * 20 / 48, abs=0.01)
    assert figures["utilisation_pct"] == pytest.approx(100 * 10 / 24, abs=0.01)


def _compare(rows: list[tuple[str, str, float, float]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["scenario", "scheduler", "served_work_acc_h", "wait_p90_h"])


def test_ratio_to_best_baseline_takes_the_best_baseline_per_kpi_and_scenario_in_its_direction() -> None:
    frame = _compare(
        [
            ("s", "fifo", 100, 4),
            ("s", "easy", 120, 6),  # the most served work, but not the shortest wait
            ("s", "quota", 90, 0.5),
            ("s", "optimiser", 132, 1),
            ("s", "greedy", 60, 0),
            ("t", "easy", 10, 0),
            ("t", "optimiser", 10, 0),
        ]
    )
    assert best_baseline(frame).to_dict("index") == {
        "s": {"served_work_acc_h": 120, "wait_p90_h": 0.5},
        "t": {"served_work_acc_h": 10, "wait_p90_h": 0},
    }
    ratios = ratio_to_best_baseline(frame)
    assert ratios[["scenario", "scheduler"]].values.tolist() == [
        ["s", "optimiser"],
        ["s", "greedy"],
        ["t", "optimiser"],
    ]
    assert ratios["served_work_acc_h"].tolist() == [1.1, 0.5, 1.0]
    assert ratios["wait_p90_h"].tolist() == [2.0, 0.0, 1.0]  # 0 h against 0 h is as good: 1
    frame.loc[frame["scheduler"] == "easy", "wait_p90_h"] = 0.0
    assert ratio_to_best_baseline(frame)["wait_p90_h"].tolist()[0] == float("inf")


def test_side_by_side_shows_each_scenarios_runs_with_the_best_baseline_and_the_ratios() -> None:
    frame = _compare([("s", "fifo", 100, 4), ("s", "optimiser", 150, 2), ("t", "greedy", 1, 1)])
    tables = side_by_side(frame)
    assert list(tables) == ["s", "t"]
    assert list(tables["s"].columns) == ["fifo", "optimiser", "best baseline", "optimiser / best"]
    assert tables["s"].loc["served_work_acc_h"].tolist() == [100, 150, 100, 1.5]
    assert tables["s"].loc["wait_p90_h", "optimiser / best"] == 0.5
    assert list(tables["t"].columns) == ["greedy"]  # no baseline ran there: nothing to compare with


def test_exports_write_csv_parquet_and_one_excel_sheet_per_table(run, tmp_path: Path) -> None:
    tables = run_tables(run)
    written = export_tables(tables, tmp_path)
    assert tmp_path / "report.xlsx" in written
    assert openpyxl.load_workbook(tmp_path / "report.xlsx").sheetnames == [name[:31] for name in tables]
    for name, frame in tables.items():
        assert len(pd.read_csv(tmp_path / f"{name}.csv")) == len(frame)
        assert len(pd.read_parquet(tmp_path / f"{name}.parquet")) == len(frame)


def test_run_report_writes_png_charts_and_a_self_contained_page(run, tmp_path: Path) -> None:
    written = write_run_report(run, tmp_path)
    for chart in ("heatmap", "gantt", "burndown"):
        assert written[chart].read_bytes().startswith(PNG)
    page = written["html"].read_text()
    assert page.count("data:image/png;base64,") == 3
    assert "<script" not in page and "http" not in page
    embedded = page.split("data:image/png;base64,")[1].split('"')[0]
    assert base64.b64decode(embedded).startswith(PNG)


def test_compare_report_and_kpi_bars(run, tmp_path: Path) -> None:
    other = simulate(run.problem, run.demand, SimulationParams(scheduler="optimiser", time_limit_s=1, progress=False))
    runs = {("tiny", "greedy"): run, ("tiny", "optimiser"): other}
    frame = compare_frame(runs)
    assert frame[["scenario", "scheduler"]].values.tolist() == [["tiny", "greedy"], ["tiny", "optimiser"]]
    written = write_compare_report(frame, runs, tmp_path)
    assert written["kpi_bars"].read_bytes().startswith(PNG)
    assert written["burndown"].read_bytes().startswith(PNG)
    assert openpyxl.load_workbook(written["xlsx"]).sheetnames == ["compare", "ratio_to_best_baseline"]
    assert kpi_bars(frame, tmp_path / "again.png").is_file()
