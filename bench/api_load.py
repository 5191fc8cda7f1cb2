"""Load benchmark of the API: a real server (``python -m api``, ``--workers`` uvicorn processes) on loopback with
a SQLite file seeded from the default scenario; a fresh server and database for each phase.

1. Closed loop: ``--clients`` concurrent SME clients submit ``--requests`` valid requests in all, each sending its
   next one when the last is answered; submissions per second (the most the server takes), p50/p99/max latency,
   the server's CPU time per submission (all its processes) and the load client's share of a core.
2. Open loop: ``--requests`` submissions due at ``--rate`` per second over ``--rate-clients`` connections, each
   latency counted from when its submission was due: whether the server keeps up with that rate, and how fast.
3. A round over ~1,000 pending requests (the scenario's 760 plus more submitted first) while submissions go on at
   ``--round-rate`` per second: their latency before and during the round, and the round's time.

The load client is a minimal asyncio HTTP/1.1 client (:class:`Connection`): httpx's async client costs about as
much CPU per request as the server itself, and it shares the machine's cores with the server. It reads the status
line, the headers and exactly Content-Length bytes of every answer; an answer that is not a 201 with a new request
id is a failure. After each run the SQLite file must hold one row per 201, or the benchmark stops with an error.
The machine's load average is printed with each row: another process's CPU use skews every figure.

Only loopback traffic; every loop is bounded. Run: ``.venv/bin/python bench/api_load.py`` (``make bench-api``).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import random
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
SCENARIO = ROOT / "scenarios" / "shanghai-default" / "scenario.yaml"
ADMIN_TOKEN = "pcs_bench_admin"
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
TYPES = ["910B", "A800", "H800", "H20", "MLU370", "910B;A800", "H800;H20", "*"]
CLIENT = "asyncio streams, HTTP/1.1 keep-alive (bench/api_load.py)"


@dataclass
class Server:
    base: str
    process: subprocess.Popen
    database: Path

    def cpu_s(self) -> float:
        """CPU seconds (user + system) of the server process and its worker processes so far."""
        return _cpu_s(self.process.pid)

    def stored(self) -> int:
        """Requests in the database that the benchmark's users submitted."""
        with sqlite3.connect(self.database) as db:
            return db.execute("SELECT count(*) FROM compute_request WHERE submitted_by LIKE 'bench-%'").fetchone()[0]


