"""Import a scenario's CSV files (orgs, vouchers, requests) into the live database, all or nothing."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, File, UploadFile, status
from sqlmodel import SQLModel

from api import crud, mapping
from api.deps import Admin, WriteSessionDep

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
    session: WriteSessionDep,
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
        rows = mapping.csv_rows(session, paths, admin.name)
    counts = {"orgs": 0, "vouchers": 0, "requests": 0}
    kinds = {"Org": "orgs", "Voucher": "vouchers", "ComputeRequest": "requests"}
    for row in rows:
        kind = kinds.get(type(row).__name__)
        if kind is None:
            session.add(row)  # a voucher's opening ledger entry
            continue
        crud.create(session, row, admin.name, kind.rstrip("s"))
        counts[kind] += 1
    session.commit()
    return ImportResult(**counts)
