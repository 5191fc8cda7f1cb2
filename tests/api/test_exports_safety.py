"""The utilisation report never hands a spreadsheet a formula: a pool whose accelerator type is
``=HYPERLINK(...)`` comes out as text in CSV and Excel, and as it is in Parquet."""

from __future__ import annotations

import csv
import io

import openpyxl
import pandas as pd
from fastapi.testclient import TestClient

from tests.api.tiny import ADMIN, SLOTS

LINK = '=HYPERLINK("http://x","y")'


def add_formula_pool(client: TestClient) -> None:
    body = {
        "id": "p-link",
        "site_id": "s1",
        "accelerator_type": LINK,
        "capacity": 4,
        "price_fen_per_hour": 100,
        "power_w": 300,
    }
    response = client.post("/pools", headers=ADMIN, json=body)
    assert response.status_code == 201, response.text


def report(client: TestClient, fmt: str) -> bytes:
    response = client.get(f"/reports/utilisation?format={fmt}", headers=ADMIN)
    assert response.status_code == 200, response.text
    return response.content


def test_csv_cell_is_quoted_text_and_numbers_stay_numbers(client: TestClient) -> None:
    add_formula_pool(client)
    rows = list(csv.DictReader(io.StringIO(report(client, "csv").decode("utf-8"))))
    ours = [row for row in rows if row["pool_id"] == "p-link"]
    assert ours and all(row["accelerator_type"] == f"'{LINK}" for row in ours)
    assert {row["accelerator_type"] for row in rows if row["pool_id"] != "p-link"} == {"A800", "910B"}
    assert sum(float(row["capacity_acc_h"]) for row in ours) == 4 * SLOTS  # plain numbers, no quote


def test_xlsx_cell_is_a_string_never_a_formula(client: TestClient) -> None:
    add_formula_pool(client)
    sheet = openpyxl.load_workbook(io.BytesIO(report(client, "xlsx")))["utilisation"]
    header = [cell.value for cell in sheet[1]]
    type_col, capacity_col = header.index("accelerator_type"), header.index("capacity_acc_h")
    cells = [row for row in sheet.iter_rows(min_row=2) if row[header.index("pool_id")].value == "p-link"]
    assert cells
    for row in cells:
        assert row[type_col].value == f"'{LINK}" and row[type_col].data_type == "s"
        assert row[capacity_col].data_type == "n"
    assert not [cell for row in sheet.iter_rows() for cell in row if cell.data_type == "f"]


def test_parquet_keeps_the_raw_text(client: TestClient) -> None:
    add_formula_pool(client)
    frame = pd.read_parquet(io.BytesIO(report(client, "parquet")))
    assert set(frame.loc[frame["pool_id"] == "p-link", "accelerator_type"]) == {LINK}
