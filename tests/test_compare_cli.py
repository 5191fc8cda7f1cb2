"""``pcs compare`` and ``pcs simulate`` end to end, on the default scenario, its variants and a trace."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest

from scheduler.cli import main
from scheduler.io.scenarios import load_scenario
from scheduler.sim.simulate import compare, scheduler_names, with_demand

ROOT = Path(__file__).resolve().parents[1]
DEFAULT = ROOT / "scenarios" / "shanghai-default" / "scenario.yaml"
VARIANTS = sorted((ROOT / "scenarios" / "variants").glob("*.yaml"))
ITP = ROOT / "scenarios" / "trace-itp" / "scenario.yaml"
HAS_TRACES = (ROOT.parent / "shared" / "data" / "traces").is_dir()
BASELINES = [s for s in ("fifo", "easy", "quota") if s in scheduler_names()]


def test_every_variant_loads_and_changes_what_it_says() -> None:
    names = {path.stem for path in VARIANTS}
    assert {"sme-reserve-0", "sme-reserve-20", "sme-reserve-40", "budget-halved", "qingpu-outage"} <= names
    assert "western-site-added" in names
    base = load_scenario(DEFAULT).problem
    loaded = {path.stem: load_scenario(path).problem for path in VARIANTS}
    assert [loaded[f"sme-reserve-{n}"].policy.sme_reserve_pct for n in (0, 20, 40)] == [0, 20, 40]
    assert loaded["budget-halved"].programme.voucher_budget_fen * 2 == base.programme.voucher_budget_fen
    outage = loaded["qingpu-outage"]
    for pool in outage.pools:
        day_two = [pool.available(t) for t in range(24, 48)]
        assert day_two == (
            [0] * 24 if pool.site_id == "qingpu" else [base.pool_by_id[pool.id].available(t) for t in range(24, 48)]
        )
    western = loaded["western-site-added"]
    assert len(western.pools) == len(base.pools) + 1 and western.pools[:-1] == base.pools
    # on the base's demand the variant keeps every request
    assert with_demand(western, base).requests == base.requests


def test_compare_runs_every_variant_on_the_same_demand() -> None:
    runs = compare(DEFAULT, VARIANTS[:2], ["greedy"], days=1)
    demands = {name: run.demand for (name, _), run in runs.items()}
    assert len(demands) == 3 and len(set(demands.values())) == 1
    assert all(run.valid for run in runs.values())


@pytest.mark.slow
def test_pcs_compare_prints_one_kpi_table(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    schedulers = ",".join(["optimiser", *BASELINES, "greedy"])
    args = ["compare", str(DEFAULT), *map(str, VARIANTS), "--schedulers", schedulers, "--days", "1"]
    code = main([*args, "--time-limit", "0.5", "--round-hours", "3", "--quiet", "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert code == 0
    # one side-by-side table per scenario: a column per scheduler, the best baseline and the ratios to it
    assert out.count("optimiser / best") == len(VARIANTS) + 1 and out.count("greedy / best") == len(VARIANTS) + 1
    for row in ("served_work_acc_h", "weighted_value", "utilisation_pct", "sme_share_pct", "wait_p90_h"):
        assert re.search(rf"^{row} ", out, re.MULTILINE), row
    frame = pd.read_csv(tmp_path / "compare.csv")
    assert len(frame) == (len(VARIANTS) + 1) * len(schedulers.split(","))
    assert frame["valid"].all()
    # the same demand everywhere: every row saw the same requests
    assert frame["requests"].nunique() == 1
    assert (tmp_path / "compare.html").is_file() and (tmp_path / "kpi_bars.png").is_file()


def test_pcs_compare_prints_each_run_beside_the_best_baseline_with_the_ratio(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    args = ["compare", str(DEFAULT), "--schedulers", "greedy,fifo,easy", "--days", "1", "--round-hours", "3"]
    assert main([*args, "--quiet", "--out", str(tmp_path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "shanghai-default"
    assert lines[1].split() == ["scheduler", "greedy", "fifo", "easy", "best", "baseline", "greedy", "/", "best"]
    frame = pd.read_csv(tmp_path / "compare.csv").set_index("scheduler")
    ratios = pd.read_csv(tmp_path / "ratio_to_best_baseline.csv")
    assert ratios["scheduler"].tolist() == ["greedy"]
    best_work = frame.loc[["fifo", "easy"], "served_work_acc_h"].max()
    assert ratios["served_work_acc_h"].iloc[0] == pytest.approx(
        frame.loc["greedy", "served_work_acc_h"] / best_work, abs=1e-4
    )
    best_wait = frame.loc[["fifo", "easy"], "wait_p90_h"].min()  # lower is better
    if best_wait:
        assert ratios["wait_p90_h"].iloc[0] == pytest.approx(frame.loc["greedy", "wait_p90_h"] / best_wait, abs=1e-4)
    row = next(line.split() for line in lines if line.startswith("served_work_acc_h "))
    assert float(row[-1]) == pytest.approx(ratios["served_work_acc_h"].iloc[0], abs=1e-3)


def test_pcs_compare_refuses_an_unknown_scheduler(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["compare", str(DEFAULT), "--schedulers", "optimiser,lottery", "--days", "1"]) == 2
    assert "unknown scheduler 'lottery'" in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.skipif(not HAS_TRACES, reason="shared/data/traces is not beside the clone")
@pytest.mark.parametrize("scheduler", ["optimiser", *BASELINES])
def test_pcs_simulate_on_a_trace_writes_the_report(scheduler: str, tmp_path: Path, capsys) -> None:
    args = ["simulate", str(ITP), "--days", "1", "--scheduler", scheduler, "--time-limit", "1", "--quiet"]
    assert main([*args, "--out", str(tmp_path)]) == 0  # 1 would mean a violation
    out = capsys.readouterr().out
    assert "utilisation_pct" in out and re.search(r"^valid +True$", out, re.MULTILINE)
    for name in (
        "report.html",
        "report.xlsx",
        "kpis.csv",
        "placements.parquet",
        "gantt.png",
        "utilisation_heatmap.png",
    ):
        assert (tmp_path / name).is_file(), name
    replay = load_scenario(tmp_path / "inputs" / "scenario.yaml").problem
    assert len(replay.requests) == pd.read_csv(tmp_path / "kpis.csv")["requests"].iloc[0]


@pytest.mark.slow
def test_pcs_simulate_on_the_default_scenario_for_a_week(tmp_path: Path, capsys) -> None:
    args = ["simulate", str(DEFAULT), "--days", "7", "--scheduler", "optimiser", "--time-limit", "0.5", "--quiet"]
    assert main([*args, "--out", str(tmp_path)]) == 0
    kpis = pd.read_csv(tmp_path / "kpis.csv").iloc[0]
    assert kpis["valid"] and kpis["placed"] > 0
    assert len(pd.read_csv(tmp_path / "utilisation_by_day.csv")) == 7
