"""``scheduler.solve`` in a process of its own, for rounds and what-ifs run inside a server process.

Parts of a solve hold the GIL for a second or more at a time (GLOP's bounding LP, for one), and a server process
answers no request meanwhile: in a round over ~1,000 pending requests, submissions that reached that process
waited up to 2.6 s. A spawned process costs about a second more per solve, which an hourly round can afford.
"""

from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context

from scheduler.domain import Problem
from scheduler.solve import Result, SolveParams, solve


def solve_apart(problem: Problem, params: SolveParams) -> Result:
    """``solve(problem, params)`` in a fresh child process (``params`` without a progress callback)."""
    with ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn")) as pool:
        return pool.submit(solve, problem, params).result()
