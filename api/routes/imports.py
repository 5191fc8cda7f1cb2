"""Import a scenario's CSV files (orgs, vouchers, requests) into the live database, all or nothing."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, File, UploadFile, status
from sqlmodel import SQLModel

from api import crud, import_rules, seed
from api.db import read_session, write_session
from api.deps import Admin, EngineDep
from scheduler import InputError

router = APIRouter(prefix="/imports", tags=["imports"])


class ImportResult(SQLModel):
    orgs: int
    vouchers: int
    requests: int


@router.post(
    "/scenario",
    response_model=ImportResult,
    status_code=status.HTTP_201_CREATED,
    summary="Import orgs.csv, vouchers.csv and/or requests.csv (the scenario file formats)",
)
def import_scenario(
    engine: EngineDep,
    admin: Admin,
    orgs: Annotated[UploadFile | None, File(description="orgs.csv")] = None,
    vouchers: Annotated[UploadFile | None, File(description="vouchers.csv")] = None,
    requests: Annotated[UploadFile | None, File(description="requests.csv")] = None,
) -> ImportResult:
    uploads = {"orgs": orgs, "vouchers": vouchers, "requests": requests}
    if not any(uploads.values()):
        raise crud.Conflict("files", "upload at least one of orgs, vouchers, requests")
    with tempfile.TemporaryDirectory(prefix="pcs-import-") as folder:
        paths = {}
        for name, upload in uploads.items():
            if upload is not None:
                paths[name] = Path(folder) / f"{name}.csv"
                paths[name].write_bytes(upload.file.read())
        # read and checked outside the write transaction: on SQLite its lock holds up every submission
        with read_session(engine) as session:
            try:
                rows = seed.csv_rows(session, paths, admin.name)
            except OverflowError:  # a date so far off that it cannot be converted to the programme's time
                raise InputError("vouchers.csv", "a date lies outside the years 2000 to 2199") from None
        import_rules.check_rows(rows)
    with write_session(engine) as session:
        created = crud.insert_rows(session, rows, admin.name)
    return ImportResult(
        orgs=created.get("org", 0), vouchers=created.get("voucher", 0), requests=created.get("request", 0)
    )