def _cpu_s(pid: int) -> float:
    ticks = os.sysconf("SC_CLK_TCK")
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / ticks + sum(_cpu_s(int(child)) for child in children)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def server(folder: Path, round_time_limit_s: float, workers: int) -> Iterator[Server]:
    """``python -m api`` on a free loopback port with a fresh SQLite file seeded from the default scenario."""
    port = _free_port()
    database = folder / "bench.db"
    env = os.environ | {
        "PCS_DATABASE_URL": f"sqlite:///{database}",
        "PCS_PORT": str(port),
        "PCS_WORKERS": str(workers),
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
        pids: set[int] = set()
        for _ in range(600):  # until every worker has answered (new connections land on any of them)
            try:
                pids.add(httpx.get(f"{base}/health", timeout=1).json()["pid"])
                if len(pids) == workers:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        else:
            raise RuntimeError(f"server did not start: {(folder / 'server.log').read_text()[-2000:]}")
        yield Server(base, process, database)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


def sme_tokens(base: str, count: int) -> list[tuple[str, str | None]]:
    """``count`` SME users (token, voucher id or None), created through the API as the administrator."""
    vouchers = {v["org_id"]: v["id"] for v in httpx.get(f"{base}/vouchers", headers=ADMIN).json()}
    orgs = [o["id"] for o in httpx.get(f"{base}/orgs", headers=ADMIN).json() if o["org_class"] == "sme"][:count]
    tokens = []
    for org in orgs:
        user = httpx.post(f"{base}/users", headers=ADMIN, json={"name": f"bench-{org}", "role": "sme", "org_id": org})
        tokens.append((user.json()["token"], vouchers.get(org)))
    return tokens


def window(base: str) -> tuple[datetime, int]:
    """The first whole hour a request may start at, and the hours from there to the programme's end."""
    programme = httpx.get(f"{base}/programme", headers=ADMIN).json()
    start = datetime.fromisoformat(programme["horizon_start"])
    end = start + timedelta(minutes=programme["slot_minutes"] * programme["horizon_slots"])
    first = max(start, (datetime.now(UTC) + timedelta(hours=1)).replace(minute=0, second=0, microsecond=0))
    return first, int((end - first) / timedelta(hours=1))


def request_body(rng: random.Random, voucher: str | None, first: datetime, hours: int) -> dict[str, Any]:
    """A valid request: its window (3 runs + 24 h) fits the programme, so the slowest pool (0.45) can run it."""
    duration = rng.choice([2, 4, 8, 12, 24])
    span = 3 * duration + 24
    earliest = rng.randrange(0, max(1, hours - span))
    return {
        "accelerators": rng.choice([8, 16, 32, 64]),
        "duration_hours": duration,
        "earliest_start": (first + timedelta(hours=earliest)).isoformat(),
        "deadline": (first + timedelta(hours=earliest + span)).isoformat(),
        "accelerator_types": rng.choice(TYPES),
        "sites": "*",
        "voucher_id": voucher if rng.random() < 0.7 else None,
    }


class Connection:
    """One keep-alive HTTP/1.1 connection to the server, (re)opened when needed."""

    def __init__(self, base: str, token: str) -> None:
        self.host, port = base.removeprefix("http://").split(":")
        self.port = int(port)
        self.head = f"Host: {self.host}:{port}\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\n"
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def post(self, path: str, body: bytes) -> tuple[int, bytes]:
        """POST ``body``; the status code and the body of the answer. Raises on anything but a well-formed
        HTTP/1.1 answer with a Content-Length."""
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        self.writer.write(f"POST {path} HTTP/1.1\r\n{self.head}Content-Length: {len(body)}\r\n\r\n".encode() + body)
        version, status, _ = (await self.reader.readuntil(b"\r\n")).split(b" ", 2)
        if version != b"HTTP/1.1":
            raise ValueError(f"not an HTTP/1.1 answer: {version!r}")
        length, close = None, False
        while (line := await self.reader.readuntil(b"\r\n")) != b"\r\n":
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"connection":
                close = value.strip().lower() == b"close"
            elif name == b"transfer-encoding":
                raise ValueError("a chunked answer")
        if length is None:
            raise ValueError("an answer without Content-Length")
        payload = await self.reader.readexactly(length)
        if close:
            self.close()
        return int(status), payload

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


@dataclass
class Load:
    """What a submit loop saw: (sent at, latency) per answer, the ids of the requests created, the failures
    (answers other than 201, transport errors), the wall time and the client process's CPU time."""

    samples: list[tuple[float, float]] = field(default_factory=list)
    created: set[str] = field(default_factory=set)
    failures: list[str] = field(default_factory=list)
    elapsed_s: float = 0.0
    client_cpu_s: float = 0.0


async def submit_loop(
    base: str, tokens: list, clients: int, total: int | None, stop: asyncio.Event | None, seed: int, rate: float = 0
) -> Load:
    """``clients`` submitters until ``total`` submissions (or ``stop``): closed loop (each sends its next request
    when the answer to the last one came), or with ``rate`` open loop: submissions are due at ``rate`` per second
    in all, and a latency counts from when its submission was due, so a server falling behind shows in full."""
    rng = random.Random(seed)
    first, hours = window(base)
    load, sent = Load(), 0
    started, cpu = time.perf_counter(), time.process_time()

    async def worker(index: int) -> None:
        nonlocal sent
        token, voucher = tokens[index % len(tokens)]
        connection = Connection(base, token)
        try:
            for turn in itertools.count():
                if (total is not None and sent >= total) or (stop is not None and stop.is_set()):
                    break
                sent += 1
                body = json.dumps(request_body(rng, voucher, first, hours)).encode()
                t0 = time.perf_counter()
                if rate:
                    t0 = started + (index + turn * clients) / rate
                    await asyncio.sleep(t0 - time.perf_counter())
                try:
                    status, payload = await connection.post("/requests", body)
                except (OSError, ValueError, asyncio.IncompleteReadError) as exc:
                    load.failures.append(f"{type(exc).__name__}: {exc}")
                    connection.close()
                    continue
                load.samples.append((t0 - started, time.perf_counter() - t0))
                request_id = json.loads(payload).get("id") if status == 201 else None
                if request_id is None or request_id in load.created:
                    load.failures.append(f"{status}: {payload[:300]!r}")
                else:
                    load.created.add(request_id)
        finally:
            connection.close()

    await asyncio.gather(*(worker(i) for i in range(clients)))
    load.elapsed_s, load.client_cpu_s = time.perf_counter() - started, time.process_time() - cpu
    return load


def check_stored(srv: Server, expected: int) -> None:
    """Every 201 is a distinct request row in the database, and nothing else is."""
    if (stored := srv.stored()) != expected:
        raise RuntimeError(f"the database holds {stored} benchmark requests, the server answered 201 to {expected}")


def pct(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else values[0]


def row(label: str, latencies: list[float], rate: float, cpu: str, load_avg: float) -> str:
    ms = [v * 1000 for v in latencies] or [float("nan")]
    return (
        f"| {label:<40} | {len(latencies):>6} | {rate:>8.0f} | {pct(ms, 50):>7.1f} | {pct(ms, 99):>7.1f} "
        f"| {max(ms):>7.1f} | {cpu:<24} | {load_avg:>5.2f} |"
    )


def throughput(args: argparse.Namespace, clients: int, rate: float = 0) -> str:
    with tempfile.TemporaryDirectory(prefix="pcs-bench-") as folder, server(Path(folder), 5.0, args.workers) as srv:
        tokens = sme_tokens(srv.base, 20)
        warm = asyncio.run(submit_loop(srv.base, tokens, 4, 200, None, seed=1))
        server_cpu = srv.cpu_s()
        load = asyncio.run(submit_loop(srv.base, tokens, clients, args.requests, None, seed=2, rate=rate))
        server_cpu = srv.cpu_s() - server_cpu
        load_avg = os.getloadavg()[0]
        check_stored(srv, len(warm.created) + len(load.created))
    if load.failures or warm.failures:
        raise RuntimeError(f"failed submissions: {(warm.failures + load.failures)[:5]}")
    cpu = f"{server_cpu / len(load.created) * 1000:.2f} ms; client {load.client_cpu_s / load.elapsed_s:.0%}"
    label = f"open loop, {rate:.0f}/s due, {clients} clients" if rate else f"closed loop, {clients} clients"
    return row(label, [s[1] for s in load.samples], len(load.created) / load.elapsed_s, cpu, load_avg)


async def round_under_load(srv: Server, tokens: list, clients: int, rate: float, pending_target: int) -> list[str]:
    """Submissions at ``rate`` per second (open loop) for 3 s, then a round while they go on, over about
    ``pending_target`` pending requests (submitted first, beyond the scenario's own)."""
    async with httpx.AsyncClient(base_url=srv.base, timeout=600) as client:
        metrics = (await client.get("/metrics", headers=ADMIN)).text
    pending = int(next(line.split()[1] for line in metrics.splitlines() if line.startswith("pcs_requests_pending ")))
    created, lead_s = 0, 3.0
    if (missing := pending_target - pending - int(rate * lead_s)) > 0:
        created += len((await submit_loop(srv.base, tokens, 16, missing, None, seed=11)).created)
    stop = asyncio.Event()
    running = asyncio.create_task(submit_loop(srv.base, tokens, clients, None, stop, seed=12, rate=rate))
    await asyncio.sleep(lead_s)
    async with httpx.AsyncClient(base_url=srv.base, timeout=600) as client:
        round_started = time.perf_counter()
        record = (await client.post("/rounds", headers=ADMIN)).json()  # 202: the round runs in the background
        while record["status"] == "running":
            await asyncio.sleep(0.05)
            record = (await client.get(f"/rounds/{record['id']}", headers=ADMIN)).json()
        round_wall = time.perf_counter() - round_started
    await asyncio.sleep(1.0)
    stop.set()
    load = await running
    check_stored(srv, created + len(load.created))
    offset = round_started - (time.perf_counter() - load.elapsed_s)  # round start on the load's clock (approx.)
    before = [lat for at, lat in load.samples if at < offset]
    during = [lat for at, lat in load.samples if offset <= at < offset + round_wall]
    load_avg = os.getloadavg()[0]
    label = f"({rate:.0f}/s due, {clients} clients)"
    return [
        row(f"before the round {label}", before, len(before) / max(offset, 1e-9), "", load_avg),
        row(f"during the round {label}", during, len(during) / round_wall, "", load_avg),
        f"round: {record['requests_considered']} pending, {record['placed']} placed, status {record['status']}, "
        f"solve limit {record['time_limit_s']} s, wall {round_wall:.1f} s; failed submissions {len(load.failures)}",
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=3000, help="submissions in the throughput phase")
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 16, 64], help="concurrent clients to try")
    parser.add_argument("--workers", type=int, default=2, help="server processes (PCS_WORKERS)")
    parser.add_argument("--rate", type=float, default=500, help="open loop: submissions due per second (0: none)")
    parser.add_argument("--rate-clients", type=int, default=64, help="open loop: connections")
    parser.add_argument("--round-clients", type=int, default=8)
    parser.add_argument("--round-rate", type=float, default=100, help="submissions due per second around the round")
    parser.add_argument("--round-time-limit", type=float, default=20.0)
    parser.add_argument("--pending", type=int, default=1000, help="pending requests when the round starts")
    parser.add_argument("--skip-round", action="store_true", help="only the throughput phase")
    args = parser.parse_args(argv)

    print(f"server: python -m api, {args.workers} worker process(es), SQLite; {os.cpu_count()} cores; client: {CLIENT}")
    print(f"load average before: {' '.join(f'{v:.2f}' for v in os.getloadavg())}\n")
    lines = [
        f"| {'phase':<40} | {'n':>6} | {'subm./s':>8} | {'p50 ms':>7} | {'p99 ms':>7} | {'max ms':>7} "
        f"| {'server CPU/subm.; client':<24} | {'load':>5} |",
        f"|{'-' * 42}|{'-' * 8}|{'-' * 10}|{'-' * 9}|{'-' * 9}|{'-' * 9}|{'-' * 26}|{'-' * 7}|",
    ]
    for clients in args.clients:
        lines.append(throughput(args, clients))
        print(lines[-1], file=sys.stderr, flush=True)
    if args.rate:
        lines.append(throughput(args, args.rate_clients, args.rate))
        print(lines[-1], file=sys.stderr, flush=True)
    if not args.skip_round:
        with (
            tempfile.TemporaryDirectory(prefix="pcs-bench-") as folder,
            server(Path(folder), args.round_time_limit, args.workers) as srv,
        ):
            tokens = sme_tokens(srv.base, 20)
            lines += asyncio.run(round_under_load(srv, tokens, args.round_clients, args.round_rate, args.pending))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
