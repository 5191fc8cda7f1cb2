"""The what-if notebook runs from top to bottom (nbclient), at its default length (7 days), and writes its charts."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pandas as pd
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "what_if.ipynb"
HAS_TRACES = (ROOT.parent / "shared" / "data" / "traces").is_dir()


@pytest.mark.slow
@pytest.mark.skipif(not HAS_TRACES, reason="shared/data/traces is not beside the clone")
def test_the_what_if_notebook_runs_and_writes_its_charts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PCS_NOTEBOOK_OUT", str(tmp_path))
    monkeypatch.setenv("PCS_NOTEBOOK_TIME_LIMIT", "0.5")
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    client = NotebookClient(
        notebook, timeout=1200, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOK.parent)}}
    )
    client.execute()
    errors = [o for cell in notebook.cells for o in cell.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors
    images = [o for cell in notebook.cells for o in cell.get("outputs", []) if "image/png" in o.get("data", {})]
    assert len(images) >= 6  # KPI bars and burn-down of the variants, KPI bars of the trace, three run charts
    # a week is long enough for the policy variants to differ from one another
    variants = pd.read_csv(tmp_path / "variants" / "compare.csv")
    assert len(variants) == 5 and variants["valid"].all()
    assert len(variants[["served_work_acc_h", "sme_share_pct", "subsidy_paid_cny"]].drop_duplicates()) == 5
    ratios = pd.read_csv(tmp_path / "trace" / "ratio_to_best_baseline.csv")
    assert ratios["scheduler"].tolist() == ["optimiser"]
    for chart in (
        "variants/kpi_bars.png",
        "variants/budget_burndown.png",
        "trace/kpi_bars.png",
        "trace-optimiser/utilisation_heatmap.png",
        "trace-optimiser/gantt.png",
        "trace-optimiser/budget_burndown.png",
        "trace-optimiser/report.html",
    ):
        assert (tmp_path / chart).stat().st_size > 1000, chart
    # the notebook defines no model logic: no def or class in any cell
    code = "\n".join(cell.source for cell in notebook.cells if cell.cell_type == "code")
    assert "def " not in code and "class " not in code
