"""Import benchmark: ``POST /imports/scenario`` of ``--orgs`` organisations into the app on a SQLite file, while one
SME client submits requests without pause; prints the import's time and the submissions' latency meanwhile, then
how long a process takes to catch up with a voucher change among that many organisations.

An import reads and checks its files outside the write transaction and inserts in bulk, so submissions should go
on; the worst case left is the bulk insert itself (the write lock) and the catalogue reload that follows it. The
app runs in-process (``TestClient``): the figure is the app's, without a network in between. The loop is bounded
by the import's end. Run: ``.venv/bin/python -m bench.import_load --orgs 200000``.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
from pathlib import Path

from fastapi.testclient import TestClient
from sqlmodel import Session

from api.app import create_app
from api.catalog import load
from api.settings import Settings
from tests.api.tiny import ADMIN, ADMIN_TOKEN, make_user, request_body, write_tiny_scenario


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orgs", type=int, default=200_000)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="pcs-import-bench-"))
    settings = Settings(
        database_url=f"sqlite:///{folder / 'pcs.db'}",
        run_rounds=False,
        seed_scenario=str(write_tiny_scenario(folder / "scenario")),
        admin_token=ADMIN_TOKEN,
        max_import_bytes=1 << 30,
    )
    orgs = "org_id,name,org_class\n" + "".join(f"o-{i},Org {i},sme\n" for i in range(args.orgs))
    with TestClient(create_app(settings)) as client:
        sme = make_user(client, "bench", "sme", "sme-a")
        latencies: list[float] = []
        done = threading.Event()

        def submit() -> None:
            while not done.is_set():
                started = time.perf_counter()
                response = client.post("/requests", headers=sme, json=request_body())
                latencies.append(time.perf_counter() - started)
                if response.status_code != 201:
                    raise SystemExit(f"a submission failed: {response.status_code} {response.text}")

        submitter = threading.Thread(target=submit)
        submitter.start()
        started = time.perf_counter()
        response = client.post("/imports/scenario", headers=ADMIN, files={"orgs": ("orgs.csv", orgs)})
        import_s = time.perf_counter() - started
        done.set()
        submitter.join()
        reloads = catalogue_reloads(client)
    if response.status_code != 201:
        raise SystemExit(f"the import failed: {response.status_code} {response.text}")
    latencies.sort()
    print("| orgs | import s | submissions during it | p50 ms | p99 ms | max ms |")
    print("|---|---|---|---|---|---|")
    p99 = latencies[int(0.99 * (len(latencies) - 1))]
    print(
        f"| {args.orgs:,} | {import_s:.1f} | {len(latencies)} | {statistics.median(latencies) * 1000:.0f} "
        f"| {p99 * 1000:.0f} | {latencies[-1] * 1000:.0f} |"
    )
    print("\n| catalogue reload after a voucher change (median of 3) | ms |\n|---|---|")
    print(f"| the tables that changed (vouchers) | {reloads[0] * 1000:.0f} |")
    print(f"| the whole catalogue | {reloads[1] * 1000:.0f} |")


def catalogue_reloads(client: TestClient) -> tuple[float, float]:
    """Seconds a process takes to catch up with a voucher change (as after every round): reloading the tables
    whose counter moved, against reading the whole catalogue (all organisations) as it did before."""
    partial, full = [], []
    for _ in range(3):
        assert client.post("/vouchers/v-a/adjustments", headers=ADMIN, json={"amount_fen": 1}).status_code == 201
        started = time.perf_counter()
        client.app.state.catalog.current()
        partial.append(time.perf_counter() - started)
        with Session(client.app.state.engine) as session:
            started = time.perf_counter()
            load(session)
            full.append(time.perf_counter() - started)
    return statistics.median(partial), statistics.median(full)


if __name__ == "__main__":
    main()
