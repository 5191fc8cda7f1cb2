"""Charts that tell the truth: Gantt bars inside their pool's row, comparison charts readable with many variants."""

from __future__ import annotations

import itertools
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from scheduler.report.charts import COMPARE_KPIS, ROW_HEIGHT, gantt_figure, kpi_figure
from scheduler.sim.simulate import SimulationParams, load_for_days, simulate
from tests.factories import LARGE, RESEARCH, SME, make_pool, make_problem, make_request, place

ROOT = Path(__file__).resolve().parents[1]
DEFAULT = ROOT / "scenarios" / "shanghai-default" / "scenario.yaml"


def _bars(figure: Figure) -> dict[str, list[np.ndarray]]:
    """Per pool id (the artist's gid), the corners of each rectangle the Gantt chart drew."""
    out: dict[str, list[np.ndarray]] = {}
    for collection in figure.axes[0].collections:
        out.setdefault(collection.get_gid(), []).extend(path.vertices for path in collection.get_paths())
    return out


def _assert_truthful_gantt(run) -> None:
    """Every bar inside its pool's row, no two bars of a pool overlapping, and each pool's bars covering exactly
    its placements' accelerator-slots (so none is missing or drawn twice)."""
    problem = run.problem
    bars = _bars(gantt_figure(run))
    assert set(bars) <= {pool.id for pool in problem.pools}
    for row, pool in enumerate(problem.pools):
        boxes = [(v[:, 0].min(), v[:, 0].max(), v[:, 1].min(), v[:, 1].max()) for v in bars.get(pool.id, [])]
        for _, _, y0, y1 in boxes:
            assert row - 1e-9 <= y0 < y1 <= row + ROW_HEIGHT + 1e-9, (pool.id, y0, y1)
        lane = ROW_HEIGHT / pool.capacity
        area = sum((x1 - x0) * (y1 - y0) for x0, x1, y0, y1 in boxes)
        placed = [p for p in run.plan if p.pool_id == pool.id]
        expected = sum((p.end_slot - p.start_slot) * problem.request_by_id[p.request_id].accelerators for p in placed)
        assert area == pytest.approx(expected * lane)
        for a, b in itertools.combinations(boxes, 2):
            overlap_x = min(a[1], b[1]) - max(a[0], b[0])
            overlap_y = min(a[3], b[3]) - max(a[2], b[2])
            assert overlap_x <= 1e-9 or overlap_y <= 1e-9, (pool.id, a, b)


def test_gantt_bars_stay_in_their_pools_row_where_stacking_would_drift_out() -> None:
    # pool p1 of 4: A (2 acc) over 0-4, B (1) over 2-6, C (2) over 4-8, D (1) over 6-9. Stacking each bar on the
    # highest one under it puts C on top of B (at 3/4 of the row) and D above C: out of the row. Lanes: A 0-1,
    # B 2, C 0-1 once A ends, D 3 (or 2 once B ends). Pool p2 below it holds one bar that fills its row.
    requests = [
        make_request("a", SME, 2, 4, 0, 12),
        make_request("b", LARGE, 1, 4, 0, 12),
        make_request("c", RESEARCH, 2, 4, 0, 12),
        make_request("d", SME, 1, 3, 0, 12),
        make_request("e", LARGE, 2, 5, 0, 12),
    ]
    problem = make_problem(pools=[make_pool("p1", capacity=4), make_pool("p2", capacity=2)], requests=requests)
    starts = {"a": ("p1", 0), "b": ("p1", 2), "c": ("p1", 4), "d": ("p1", 6), "e": ("p2", 3)}
    plan = tuple(place(problem, r, pool, start) for r, (pool, start) in starts.items())
    _assert_truthful_gantt(SimpleNamespace(problem=problem, plan=plan, scheduler="by hand"))


def test_gantt_of_a_two_day_easy_run_keeps_every_bar_in_its_row() -> None:
    problem = load_for_days(DEFAULT, 2).problem
    run = simulate(problem, params=SimulationParams(scheduler="easy", progress=False))
    assert len(run.plan) > 50
    _assert_truthful_gantt(run)


def _frame(scenarios: int, schedulers: list[str]) -> pd.DataFrame:
    rng = np.random.default_rng(7)
    rows = []
    for i, scheduler in itertools.product(range(scenarios), schedulers):
        rows.append(
            {"scenario": f"variant-with-a-long-name-{i}", "scheduler": scheduler}
            | {k: rng.uniform(0, 100) for k, _ in COMPARE_KPIS}
            | {"sme_wait_p90_h": float("nan")}  # no SME placed anywhere: a KPI without a value
        )
    return pd.DataFrame(rows)


def _overlaps(boxes: list) -> list:
    return [(a, b) for a, b in itertools.combinations(boxes, 2) if a.overlaps(b)]


@pytest.mark.parametrize("scenarios", [1, 7])
def test_kpi_chart_with_many_variants_has_a_legend_no_empty_panel_and_no_overlapping_labels(scenarios: int) -> None:
    schedulers = ["optimiser", "fifo", "easy", "quota", "greedy"]
    figure = kpi_figure(_frame(scenarios, schedulers))
    renderer = FigureCanvasAgg(figure).get_renderer()
    figure.draw(renderer)
    [legend] = figure.legends
    assert [t.get_text() for t in legend.get_texts()] == schedulers
    # a panel per KPI with a value somewhere; the one without (SME wait p90) gets none
    titles = [axes.get_title() for axes in figure.axes]
    assert len(titles) == len(COMPARE_KPIS) - 1 and not any(t.startswith("SME wait") for t in titles)
    for axes in figure.axes:
        assert axes.get_visible()
        bars = [p for p in axes.patches if np.isfinite(p.get_width()) and p.get_width() > 0]
        assert len(bars) == scenarios * len(schedulers), axes.get_title()
        labels = [t.get_window_extent(renderer) for t in axes.get_yticklabels() if t.get_text()]
        assert len(labels) == scenarios and not _overlaps(labels), axes.get_title()
    panels = [axes.get_tightbbox(renderer) for axes in figure.axes]
    assert not _overlaps([*panels, legend.get_window_extent(renderer)])
