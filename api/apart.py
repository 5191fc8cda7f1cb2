"""``scheduler.optimise.solve`` in a process of its own, for rounds and what-ifs run inside a server process.

Parts of a solve hold the GIL for a second or more at a time (GLOP's bounding LP, for one), and a server process
answers no request meanwhile: in a round over ~1,000 pending requests, submissions that reached that process
waited up to 2.6 s. A spawned process costs about a second more per solve, which an hourly round can afford.
"""

from __future__ import annotations

import os
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context

from scheduler.model.domain import Problem
from scheduler.optimise.solve import Result, SolveParams, solve

ORPHAN_CHECK_S = 0.5


def solve_apart(problem: Problem, params: SolveParams) -> Result:
    """``solve(problem, params)`` in a fresh child process (``params`` without a progress callback)."""
    parent = os.getpid()
    context = get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=context, initializer=die_with, initargs=(parent,)) as pool:
        return pool.submit(solve, problem, params).result()


def die_with(parent_pid: int) -> None:
    """In the child: end this process as soon as ``parent_pid`` is gone (a server stopped or killed, a test run
    ended), rather than solving on as an orphan for the rest of its time limit. Its parent then is init or a
    subreaper, so ``getppid`` changes."""

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(ORPHAN_CHECK_S)
        os._exit(1)

    threading.Thread(target=watch, name="pcs-orphan-watch", daemon=True).start()
