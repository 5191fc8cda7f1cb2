"""Spreadsheet-safe exports: the CSV and Excel reports (``pcs simulate|compare --out``, the API's utilisation
report) are written here, and any other CSV meant for people should be too.

A text cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is a formula to Excel,
LibreOffice and Google Sheets (CSV or xlsx alike): an accelerator type or an organisation name such as
``=HYPERLINK("http://x","y")`` would become a live link or worse in an administrator's spreadsheet (CSV or
formula injection). Following the OWASP rule, :func:`neutralise` puts a ``'`` before such text so that it shows
as the text it is. Only ``str`` cells are touched: numbers, including negative ones, stay numbers.

Parquet is not a spreadsheet: nothing evaluates its cells, and its readers (pandas, Arrow, DuckDB) want the
data as stored, so :func:`write_parquet` keeps raw values.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any, BinaryIO

import pandas as pd

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
"""First characters that make a spreadsheet read a text cell as a formula (OWASP, "CSV Injection")."""

XLSX_ILLEGAL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
"""Characters an xlsx cell cannot hold (the XML 1.0 rule); written as U+FFFD."""


def neutralise(value: Any) -> Any:
    """``value`` with a leading ``'`` if it is text that a spreadsheet would take for a formula, else as is."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def restore(value: Any) -> Any:
    """The text that :func:`neutralise` was given, for a reader of a file written here (an allocations file
    read back by ``pcs validate``, once ``pcs solve`` writes it with :func:`write_csv`).

    Text that began with ``'`` followed by a formula character before it was written comes back without its
    ``'``; no identifier or name the project writes is expected to look like that.
    """
    if isinstance(value, str) and value.startswith("'") and value[1:].startswith(FORMULA_PREFIXES):
        return value[1:]
    return value


def spreadsheet_safe(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` whose text cells and column names are :func:`neutralise`-d.

    Numeric, boolean, datetime and timedelta columns are left alone (a negative number is not a formula); any other
    column (object, string, categorical) is mapped cell by cell, so text in a mixed column is caught too.
    """
    out = frame.copy()
    for position, dtype in enumerate(frame.dtypes):
        if (
            pd.api.types.is_numeric_dtype(dtype)  # bool included
            or pd.api.types.is_datetime64_any_dtype(dtype)
            or pd.api.types.is_timedelta64_dtype(dtype)
        ):
            continue
        out.isetitem(position, frame.iloc[:, position].astype(object).map(neutralise).to_numpy())
    out.columns = [neutralise(name) for name in frame.columns]
    return out


def write_csv(frame: pd.DataFrame, target: str | Path | IO[str]) -> None:
    """``frame`` (no index) as spreadsheet-safe CSV (UTF-8 when ``target`` is a path)."""
    spreadsheet_safe(frame).to_csv(target, index=False, encoding="utf-8")


def write_xlsx(sheets: Mapping[str, pd.DataFrame], target: str | Path | BinaryIO) -> None:
    """One sheet per frame (no index; names cut to Excel's 31 characters), spreadsheet-safe.

    openpyxl stores any string that starts with ``=`` as a formula (data type ``f``). After
    :func:`spreadsheet_safe` no text cell should, but every such cell is still set back to a plain string
    (``s``) so that no text we were given is ever written as a formula, whatever slips past the rule.
    """
    with pd.ExcelWriter(target, engine="openpyxl") as writer:
        for name, frame in sheets.items():
            sheet_name = name[:31]
            safe = spreadsheet_safe(frame)
            # control characters (other than tab, newline, CR) cannot be stored in an xlsx file at all
            safe = safe.map(lambda cell: XLSX_ILLEGAL.sub("\ufffd", cell) if isinstance(cell, str) else cell)
            safe.to_excel(writer, sheet_name=sheet_name, index=False)
            for row in writer.sheets[sheet_name].iter_rows():
                for cell in row:
                    if cell.data_type == "f":
                        cell.data_type = "s"


def write_parquet(frame: pd.DataFrame, target: str | Path | BinaryIO) -> None:
    """``frame`` (no index) as Parquet, raw: Parquet is data for programs, not a spreadsheet, so no cell is
    rewritten (see the module docstring)."""
    frame.to_parquet(target, index=False, engine="pyarrow")


def export_tables(tables: Mapping[str, pd.DataFrame], out_dir: str | Path, stem: str = "report") -> list[Path]:
    """Write each table as ``<name>.csv`` and ``<name>.parquet``, and all of them to ``<stem>.xlsx`` (one
    sheet per table, names cut to Excel's 31 characters). Returns the files written.

    CSV and Excel go through :func:`write_csv` and :func:`write_xlsx`: text that a spreadsheet would run as a
    formula gets a leading ``'``. Parquet keeps the raw values."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, frame in tables.items():
        write_csv(frame, out / f"{name}.csv")
        write_parquet(frame, out / f"{name}.parquet")
        written += [out / f"{name}.csv", out / f"{name}.parquet"]
    write_xlsx(tables, out / f"{stem}.xlsx")
    return [*written, out / f"{stem}.xlsx"]
