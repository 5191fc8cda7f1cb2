"""Charts of a run and of a comparison, as PNG (matplotlib, no display needed) and self-contained HTML.

- :func:`utilisation_heatmap`: utilisation per pool (rows) and hour (columns);
- :func:`gantt`: every placement as a bar on its pool's lanes (one per accelerator), coloured by organisation class;
- :func:`budget_burndown`: voucher budget left over the run;
- :func:`kpi_bars`: one small bar chart per KPI, a group of bars per scenario, a bar per scheduler.

The HTML pages embed the PNGs (base64) and the tables; they fetch nothing from the internet.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from matplotlib.collections import PolyCollection
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from scheduler.model.domain import OrgClass
from scheduler.report.export import export_tables
from scheduler.report.reports import (
    KPI_HIGHER_IS_BETTER,
    ratio_to_best_baseline,
    run_kpis,
    run_tables,
    usage_matrix,
)

if TYPE_CHECKING:
    from scheduler.sim.simulate import SimulationResult

CLASS_COLOURS = {
    OrgClass.SME.value: "#1b9e77",
    OrgClass.LARGE.value: "#7570b3",
    OrgClass.RESEARCH.value: "#d95f02",
    OrgClass.KEY_PROJECT.value: "#e7298a",
}
COMPARE_KPIS = (
    ("served_work_acc_h", "served work (acc-h at reference speed)"),
    ("weighted_value", "weighted value (objective)"),
    ("utilisation_pct", "utilisation %"),
    ("utilisation_speed_adjusted_pct", "utilisation, speed-adjusted %"),
    ("sme_share_pct", "SME share of served work %"),
    ("deadline_met_pct", "deadline met %"),
    ("wait_p50_h", "wait p50 (h)"),
    ("wait_p90_h", "wait p90 (h)"),
    ("sme_wait_p90_h", "SME wait p90 (h)"),
    ("co2_kg_per_acc_h", "CO2 kg per served acc-h"),
    ("jain_index", "Jain index over organisations"),
    ("subsidy_paid_cny", "subsidy paid (CNY)"),
)


def _save(figure: Figure, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110, bbox_inches="tight")
    return path


def utilisation_heatmap(run: SimulationResult, path: str | Path) -> Path:
    """Heat map of used / available accelerators per pool and slot."""
    problem = run.problem
    used, available = usage_matrix(problem, run.plan)
    share = np.divide(used, available, out=np.zeros(used.shape, dtype=float), where=available > 0)
    figure = Figure(figsize=(12, 0.45 * len(problem.pools) + 1.5))
    axes = figure.subplots()
    image = axes.imshow(share * 100, aspect="auto", cmap="viridis", vmin=0, vmax=100, interpolation="nearest")
    axes.set_yticks(range(len(problem.pools)), [p.id for p in problem.pools])
    hours = float(problem.horizon.slot_hours)
    ticks = np.arange(0, problem.horizon.slots, max(1, round(24 / hours)))
    axes.set_xticks(ticks, [f"d{int(t * hours // 24) + 1}" for t in ticks])
    axes.set_title(f"Utilisation per pool and hour ({run.scheduler})")
    figure.colorbar(image, ax=axes, label="% of available accelerators")
    return _save(figure, Path(path))


ROW_HEIGHT = 0.9
"""The share of a Gantt row that its pool's accelerators fill (the rest is the gap to the next row)."""


def _lane_runs(lanes: np.ndarray) -> list[tuple[int, int]]:
    """``(first lane, count)`` of each run of consecutive numbers in the sorted ``lanes``."""
    chunks = np.split(lanes, np.flatnonzero(np.diff(lanes) > 1) + 1)
    return [(int(chunk[0]), len(chunk)) for chunk in chunks]


