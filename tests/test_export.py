"""Spreadsheet-safe exports (:mod:`scheduler.report.export`): text a spreadsheet would run as a formula is written as
text, numbers stay numbers, Parquet stays raw, and restore() undoes the quote."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

from scheduler.report import export

LINK = '=HYPERLINK("http://x","y")'


@pytest.mark.parametrize("text", [LINK, "+1+2", "-2+3", "@SUM(A1)", "\t=1", "\r=1"])
def test_text_that_starts_a_formula_gets_a_quote(text: str) -> None:
    assert export.neutralise(text) == "'" + text
    assert export.restore(export.neutralise(text)) == text


@pytest.mark.parametrize("value", ["A800", "910B", "", " =1", "'=1", "a=b", "x-y", -3, -2.5, None, True])
def test_other_values_are_left_alone(value: object) -> None:
    assert export.neutralise(value) is value


def frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "accelerator_type": [LINK, "A800", "-x"],
            "capacity_acc_h": [-1.5, 0.0, 2.0],  # numbers, negative or not, are not formulas
            "count": pd.array([-1, None, 3], dtype="Int64"),
            "kind": pd.Categorical(["@x", "ok", "@x"]),
            "mixed": ["+1", 4, None],
            "=name": ["a", "b", "c"],
        }
    )


def test_spreadsheet_safe_touches_text_cells_and_names_only() -> None:
    original = frame()
    safe = export.spreadsheet_safe(original)
    assert list(safe["accelerator_type"]) == [f"'{LINK}", "A800", "'-x"]
    assert list(safe["kind"]) == ["'@x", "ok", "'@x"]
    assert list(safe["mixed"])[:2] == ["'+1", 4]
    assert list(safe.columns)[-1] == "'=name"
    pd.testing.assert_series_equal(safe["capacity_acc_h"], original["capacity_acc_h"])
    pd.testing.assert_series_equal(safe["count"], original["count"])
    assert original["accelerator_type"][0] == LINK  # a copy: the caller's frame is unchanged


def test_csv_cells_and_numbers() -> None:
    text = io.StringIO()
    export.write_csv(frame(), text)
    rows = list(csv.reader(io.StringIO(text.getvalue())))
    assert rows[0][-1] == "'=name"
    assert rows[1][:2] == [f"'{LINK}", "-1.5"]
    assert rows[1][2] == "-1" and rows[3][0] == "'-x"


def read_sheet(data: io.BytesIO | Path, name: str) -> list[list[openpyxl.cell.cell.Cell]]:
    return [list(row) for row in openpyxl.load_workbook(data)[name].iter_rows()]


def test_xlsx_text_is_a_string_cell_and_numbers_are_numbers() -> None:
    data = io.BytesIO()
    export.write_xlsx({"utilisation": frame()}, data)
    rows = read_sheet(data, "utilisation")
    assert (rows[0][-1].value, rows[0][-1].data_type) == ("'=name", "s")
    assert (rows[1][0].value, rows[1][0].data_type) == (f"'{LINK}", "s")
    assert (rows[1][1].value, rows[1][1].data_type) == (-1.5, "n")
    assert (rows[1][2].value, rows[1][2].data_type) == (-1, "n")
    assert not [c for row in rows for c in row if c.data_type == "f"]


def test_xlsx_never_stores_text_as_a_formula_even_past_the_rule(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(export, "neutralise", lambda value: value)  # as if a case slipped past the rule
    data = io.BytesIO()
    export.write_xlsx({"t": pd.DataFrame({"a": [LINK]})}, data)
    cell = read_sheet(data, "t")[1][0]
    assert (cell.value, cell.data_type) == (LINK, "s")


def test_export_tables_protects_csv_and_xlsx_and_keeps_parquet_raw(tmp_path: Path) -> None:
    tables = {"by_type": frame()[["accelerator_type", "capacity_acc_h"]]}
    export.export_tables(tables, tmp_path)
    with (tmp_path / "by_type.csv").open(newline="") as handle:
        assert list(csv.reader(handle))[1] == [f"'{LINK}", "-1.5"]
    cell = read_sheet(tmp_path / "report.xlsx", "by_type")[1][0]
    assert (cell.value, cell.data_type) == (f"'{LINK}", "s")
    assert pd.read_parquet(tmp_path / "by_type.parquet")["accelerator_type"][0] == LINK


def test_control_characters_an_xlsx_file_cannot_hold_are_replaced(tmp_path: Path) -> None:
    data = tmp_path / "t.xlsx"
    export.write_xlsx({"t": pd.DataFrame({"a": ["910B\x13x", "ok\ttab"], "n": [1, 2]})}, data)
    sheet = openpyxl.load_workbook(data)["t"]
    assert [sheet["A2"].value, sheet["A3"].value, sheet["B2"].value] == ["910B\ufffdx", "ok\ttab", 1]
