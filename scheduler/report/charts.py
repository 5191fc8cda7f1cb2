"""Charts of a run and of a comparison, as PNG (matplotlib, no display needed) and self-contained HTML.

- :func:`utilisation_heatmap`: utilisation per pool (rows) and hour (columns);
- :func:`gantt`: every placement as a bar on its pool's lanes, coloured by organisation class;
- :func:`budget_burndown`: voucher budget left over the run;
- :func:`kpi_bars`: one small bar chart per KPI, a bar per (scenario, scheduler).

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
from matplotlib.figure import Figure

from scheduler.model import formulas
from scheduler.model.domain import OrgClass
from scheduler.report.reports import export_tables, run_kpis, run_tables, usage_matrix

if TYPE_CHECKING:
    from scheduler.sim.simulate import SimulationResult

CLASS_COLOURS = {
    OrgClass.SME.value: "#1b9e77",
    OrgClass.LARGE.value: "#7570b3",
    OrgClass.RESEARCH.value: "#d95f02",
    OrgClass.KEY_PROJECT.value: "#e7298a",
}
COMPARE_KPIS = (
    ("utilisation_pct", "utilisation %"),
    ("sme_share_pct", "SME share %"),
    ("wait_p50_h", "wait p50 (h)"),
    ("wait_p90_h", "wait p90 (h)"),
    ("deadline_met_pct", "deadline met %"),
    ("jain_index", "Jain index"),
    ("subsidy_paid_cny", "subsidy (CNY)"),
    ("co2_t", "CO2 (t)"),
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


def gantt(run: SimulationResult, path: str | Path) -> Path:
    """Gantt view: each pool is a band, each placement a bar (height its share of the pool) at the lowest
    lane free for its run; colour = organisation class."""
    problem = run.problem
    figure = Figure(figsize=(12, 0.7 * len(problem.pools) + 1.5))
    axes = figure.subplots()
    for row, pool in enumerate(problem.pools):
        placements = sorted((p for p in run.plan if p.pool_id == pool.id), key=lambda p: p.start_slot)
        level = np.zeros(problem.horizon.slots)
        for p in placements:
            request = problem.request_by_id[p.request_id]
            end = p.start_slot + formulas.run_slots(problem, request, pool)
            base = level[p.start_slot : end].max(initial=0)
            height = request.accelerators / pool.capacity * 0.9
            colour = CLASS_COLOURS[problem.org_by_id[request.org_id].org_class.value]
            axes.broken_barh([(p.start_slot, end - p.start_slot)], (row + base, height), facecolors=colour)
            level[p.start_slot : end] = base + height
    axes.set_yticks(np.arange(len(problem.pools)) + 0.45, [p.id for p in problem.pools])
    axes.set_ylim(len(problem.pools), 0)
    axes.set_xlim(0, problem.horizon.slots)
    axes.set_xlabel(f"slot ({problem.horizon.slot_minutes} min) from {problem.horizon.start:%Y-%m-%d %H:%M}")
    handles = [axes.bar(0, 0, color=c, label=name) for name, c in CLASS_COLOURS.items()]
    axes.legend(handles=handles, loc="upper right", fontsize="small")
    axes.set_title(f"Placements ({run.scheduler})")
    return _save(figure, Path(path))


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


def kpi_bars(frame: pd.DataFrame, path: str | Path, kpis: Sequence[tuple[str, str]] = COMPARE_KPIS) -> Path:
    """One bar chart per KPI of a :func:`scheduler.report.reports.compare_frame`, a bar per (scenario, scheduler)."""
    labels = [
        f"{s}\n{k}" if frame["scenario"].nunique() > 1 else k
        for s, k in zip(frame["scenario"], frame["scheduler"], strict=True)
    ]
    columns = 4
    rows = -(-len(kpis) // columns)
    figure = Figure(figsize=(4 * columns, 3.2 * rows + 0.5 * (frame["scenario"].nunique() > 1)))
    grid = figure.subplots(rows, columns, squeeze=False)
    colours = [f"C{i % 10}" for i in pd.factorize(frame["scheduler"])[0]]
    for axes, (column, title) in zip(grid.flat, kpis, strict=False):
        axes.bar(range(len(frame)), frame[column].astype(float), color=colours)
        axes.set_xticks(range(len(frame)), labels, rotation=60, ha="right", fontsize="x-small")
        axes.set_title(title, fontsize="small")
    for axes in list(grid.flat)[len(kpis) :]:
        axes.set_visible(False)
    figure.tight_layout()
    return _save(figure, Path(path))


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
    """The comparison table (CSV, Parquet, ``compare.xlsx``), its KPI bars, the burn-down of every run and
    ``compare.html`` in ``out_dir``."""
    out = Path(out_dir)
    export_tables({"compare": frame}, out, stem="compare")
    charts = {
        "kpi_bars": kpi_bars(frame, out / "kpi_bars.png"),
        "burndown": budget_burndown({f"{s} / {k}": run for (s, k), run in runs.items()}, out / "budget_burndown.png"),
    }
    page = write_html(
        out / "compare.html", "Scenario and scheduler comparison", list(charts.values()), {"compare": frame}
    )
    return {**charts, "html": page, "xlsx": out / "compare.xlsx"}
