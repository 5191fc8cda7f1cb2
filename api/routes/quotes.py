"""A quote before submitting: price, voucher entitlement, out-of-pocket cost, and room in the window."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from api import mapping
from api import models as m
from api.db import utcnow
from api.deps import CatalogDep, CurrentUser, SessionDep, submitting_org
from scheduler import quote

router = APIRouter(prefix="/quotes", tags=["quotes"])


@router.post("", response_model=m.Quote, summary="Quote a request without submitting it")
def make_quote(body: m.RequestCreate, catalog: CatalogDep, session: SessionDep, user: CurrentUser) -> Any:
    org_id = submitting_org(user, body)
    problem = mapping.check_request(catalog, body, org_id, body.request_id or "quote", utcnow(), live=session)
    voucher = session.get(m.Voucher, body.voucher_id) if body.voucher_id else None
    offer = quote(problem, None if voucher is None else voucher.balance_fen)
    return m.Quote.model_validate(offer, from_attributes=True)
