"""The what-if notebook runs from top to bottom (nbclient) and writes its charts."""

from __future__ import annotations

from pathlib import Path

import nbformat
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
        notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOK.parent)}}
    )
    client.execute()
    errors = [o for cell in notebook.cells for o in cell.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors
    images = [o for cell in notebook.cells for o in cell.get("outputs", []) if "image/png" in o.get("data", {})]
    assert len(images) >= 6  # KPI bars and burn-down of the variants, KPI bars of the trace, three run charts
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
