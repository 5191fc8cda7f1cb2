"""An import's rows meet the same rules as the API's own create models (lengths, id pattern, money caps, years),
so that no value reaches the database through a CSV that a JSON body could not carry: the database never refuses
it half-way (PostgreSQL), nor stores what later reads cannot answer with (SQLite)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import ValidationError
from sqlmodel import SQLModel

from api import models as m
from api.models.limits import MAX_FEN
from scheduler import InputError

FILES = {
    "Org": ("orgs.csv", "org"),
    "Voucher": ("vouchers.csv", "voucher"),
    "ComputeRequest": ("requests.csv", "request"),
}


def _as_created(row: SQLModel) -> tuple[type[SQLModel], dict[str, Any]] | None:
    """The create model that ``row`` must satisfy, and the values to check it with."""
    if isinstance(row, m.Org):
        return m.OrgCreate, row.model_dump()
    if isinstance(row, m.Voucher):
        return m.VoucherCreate, row.model_dump()
    if isinstance(row, m.ComputeRequest):
        values = row.model_dump(include=set(m.RequestBase.model_fields)) | {"request_id": row.id, "org_id": row.org_id}
        return m.RequestCreate, values
    return None  # a voucher's opening ledger line: made by the import itself


def check_rows(rows: Sequence[SQLModel]) -> None:
    """Raise :class:`InputError` naming the file, row, id and field of the first row that breaks a rule."""
    numbers: dict[str, int] = {}
    for row in rows:
        created = _as_created(row)
        if created is None:
            continue
        model, values = created
        name, kind = FILES[type(row).__name__]
        numbers[name] = numbers.get(name, 0) + 1
        where = f"{name} row {numbers[name]} ({kind} {getattr(row, 'id', '')})"
        try:
            model.model_validate(values)
        except ValidationError as error:
            first = error.errors()[0]
            field = ".".join(str(part) for part in first.get("loc", ())) or "row"
            message = str(first.get("msg", "invalid")).removeprefix("Value error, ")
            if ": " in message and field == "row":
                field, message = message.split(": ", 1)
            raise InputError(f"{where}: {field}", message) from None
        if isinstance(row, m.ComputeRequest) and (row.max_cost_fen or 0) > MAX_FEN:
            raise InputError(f"{where}: max_cost_cny", f"must be at most {MAX_FEN // 100} CNY")
