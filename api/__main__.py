"""``python -m api``: the service under uvicorn on ``PCS_HOST``:``PCS_PORT`` (default 127.0.0.1:8000)."""

from __future__ import annotations

import contextlib
import os

import uvicorn

from api.app import create_app
from api.settings import Settings


def main() -> None:
    settings = Settings.from_env()
    host, port = os.environ.get("PCS_HOST", "127.0.0.1"), int(os.environ.get("PCS_PORT", "8000"))
    print(f"pcs: serving on http://{host}:{port} (database {settings.database_url}, docs at /docs)", flush=True)
    with contextlib.suppress(KeyboardInterrupt):  # uvicorn re-raises the Ctrl-C it stopped on: a normal stop
        uvicorn.run(
            create_app(settings),
            host=host,
            port=port,
            log_level=os.environ.get("PCS_LOG_LEVEL", "info"),
            timeout_keep_alive=int(os.environ.get("PCS_KEEP_ALIVE_S", "5")),
        )


if __name__ == "__main__":
    main()