def gantt_figure(run: SimulationResult) -> Figure:
    """Gantt view: pool ``i`` is row ``[i, i + ROW_HEIGHT]`` (y grows downwards), one lane per accelerator of its
    capacity; a placement is drawn over ``[start_slot, end_slot)`` on as many lanes as it has accelerators,
    coloured by organisation class. Each pool's bars are one artist whose ``gid`` is the pool's id.

    Placements take, in order of start, the lowest-numbered lanes free at their start: a lane is free again
    when its placement ends, so a valid plan (never more accelerators at once than the pool has) always finds
    enough and every bar stays inside its row. (Stacking each bar on the highest bar under it instead drifts
    upwards as bars end and start, out of the row.) When the free lanes are not consecutive, the placement is
    drawn as one rectangle per run of consecutive lanes."""
    problem = run.problem
    figure = Figure(figsize=(12, 0.7 * len(problem.pools) + 1.5))
    axes = figure.subplots()
    for row, pool in enumerate(problem.pools):
        free_from = np.zeros(pool.capacity, dtype=np.int64)  # per lane, the first slot it is free
        lane_height = ROW_HEIGHT / pool.capacity
        rectangles, colours = [], []
        placements = sorted((p for p in run.plan if p.pool_id == pool.id), key=lambda p: (p.start_slot, p.request_id))
        for p in placements:
            request = problem.request_by_id[p.request_id]
            # free lanes first (wait 0), lowest number first; a lane still busy only if the plan overbooks
            wait = np.maximum(free_from - p.start_slot, 0)
            lanes = np.sort(np.lexsort((np.arange(pool.capacity), wait))[: request.accelerators])
            free_from[lanes] = p.end_slot
            for first, count in _lane_runs(lanes):
                top, bottom = row + first * lane_height, row + (first + count) * lane_height
                x0, x1 = p.start_slot, p.end_slot
                rectangles.append([(x0, top), (x1, top), (x1, bottom), (x0, bottom)])
                colours.append(CLASS_COLOURS[problem.org_by_id[request.org_id].org_class.value])
        collection = PolyCollection(rectangles, facecolors=colours, edgecolors="white", linewidths=0.3, gid=pool.id)
        axes.add_collection(collection)
    axes.set_yticks(np.arange(len(problem.pools)) + ROW_HEIGHT / 2, [p.id for p in problem.pools])
    axes.set_ylim(len(problem.pools), 0)
    axes.set_xlim(0, problem.horizon.slots)
    axes.set_xlabel(f"slot ({problem.horizon.slot_minutes} min) from {problem.horizon.start:%Y-%m-%d %H:%M}")
    handles = [Patch(color=colour, label=name) for name, colour in CLASS_COLOURS.items()]
    axes.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize="small")
    axes.set_title(f"Placements ({run.scheduler})")
    return figure


def gantt(run: SimulationResult, path: str | Path) -> Path:
    """:func:`gantt_figure` as a PNG at ``path``."""
    return _save(gantt_figure(run), Path(path))


def budget_burndown(runs: Mapping[str, SimulationResult], path: str | Path) -> Path:
    """Voucher budget left (CNY) over the run's hours, one line per run."""
    figure = Figure(figsize=(8, 4))
    axes = figure.subplots()
    for label, run in runs.items():
        budget = run_tables(run)["budget"]
        axes.step(budget["hour"], budget["budget_left_cny"], where="post", label=label)
    axes.set_xlabel("hour of the run")
    axes.set_ylabel("budget left (CNY)")
    axes.set_ylim(bottom=0)
    axes.legend(fontsize="small")
    axes.set_title("Voucher budget burn-down")
    return _save(figure, Path(path))


