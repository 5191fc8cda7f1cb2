"""Service settings, read from ``PCS_*`` environment variables when asked (never at import time)."""

from __future__ import annotations

from pydantic import Field, ValidationError
from pydantic_core import ErrorDetails
from pydantic_settings import BaseSettings, SettingsConfigDict

ENV_PREFIX = "PCS_"


class Settings(BaseSettings):
    """How one service instance runs: each field from ``PCS_<FIELD>`` (e.g. ``PCS_DATABASE_URL``) unless given as
    a keyword; an empty variable counts as unset.

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

    # An empty variable is the default, as with the hand-written reader before: `PCS_METRICS_PUBLIC=` is off,
    # not an invalid boolean.
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, env_ignore_empty=True, frozen=True)

    database_url: str = Field(default="sqlite:///pcs.db", repr=False)  # may hold a password
    round_minutes: float = 60.0
    run_rounds: bool = True
    round_time_limit_s: float = 20.0
    round_workers: int = 2
    round_seed: int = 0
    round_timeout_s: float = 300.0
    lock_stale_s: float = 60.0
    admin_token: str = Field(default="", repr=False)
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
    def from_env(cls) -> Settings:
        """The settings of this process's environment; a bad value is a ``ValueError`` that names its variable,
        e.g. ``PCS_ROUND_WORKERS='two': Input should be a valid integer, ...``."""
        try:
            return cls()
        except ValidationError as error:
            raise ValueError("; ".join(_describe(detail) for detail in error.errors())) from None


def _describe(detail: ErrorDetails) -> str:
    name = ".".join(str(part) for part in detail["loc"])
    field = Settings.model_fields.get(name)
    value = "" if field is not None and not field.repr else f"={detail['input']!r}"  # a URL may hold a password
    return f"{ENV_PREFIX}{name.upper()}{value}: {detail['msg']}"
