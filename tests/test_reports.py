"""Reports of a simulated run: figures checked by hand on tiny runs, exports and charts."""

from __future__ import annotations

import base64
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

from scheduler.model.domain import Voucher
from scheduler.report.charts import kpi_bars, write_compare_report, write_run_report
from scheduler.report.reports import budget_frame, compare_frame, export_tables, jain_index, run_kpis, run_tables
from scheduler.sim.simulate import Arrival, Demand, SimulationParams, simulate
from tests.factories import LARGE, RESEARCH, SME, make_pool, make_problem, make_programme, make_request

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
    assert openpyxl.load_workbook(written["xlsx"]).sheetnames == ["compare"]
    assert kpi_bars(frame, tmp_path / "again.png").is_file()