def kpi_figure(frame: pd.DataFrame, kpis: Sequence[tuple[str, str]] = COMPARE_KPIS) -> Figure:
    """One horizontal bar chart per KPI of a :func:`scheduler.report.reports.compare_frame`: a group of bars per
    scenario (its name on the y axis), a bar per scheduler in one colour throughout, named in the legend above.

    Horizontal bars keep every label level and apart however many variants there are (the figure grows with
    them); a KPI that the frame lacks, or that no run has a value for, gets no panel. Titles say which way is
    better where :data:`~scheduler.report.reports.KPI_HIGHER_IS_BETTER` knows it."""
    shown = [(k, title) for k, title in kpis if k in frame.columns and frame[k].astype(float).notna().any()]
    scenarios = list(dict.fromkeys(frame["scenario"]))
    schedulers = list(dict.fromkeys(frame["scheduler"]))
    columns = min(3, max(1, len(shown)))
    rows = -(-len(shown) // columns)
    bar_height = 0.8 / len(schedulers)
    panel_height = 0.9 + 0.13 * len(scenarios) * len(schedulers)
    figure = Figure(figsize=(4.6 * columns, panel_height * rows + 0.8), layout="constrained")
    colours = {name: f"C{i % 10}" for i, name in enumerate(schedulers)}
    for i, (column, title) in enumerate(shown):
        axes = figure.add_subplot(rows, columns, i + 1)
        for j, name in enumerate(schedulers):
            runs = frame[frame["scheduler"] == name]
            y = [scenarios.index(s) + (j - (len(schedulers) - 1) / 2) * bar_height for s in runs["scenario"]]
            axes.barh(y, runs[column].astype(float), height=bar_height, color=colours[name], label=name)
        axes.set_yticks(range(len(scenarios)), scenarios, fontsize="small")
        axes.set_ylim(len(scenarios) - 0.5, -0.5)
        axes.tick_params(axis="x", labelsize="small")
        direction = KPI_HIGHER_IS_BETTER.get(column)
        better = "" if direction is None else "\n(higher is better)" if direction else "\n(lower is better)"
        axes.set_title(title + better, fontsize="small")
    handles = [Patch(color=colours[name], label=name) for name in schedulers]
    figure.legend(handles=handles, loc="outside upper center", ncols=min(len(schedulers), 6), fontsize="small")
    return figure


def kpi_bars(frame: pd.DataFrame, path: str | Path, kpis: Sequence[tuple[str, str]] = COMPARE_KPIS) -> Path:
    """:func:`kpi_figure` as a PNG at ``path``."""
    return _save(kpi_figure(frame, kpis), Path(path))


def _img(path: Path) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return f'<figure><img alt="{html.escape(path.stem)}" src="data:image/png;base64,{data}"></figure>'


def write_html(path: str | Path, title: str, images: Sequence[Path], tables: Mapping[str, pd.DataFrame]) -> Path:
    """A self-contained page: the charts (embedded PNGs) and the tables."""
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>{html.escape(title)}</title>",
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;font-size:12px}"
        "td,th{border:1px solid #ccc;padding:2px 6px;text-align:right}img{max-width:100%}</style>",
        f"</head><body><h1>{html.escape(title)}</h1>",
        *(_img(image) for image in images),
    ]
    for name, frame in tables.items():
        parts += [f"<h2>{html.escape(name)}</h2>", frame.to_html(index=False, na_rep="", float_format="{:,.2f}".format)]
    parts.append("</body></html>")
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(parts), encoding="utf-8")
    return out


def write_run_report(run: SimulationResult, out_dir: str | Path, title: str | None = None) -> dict[str, Path]:
    """Tables (CSV, Parquet, ``report.xlsx``), charts (PNG) and ``report.html`` of one run in ``out_dir``."""
    out = Path(out_dir)
    tables = run_tables(run)
    kpi_frame = pd.DataFrame([run_kpis(run, tables)])
    export_tables({"kpis": kpi_frame, **tables}, out)
    charts = {
        "heatmap": utilisation_heatmap(run, out / "utilisation_heatmap.png"),
        "gantt": gantt(run, out / "gantt.png"),
        "burndown": budget_burndown({run.scheduler: run}, out / "budget_burndown.png"),
    }
    shown = {k: v for k, v in tables.items() if k not in ("placements", "outcomes", "rounds", "fairness_by_org")}
    page = write_html(
        out / "report.html",
        title or f"Simulation: {run.scheduler}",
        list(charts.values()),
        {"kpis": kpi_frame, **shown},
    )
    return {**charts, "html": page, "xlsx": out / "report.xlsx"}


def write_compare_report(
    frame: pd.DataFrame, runs: Mapping[tuple[str, str], SimulationResult], out_dir: str | Path
) -> dict[str, Path]:
    """The comparison table and each run's ratios to the best baseline
    (:func:`~scheduler.report.reports.ratio_to_best_baseline`) as CSV, Parquet and ``compare.xlsx``, their KPI
    bars, the burn-down of every run and ``compare.html`` in ``out_dir``."""
    out = Path(out_dir)
    tables = {"compare": frame, "ratio_to_best_baseline": ratio_to_best_baseline(frame)}
    export_tables(tables, out, stem="compare")
    charts = {
        "kpi_bars": kpi_bars(frame, out / "kpi_bars.png"),
        "burndown": budget_burndown({f"{s} / {k}": run for (s, k), run in runs.items()}, out / "budget_burndown.png"),
    }
    page = write_html(out / "compare.html", "Scenario and scheduler comparison", list(charts.values()), tables)
    return {**charts, "html": page, "xlsx": out / "compare.xlsx"}
