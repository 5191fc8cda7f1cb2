"""``python -m api``: the service under uvicorn on ``PCS_HOST``:``PCS_PORT`` (default 127.0.0.1:8000), in
``PCS_WORKERS`` processes (default 1)."""

from __future__ import annotations

import contextlib
import copy
import logging
import logging.config
import os
import socket
from typing import Any

import uvicorn
import uvicorn.config
from sqlalchemy import make_url
from sqlalchemy.exc import ArgumentError
from uvicorn.supervisors import Multiprocess

from api.app import create_app, freeze_startup_objects, prepare_database
from api.db import make_engine
from api.http_protocol import GuardedHttpToolsProtocol
from api.settings import Settings


def main() -> None:
    try:
        settings = Settings.from_env()
    except ValueError as error:  # a bad PCS_* value: its name and the rule, without a traceback
        raise SystemExit(f"pcs: {error}") from None
    host, port = os.environ.get("PCS_HOST", "127.0.0.1"), int(os.environ.get("PCS_PORT", "8000"))
    workers = int(os.environ.get("PCS_WORKERS", "1"))
    log_level = os.environ.get("PCS_LOG_LEVEL", "info")
    log_config = logging_config(log_level)
    logging.config.dictConfig(log_config)
    options: dict[str, Any] = {  # uvicorn.run and uvicorn.Config take the same keywords
        "host": host,
        "port": port,
        "log_level": log_level,
        # uvicorn applies it again in each worker process, where main() does not run
        "log_config": log_config,
        "timeout_keep_alive": int(os.environ.get("PCS_KEEP_ALIVE_S", "5")),
        "http": GuardedHttpToolsProtocol,
    }
    print(
        f"pcs: serving on http://{host}:{port} in {workers} process(es) (database "
        f"{masked_url(settings.database_url)}, docs at /docs)",
        flush=True,
    )
    with contextlib.suppress(KeyboardInterrupt):  # uvicorn re-raises the Ctrl-C it stopped on: a normal stop
        if workers == 1:
            app = create_app(settings)
            freeze_startup_objects()
            uvicorn.run(app, **options)
            return
        # migrate, seed and create the admin once, before the workers start; their rounds share the database
        # lease, so only one runs at a time whichever worker's scheduler fires
        engine = make_engine(settings.database_url)
        try:
            prepare_database(engine, settings)
        finally:
            engine.dispose()
        config = uvicorn.Config("api.app:create_worker_app", factory=True, workers=workers, **options)
        Multiprocess(config, sockets=[listening_socket(host, port)]).run()


def logging_config(level: str = "info") -> dict[str, Any]:
    """uvicorn's logging configuration plus the ``pcs`` loggers (``pcs.rounds``, ...): timestamped lines on
    stderr at ``level`` (uvicorn's ``trace`` counts as ``debug``; default ``info``). Without it they have no
    handler, and a skipped or failed round says nothing."""
    config = copy.deepcopy(uvicorn.config.LOGGING_CONFIG)
    name = "DEBUG" if level.lower() == "trace" else level.upper()
    config["formatters"]["pcs"] = {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}
    config["handlers"]["pcs"] = {"class": "logging.StreamHandler", "formatter": "pcs", "stream": "ext://sys.stderr"}
    config["loggers"]["pcs"] = {
        "handlers": ["pcs"],
        "level": name if isinstance(logging.getLevelName(name), int) else "INFO",
        "propagate": False,
    }
    return config


def masked_url(url: str) -> str:
    """``url`` with its password, if any, shown as ``***``: fit for logs."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "(a database URL that cannot be parsed)"


def listening_socket(host: str, port: int) -> socket.socket:
    """The socket the workers share, bound with its protocol named. uvicorn binds its own with protocol 0, which
    accepted connections inherit, and asyncio then leaves Nagle's algorithm on for them: every keep-alive request
    after the first waited ~40 ms for a delayed ACK (Kludex/uvicorn#3149)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.set_inheritable(True)
    return sock


if __name__ == "__main__":
    main()
