"""The utilisation report, exported as CSV, Excel or Parquet."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Response

from api import reports
from api.deps import Reader, SessionDep

router = APIRouter(prefix="/reports", tags=["reports"])


@router.get(
    "/utilisation",
    summary="Per day, site, pool and class: capacity, used, utilisation, SME share, subsidy, CO2",
    responses={200: {"content": {v[0]: {} for v in reports.FORMATS.values()}}},
)
def utilisation(session: SessionDep, _: Reader, format: Literal["csv", "xlsx", "parquet"] = "csv") -> Response:
    media_type, suffix = reports.FORMATS[format]
    body = reports.export(reports.utilisation_frame(session), format)
    headers = {"Content-Disposition": f'attachment; filename="utilisation.{suffix}"'}
    return Response(content=body, media_type=media_type, headers=headers)
