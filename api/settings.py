"""Service settings, read from ``PCS_*`` environment variables when asked (never at import time)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path

DEFAULT_SCENARIO = Path(__file__).resolve().parent.parent / "scenarios" / "shanghai-default" / "scenario.yaml"


@dataclass(frozen=True)
class Settings:
    """How one service instance runs.

    Attributes
    ----------
    database_url
        SQLAlchemy URL: ``sqlite:///pcs.db`` by default, ``postgresql+psycopg://user@host/db`` in production.
    round_minutes
        Minutes between periodic allocation rounds (APScheduler).
    run_rounds
        Whether this process runs the periodic rounds at all (tests switch them off).
    round_time_limit_s, round_workers, round_seed
        The CP-SAT time limit, worker threads and seed of each round.
    round_timeout_s
        A round taking longer than this (snapshot and solve) fails and commits nothing.
    lock_stale_s
        A round lease whose holder has not renewed it (a heartbeat every quarter of this) for this long belongs
        to a crashed process and is taken over.
    admin_token
        Created as the token of user ``admin`` at start when given (``PCS_ADMIN_TOKEN``).
    seed_scenario
        A scenario file that seeds an empty database at start (``make run``); empty for none.
    token_ttl_days
        A token issued or rotated from now on stops working after this many days (0: never); rotate it before.
    whatif_open_per_admin
        How many what-ifs one administrator may have queued or running at once (409 beyond).
    metrics_public
        Whether ``/metrics`` answers without a token; otherwise an admin's or auditor's bearer token is needed.
    max_body_bytes, max_import_bytes
        The largest request body (``/imports/``: the largest upload), refused with 413 before it is read.
    max_header_bytes
        The largest total size of a request's headers (431).
    body_timeout_s
        The longest wait for the next part of a request's body (408).
    header_timeout_s
        The longest a request's head (line and headers) may take to arrive, from its first byte or from the
        connection's opening (408; ``python -m api`` only, see :mod:`api.http_protocol`).
    """

    database_url: str = field(default="sqlite:///pcs.db", repr=False)  # may hold a password
    round_minutes: float = 60.0
    run_rounds: bool = True
    round_time_limit_s: float = 20.0
    round_workers: int = 2
    round_seed: int = 0
    round_timeout_s: float = 300.0
    lock_stale_s: float = 60.0
    admin_token: str = field(default="", repr=False)
    seed_scenario: str = ""
    whatif_workers: int = 1
    metrics_public: bool = False
    whatif_open_per_admin: int = 3
    token_ttl_days: float = 0.0
    max_body_bytes: int = 1 << 20
    max_import_bytes: int = 64 << 20
    max_header_bytes: int = 16 << 10
    body_timeout_s: float = 30.0
    header_timeout_s: float = 10.0

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: object) -> Settings:
        """Settings from ``PCS_<FIELD>`` variables (e.g. ``PCS_DATABASE_URL``), then ``overrides``."""
        environ = os.environ if environ is None else environ
        values: dict[str, object] = {}
        for f in fields(cls):
            raw = environ.get(f"PCS_{f.name.upper()}")
            if raw is None:
                continue
            if f.type == "bool":
                values[f.name] = raw.strip().lower() in ("1", "true", "yes", "on")
            elif f.type == "int":
                values[f.name] = int(raw)
            elif f.type == "float":
                values[f.name] = float(raw)
            else:
                values[f.name] = raw
        values.update(overrides)
        return cls(**values)  # type: ignore[arg-type]
