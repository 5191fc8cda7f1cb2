"""``scheduler.optimise.solve`` in a process of its own, for rounds and what-ifs run inside a server process.

Parts of a solve hold the GIL for a second or more at a time (GLOP's bounding LP, for one), and a server process
answers no request meanwhile: in a round over ~1,000 pending requests, submissions that reached that process
waited up to 2.6 s. A spawned process costs about a second more per solve, which an hourly round can afford.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context, resource_tracker
from typing import Any, TypeVar

from scheduler import (
    OPTIMISER,
    WAIT_WEIGHT_PER_SLOT,
    Problem,
    Reason,
    Result,
    RoundDecision,
    SolveParams,
    decide_round,
    solve,
)

T = TypeVar("T")

ORPHAN_CHECK_S = 0.5

_lock = threading.Lock()
_solves_in_flight = 0


def solve_apart(problem: Problem, params: SolveParams) -> Result:
    """``solve(problem, params)`` in a fresh child process (``params`` without a progress callback)."""
    return run_apart(solve, problem, params)


def decide_apart(problem: Problem, next_round: int, params: SolveParams) -> tuple[RoundDecision, dict[str, Reason]]:
    """:func:`decide`, the optimiser's round of the platform's online policy, in a fresh child process."""
    return run_apart(decide, problem, next_round, params)


def decide(problem: Problem, next_round: int, params: SolveParams) -> tuple[RoundDecision, dict[str, Reason]]:
    """The optimiser's round of ``problem`` (:func:`scheduler.sim.online.decide_round`: it commits the placements
    that start before slot ``next_round``) and a reason for every request it does not commit
    (:meth:`scheduler.sim.online.RoundDecision.reasons`: a later start it was planned for, or why it has none)."""
    decision = decide_round(problem, OPTIMISER, next_round, params, WAIT_WEIGHT_PER_SLOT)
    return decision, decision.reasons(problem)


def run_apart(function: Callable[..., T], *args: Any) -> T:
    """``function(*args)`` in a fresh child process (a module-level function; arguments that pickle). When it
    returns, the child has ended, and so has multiprocessing's resource tracker unless another solve runs."""
    global _solves_in_flight
    with _lock:
        _solves_in_flight += 1
    try:
        spawn = get_context("spawn")
        with ProcessPoolExecutor(
            max_workers=1, mp_context=spawn, initializer=die_with, initargs=(os.getpid(),)
        ) as pool:
            return pool.submit(function, *args).result()
    finally:
        with _lock:
            _solves_in_flight -= 1
            if not _solves_in_flight:
                stop_resource_tracker()


def stop_resource_tracker() -> None:
    """End and reap the resource tracker that spawning a process started in this process, if it did.

    Python 3.11 never reaps it (CPython gh-88887, fixed in later versions): it outlives every solve as a child of
    the server, and once the server exits it is left to init, where a container's init that does not reap keeps it
    as a zombie. The next solve starts a new one, in tens of milliseconds. A uvicorn worker only borrows its
    supervisor's tracker (no pid of its own) and leaves it alone. Call it when no child of this process uses the
    tracker any more: ``_stop`` waits for the tracker, which ends once every process holding its pipe closed it."""
    tracker: Any = resource_tracker._resource_tracker  # typeshed leaves out the private _pid and _stop
    if tracker._pid is not None:
        tracker._stop()


def die_with(parent_pid: int) -> None:
    """In the child: end this process as soon as ``parent_pid`` is gone (a server stopped or killed, a test run
    ended), rather than solving on as an orphan for the rest of its time limit. Its parent then is init or a
    subreaper, so ``getppid`` changes."""

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(ORPHAN_CHECK_S)
        os._exit(1)

    threading.Thread(target=watch, name="pcs-orphan-watch", daemon=True).start()
