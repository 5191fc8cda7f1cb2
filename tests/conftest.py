"""The whole suite's set-up: hypothesis budgets by profile, an environment free of the developer's ``PCS_*``
settings, the databases the API suite runs against, and a guard that no test leaves a process behind."""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys
import time
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

# "ci" (the default; `make test`) holds the budgets the property tests always had; "fast" (`make test-fast`) and
# "dev" (a focused run by hand) are small. A test whose examples cost more takes a share of the profile's
# max_examples in its own @settings.
PROFILES = {"ci": 300, "fast": 30, "dev": 30}
PROFILE_ENV = "HYPOTHESIS_PROFILE"
for _name, _examples in PROFILES.items():
    settings.register_profile(
        _name, max_examples=_examples, deadline=None, suppress_health_check=[HealthCheck.too_slow]
    )
settings.load_profile(os.environ.get(PROFILE_ENV, "ci"))

PG_ENV = "PCS_TEST_DATABASE_URL"
LOCAL_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
PROC = Path("/proc")
PR_SET_CHILD_SUBREAPER = 36
SETTLE_S = 10.0  # a solver notices its parent's death within apart.ORPHAN_CHECK_S; a server stops within seconds


def pytest_configure(config: pytest.Config) -> None:
    # Settings() reads PCS_* variables, and the suite's servers inherit this environment: a developer's
    # PCS_METRICS_PUBLIC or PCS_ADMIN_TOKEN would change what the tests see. PCS_TEST_* configure the suite.
    for name in [name for name in os.environ if name.startswith("PCS_") and not name.startswith("PCS_TEST_")]:
        del os.environ[name]


@cache
def postgres() -> tuple[str | None, str]:
    """(URL of the PostgreSQL server the API suite also runs against or None, how it was chosen):
    ``PCS_TEST_DATABASE_URL`` when set (CI sets it; unreachable, the tests fail), else the local server of the
    README when it answers."""
    import sqlalchemy as sa
    from sqlalchemy.exc import OperationalError

    if os.environ.get(PG_ENV):
        return os.environ[PG_ENV], f"from {PG_ENV}"
    engine = sa.create_engine(LOCAL_PG, connect_args={"connect_timeout": 3})
    try:
        with engine.connect():
            return LOCAL_PG, f"{PG_ENV} unset: the local server answered"
    except OperationalError as error:
        return None, f"{PG_ENV} unset and no server at {LOCAL_PG} ({str(error.orig).strip().splitlines()[0]})"
    finally:
        engine.dispose()


def _shown(url: str) -> str:
    from sqlalchemy import make_url

    return make_url(url).render_as_string(hide_password=True)


def databases_line() -> str:
    url, why = postgres()
    if url is None:
        return f"PostgreSQL for the API tests: none, their PostgreSQL variants are skipped ({why})"
    return f"PostgreSQL for the API tests: {_shown(url)} ({why})"


def pytest_report_header(config: pytest.Config) -> list[str]:
    return [databases_line(), f"hypothesis profile: {settings.get_current_profile_name()} ({PROFILE_ENV})"]


@pytest.fixture(scope="session")
def postgres_url() -> str:
    url, why = postgres()
    if url is None:
        pytest.skip(f"no PostgreSQL: {why}")
    return url


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Which databases the API tests ran against; loudly, when the PostgreSQL variants could not run."""
    stats = terminalreporter.stats
    ran = {r.nodeid for key in ("passed", "failed") for r in stats.get(key, []) if "postgresql" in r.keywords}
    skipped = {r.nodeid for r in stats.get("skipped", []) if "postgresql" in r.keywords}
    deselected = [item for item in stats.get("deselected", []) if item.get_closest_marker("postgresql")]
    if not (ran or skipped or deselected):
        return  # no API test in this run
    url, why = postgres()
    if url is None and skipped:
        terminalreporter.write_sep("!", f"{len(skipped)} POSTGRESQL VARIANTS SKIPPED", red=True, bold=True)
        terminalreporter.write_line(f"{why}: start the server or set {PG_ENV} to run them", red=True)
    elif url is not None and ran:
        terminalreporter.write_line(f"API tests ran on SQLite and on PostgreSQL at {_shown(url)} ({why})")
    if deselected:
        terminalreporter.write_line(f"API tests ran on SQLite only: {len(deselected)} PostgreSQL variants deselected")


def _children() -> dict[int, tuple[str, str]]:
    """This process's children: pid -> (state letter, command line)."""
    found = {}
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) == os.getpid():
                command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
                found[int(entry.name)] = (fields[0], command)
        except (OSError, IndexError, ValueError):
            continue  # it ended while being read
    return found


def _reap(pids: list[int]) -> None:
    for pid in pids:
        with contextlib.suppress(ChildProcessError):  # a test's subprocess.Popen reaped it already
            os.waitpid(pid, os.WNOHANG)


def _become_subreaper() -> bool:
    """Orphans of this process's descendants (a solver whose server a test killed) come to this process instead
    of init, so the guard sees them; Linux's PR_SET_CHILD_SUBREAPER."""
    if not sys.platform.startswith("linux"):
        return False
    return ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0


@pytest.fixture(scope="session", autouse=True)
def no_process_left_behind() -> Iterator[None]:
    """At the end of the run, no process that a test started (or that one of those started) is still alive."""
    if not PROC.is_dir() or not _become_subreaper():
        yield
        return
    before = set(_children())
    yield
    if "multiprocessing.resource_tracker" in sys.modules:
        # multiprocessing's helper in this very process (bench's pool starts one; api.apart stops its own):
        # it ends with this process, which must reap it then, or it stays a zombie under a non-reaping init
        from api.apart import stop_resource_tracker

        stop_resource_tracker()
    deadline = time.monotonic() + SETTLE_S
    while True:
        children = {pid: child for pid, child in _children().items() if pid not in before}
        _reap([pid for pid, (state, _) in children.items() if state == "Z"])
        alive = {pid: command for pid, (state, command) in children.items() if state != "Z"}
        if not alive or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    for pid in alive:  # reported below; ended here so that a failed run leaves nothing behind either
        with contextlib.suppress(ProcessLookupError, ChildProcessError):
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
    assert not alive, f"processes left running by the tests: {alive}"
