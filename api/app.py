"""``create_app(settings)``: the FastAPI service. Nothing here runs at import time."""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from types import ModuleType
from typing import Any

from fastapi import FastAPI, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DataError, IntegrityError

from api import crud, jobs
from api.catalog import CatalogCache
from api.db import WRITE, make_engine, migrate, preparing
from api.group_commit import SubmissionWriter
from api.guard import RequestGuard
from api.routes import (
    allocations,
    audit,
    health,
    imports,
    orgs,
    policy,
    pools,
    quotes,
    reports,
    requests,
    rounds,
    sites,
    users,
    vouchers,
    whatif,
)
from api.seed import ensure_admin, seed_from_scenario
from api.settings import Settings
from scheduler import InputError

log = logging.getLogger("pcs.api")

ROUTERS: tuple[ModuleType, ...] = (health, quotes, requests, allocations, vouchers, sites, pools, orgs, users)
ROUTERS += (policy, rounds, reports, imports, whatif, audit)

DESCRIPTION = """
Public Compute Scheduler: SMEs quote and submit requests for accelerator time and see their allocations and
voucher balance; administrators manage sites, pools, organisations, vouchers and the policy, run allocation
rounds, export reports and try what-ifs; auditors read rounds, decisions, ledgers and the audit log.

Authenticate with `Authorization: Bearer <token>`. Money is in integer fen (0.01 CNY) unless a field says
`_cny`. Bad input gets a 4xx whose `detail` lists `{field, rule}`.
"""


def _errors(status_code: int, field: str, rule: str) -> JSONResponse:
    return JSONResponse({"detail": [{"field": field, "rule": rule}]}, status_code=status_code)


def _validation_error(_: Request, exc: RequestValidationError | ValidationError) -> JSONResponse:
    """422 with ``{field, rule}`` per error, for request bodies and for models a route validates itself."""
    detail = []
    for error in exc.errors():
        location = [str(part) for part in error.get("loc", ()) if part not in ("body", "query", "path", "header")]
        message = str(error.get("msg", "invalid"))
        field = ".".join(location)
        if message.startswith("Value error, ") and ": " in message:  # our model validators say "field: rule"
            field, message = message.removeprefix("Value error, ").split(": ", 1)
        detail.append({"field": field or "body", "rule": message})
    return JSONResponse({"detail": detail}, status_code=status.HTTP_422_UNPROCESSABLE_CONTENT)


def _integrity_error(_: Request, error: IntegrityError) -> JSONResponse:
    """409 without the database's own text (it names tables, constraints and other rows' keys); that goes to
    the log."""
    log.warning("integrity error answered 409: %s", str(error.orig).splitlines()[0])
    rule = "conflicts with stored data: a duplicate id or key, or a reference to something that does not exist"
    return _errors(status.HTTP_409_CONFLICT, "body", rule)


def _data_error(_: Request, error: DataError) -> JSONResponse:
    """422 for a value the database cannot store that the models let through (a NUL character in text, which
    PostgreSQL refuses); nothing was stored (the transaction rolls back)."""
    log.warning("data error answered 422: %s", str(error.orig).splitlines()[0])
    rule = "holds a value the database cannot store (a NUL character, or one too long or too large)"
    return _errors(status.HTTP_422_UNPROCESSABLE_CONTENT, "body", rule)


def _internal_error(_: Request, error: Exception) -> JSONResponse:
    """500 that says it closes the connection: the server drops a connection whose request failed, and a client
    reusing it (keep-alive) would otherwise see a reset instead of its next answer."""
    rule = "an internal error; the request was not carried out, try again or report it"
    response = _errors(status.HTTP_500_INTERNAL_SERVER_ERROR, "server", rule)
    response.headers["Connection"] = "close"
    return response


def install_error_handlers(app: FastAPI) -> None:
    handlers: dict[Any, Any] = {
        RequestValidationError: _validation_error,
        ValidationError: _validation_error,
        InputError: lambda _, e: _errors(status.HTTP_422_UNPROCESSABLE_CONTENT, e.field, e.rule),
        crud.NotFound: lambda _, e: JSONResponse({"detail": str(e)}, status_code=status.HTTP_404_NOT_FOUND),
        crud.Forbidden: lambda _, e: JSONResponse({"detail": str(e)}, status_code=status.HTTP_403_FORBIDDEN),
        crud.Conflict: lambda _, e: _errors(status.HTTP_409_CONFLICT, e.field, e.rule),
        IntegrityError: _integrity_error,
        DataError: _data_error,
        Exception: _internal_error,
    }
    for error, handler in handlers.items():
        app.add_exception_handler(error, handler)


def prepare_database(engine: Engine, settings: Settings) -> None:
    """Migrate the schema, seed an empty database, make sure the admin exists (printing a new admin's token once)."""
    with preparing(engine):
        migrate(engine)
        if settings.seed_scenario:
            seed_from_scenario(engine, settings.seed_scenario)
        token = ensure_admin(engine, settings.admin_token, settings.token_ttl_days)
    if token and not settings.admin_token:
        print(f"pcs: admin token (shown once): {token}", flush=True)


def create_app(settings: Settings | None = None, *, prepare: bool = True) -> FastAPI:
    """The service for ``settings`` (default: from the ``PCS_*`` environment). With ``prepare``, the database is
    migrated, seeded and given an admin when the app starts (lifespan), not when it is created."""
    settings = settings or Settings.from_env()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = make_engine(settings.database_url)
        if prepare:
            prepare_database(engine, settings)
        background = jobs.Background(engine, settings)
        app.state.engine, app.state.background = engine, background
        app.state.write_engine = engine.execution_options(**WRITE)
        app.state.catalog = CatalogCache(engine)
        app.state.submissions = SubmissionWriter(app.state.write_engine)
        background.start()
        try:
            yield
        finally:
            background.stop()
            app.state.submissions.stop()
            engine.dispose()

    app = FastAPI(title="pcs: Public Compute Scheduler", version="0.1.0", description=DESCRIPTION, lifespan=lifespan)
    app.state.settings = settings
    install_error_handlers(app)
    app.add_middleware(RequestGuard, settings=settings)
    for module in ROUTERS:
        app.include_router(module.router)
    return app


def create_worker_app() -> FastAPI:
    """The app of one of several uvicorn worker processes (``PCS_WORKERS``): settings from the environment, and
    the database already prepared by the parent process (several workers migrating at once would race)."""
    app = create_app(Settings.from_env(), prepare=False)
    freeze_startup_objects()
    return app


def freeze_startup_objects() -> None:
    """Leave what a server process has loaded by now (the modules of FastAPI, OR-Tools, pandas: some 170,000
    objects) out of all later garbage collections: a full collection over them pauses the process for ~0.1 s."""
    gc.collect()
    gc.freeze()
