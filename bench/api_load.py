"""Load benchmark of the API: a real uvicorn server (``python -m api``) on loopback with a SQLite file.

1. Submissions: ``--clients`` concurrent SME clients submit ``--requests`` requests in all (closed loop);
   submissions per second and p50/p99/max latency.
2. A round over ~1,000 pending requests (the default scenario's 760 plus more submitted first) while
   ``--round-clients`` clients keep submitting: their latency before and during the round, and the round's time.

Only loopback traffic; every loop is bounded. Run: ``.venv/bin/python bench/api_load.py`` (``make bench-api``).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
SCENARIO = ROOT / "scenarios" / "shanghai-default" / "scenario.yaml"
ADMIN_TOKEN = "pcs_bench_admin"
HORIZON_START = datetime.fromisoformat("2026-12-07T00:00:00+08:00")
TYPES = ["910B", "A800", "H800", "H20", "MLU370", "910B;A800", "H800;H20", "*"]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def server(folder: Path, round_time_limit_s: float) -> Iterator[str]:
    """``python -m api`` on a free loopback port with a fresh SQLite file seeded from the default scenario."""
    port = _free_port()
    env = os.environ | {
        "PCS_DATABASE_URL": f"sqlite:///{folder / 'bench.db'}",
        "PCS_PORT": str(port),
        "PCS_ADMIN_TOKEN": ADMIN_TOKEN,
        "PCS_SEED_SCENARIO": str(SCENARIO),
        "PCS_RUN_ROUNDS": "false",
        "PCS_ROUND_TIME_LIMIT_S": str(round_time_limit_s),
        "PCS_ROUND_WORKERS": "1",
        "PCS_LOG_LEVEL": "warning",
        # keep-alive longer than the slowest answer under load, so that a client never reuses a connection
        # the server is just closing
        "PCS_KEEP_ALIVE_S": "60",
    }
    log = (folder / "server.log").open("w")
    process = subprocess.Popen([sys.executable, "-m", "api"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):
            try:
                if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        else:
            raise RuntimeError(f"server did not start: {(folder / 'server.log').read_text()[-2000:]}")
        yield base
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


def sme_tokens(base: str, count: int) -> list[tuple[str, str | None]]:
    """``count`` SME users (token, voucher id or None), created through the API as the administrator."""
    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    vouchers = {v["org_id"]: v["id"] for v in httpx.get(f"{base}/vouchers", headers=admin).json()}
    orgs = [o["id"] for o in httpx.get(f"{base}/orgs", headers=admin).json() if o["org_class"] == "sme"][:count]
    tokens = []
    for org in orgs:
        user = httpx.post(f"{base}/users", headers=admin, json={"name": f"bench-{org}", "role": "sme", "org_id": org})
        tokens.append((user.json()["token"], vouchers.get(org)))
    return tokens


def request_body(rng: random.Random, voucher: str | None) -> dict[str, Any]:
    earliest = rng.randrange(0, 150)
    duration = rng.choice([2, 4, 8, 12, 24])
    return {
        "accelerators": rng.choice([8, 16, 32, 64]),
        "duration_hours": duration,
        "earliest_start": (HORIZON_START + timedelta(hours=earliest)).isoformat(),
        "deadline": (HORIZON_START + timedelta(hours=min(168, earliest + 3 * duration + 24))).isoformat(),
        "accelerator_types": rng.choice(TYPES),
        "sites": "*",
        "voucher_id": voucher if rng.random() < 0.7 else None,
    }


async def submit_loop(
    base: str, tokens: list, clients: int, total: int | None, stop: asyncio.Event | None, seed: int
) -> tuple[list[tuple[float, float]], int, float]:
    """``clients`` closed-loop submitters until ``total`` requests (or ``stop``): ((sent_at, latency) list,
    failures, elapsed). A 422 (a random window too short for the run) is an answer, not a failure."""
    rng = random.Random(seed)
    samples: list[tuple[float, float]] = []
    failures, sent = 0, 0
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    started = time.perf_counter()
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=60) as client:

        async def worker(index: int) -> None:
            nonlocal failures, sent
            token, voucher = tokens[index % len(tokens)]
            headers = {"Authorization": f"Bearer {token}"}
            while (total is None or sent < total) and (stop is None or not stop.is_set()):
                sent += 1
                body = request_body(rng, voucher)
                t0 = time.perf_counter()
                try:
                    response = await client.post("/requests", json=body, headers=headers)
                    failures += response.status_code not in (201, 422)  # 422: a random window too short
                except httpx.TransportError:
                    failures += 1
                samples.append((t0 - started, time.perf_counter() - t0))

        await asyncio.gather(*(worker(i) for i in range(clients)))
    return samples, failures, time.perf_counter() - started


def pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else values[0]


def row(label: str, latencies: list[float], extra: str = "") -> str:
    ms = [v * 1000 for v in latencies]
    return f"| {label:<44} | {len(ms):>6} | {pct(ms, 50):>7.1f} | {pct(ms, 99):>7.1f} | {max(ms):>7.1f} | {extra:<26} |"


async def round_under_load(base: str, tokens: list, clients: int, pending_target: int) -> list[str]:
    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    async with httpx.AsyncClient(base_url=base, timeout=600) as client:
        metrics = (await client.get("/metrics")).text
    pending = int(next(line.split()[1] for line in metrics.splitlines() if line.startswith("pcs_requests_pending ")))
    if pending < pending_target:
        await submit_loop(base, tokens, 16, pending_target - pending, None, seed=11)
    stop = asyncio.Event()
    load = asyncio.create_task(submit_loop(base, tokens, clients, None, stop, seed=12))
    await asyncio.sleep(3.0)
    async with httpx.AsyncClient(base_url=base, timeout=600) as client:
        round_started = time.perf_counter()
        record = (await client.post("/rounds", headers=admin)).json()
        round_wall = time.perf_counter() - round_started
    await asyncio.sleep(1.0)
    stop.set()
    samples, failures, elapsed = await load
    offset = round_started - (time.perf_counter() - elapsed)  # round start on the load's clock (approximately)
    before = [lat for at, lat in samples if at < offset]
    during = [lat for at, lat in samples if offset <= at < offset + round_wall]
    return [
        row(f"submissions before the round ({clients} clients)", before, f"{len(before) / max(offset, 1e-9):.0f}/s"),
        row(f"submissions during the round ({clients} clients)", during, f"{len(during) / round_wall:.0f}/s"),
        f"| round: {record['requests_considered']} pending, {record['placed']} placed, status {record['status']}, "
        f"solve limit {record['time_limit_s']} s, wall {round_wall:.1f} s; failed submissions {failures} |",
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=3000, help="submissions in the throughput phase")
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 16, 64], help="concurrent clients to try")
    parser.add_argument("--round-clients", type=int, default=8)
    parser.add_argument("--round-time-limit", type=float, default=20.0)
    parser.add_argument("--pending", type=int, default=1000, help="pending requests when the round starts")
    args = parser.parse_args(argv)

    lines = [
        f"| {'phase':<44} | {'n':>6} | {'p50 ms':>7} | {'p99 ms':>7} | {'max ms':>7} | {'throughput':<26} |",
        f"|{'-' * 46}|{'-' * 8}|{'-' * 9}|{'-' * 9}|{'-' * 9}|{'-' * 28}|",
    ]
    for clients in args.clients:
        with tempfile.TemporaryDirectory(prefix="pcs-bench-") as folder, server(Path(folder), 5.0) as base:
            tokens = sme_tokens(base, 20)
            asyncio.run(submit_loop(base, tokens, 4, 100, None, seed=1))  # warm-up
            samples, failures, elapsed = asyncio.run(submit_loop(base, tokens, clients, args.requests, None, seed=2))
            rate = f"{len(samples) / elapsed:.0f} submissions/s ({failures} failed)"
            lines.append(row(f"submissions, {clients} concurrent clients", [s[1] for s in samples], rate))
    with (
        tempfile.TemporaryDirectory(prefix="pcs-bench-") as folder,
        server(Path(folder), args.round_time_limit) as base,
    ):
        tokens = sme_tokens(base, 20)
        lines += asyncio.run(round_under_load(base, tokens, args.round_clients, args.pending))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
