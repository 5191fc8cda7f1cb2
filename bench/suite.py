"""The benchmark suite: the optimiser against every greedy baseline and the upper bound.

Each (instance, scheduler) pair runs in a fresh process, so peak memory (max RSS) is its own. Every
plan goes through the validator. Prints one table and writes it as CSV.
"""

from __future__ import annotations

import resource
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context

import pandas as pd

from bench.instances import Instance, build

QUICK = [
    (Instance("synthetic", 100, 10, 168, 1.3), 10.0),
    (Instance("synthetic", 1000, 12, 168, 1.3), 30.0),
    (Instance("itp", 1000, 12, 168, 1.3), 30.0),
]
LIMITS = {100: 10.0, 1000: 30.0, 3000: 60.0, 10000: 120.0}
SHAPES = {100: (10, 168), 1000: (12, 168), 3000: (16, 336), 10000: (20, 336)}
FULL = [(Instance("synthetic", n, *SHAPES[n], demand), LIMITS[n]) for n in LIMITS for demand in (0.8, 1.3, 2.0)] + [
    (Instance(trace, n, *SHAPES[n], 1.3), LIMITS[n]) for trace in ("itp", "philly") for n in LIMITS
]
SCHEDULERS = ("optimiser", "greedy", "fifo", "easy", "quota", "bound")
"""``bound`` is no scheduler: the upper bound of :mod:`scheduler.optimise.bounds` without the solver's time cap."""


def fresh_processes() -> ProcessPoolExecutor:
    """An executor that runs one task at a time, each in a newly spawned process, so that the task's peak memory
    (:func:`peak_mib`) and its wall time are its own (:mod:`bench.online` uses it too)."""
    return ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn"), max_tasks_per_child=1)


def peak_mib() -> float:
    """This process's peak resident memory (max RSS) in MiB: Linux reports ``ru_maxrss`` in KiB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_one(spec: Instance, scheduler: str, time_limit_s: float, workers: int) -> dict:
    """Build the instance and schedule it in this (fresh) process; the row of the table."""
    from scheduler.model import formulas
    from scheduler.optimise.bounds import upper_bound_milli
    from scheduler.optimise.solve import SolveParams, solve
    from scheduler.rules.validate import objective, violations
    from scheduler.sim.baselines import BASELINES

    problem = build(spec)
    started = time.perf_counter()
    if scheduler == "optimiser":
        result = solve(problem, SolveParams(time_limit_s=time_limit_s, num_workers=workers))
        plan, first, bound, method = result.plan, result.first_plan_s, result.bound, result.method
    elif scheduler == "bound":  # its row holds no plan: the LP's optimum, however long GLOP takes
        bound = upper_bound_milli(problem, exact=True) / formulas.MILLI
        plan, first, method = (), float("nan"), "bound"
    else:
        plan = BASELINES[scheduler](problem)
        first, bound, method = time.perf_counter() - started, float("nan"), "greedy"
    final = time.perf_counter() - started if scheduler != "optimiser" else result.wall_time_s
    return {
        "instance": spec.name,
        "requests": len(problem.requests),
        "pools": len(problem.pools),
        "slots": spec.slots,
        "demand": spec.demand_factor,
        "scheduler": scheduler,
        "method": method,
        "value": objective(problem, plan) if scheduler != "bound" else float("nan"),
        "bound": bound,
        "placed": len(plan),
        "violations": len(violations(problem, plan)),
        "first_plan_s": first,
        "final_s": final,
        "peak_mib": peak_mib(),
    }


def run(
    instances: list[tuple[Instance, float]], workers: int, schedulers: tuple[str, ...] = SCHEDULERS
) -> pd.DataFrame:
    rows = []
    with fresh_processes() as pool:
        for spec, limit in instances:
            for scheduler in schedulers:
                print(f"  {spec.name} {scheduler} ...", file=sys.stderr, flush=True)
                rows.append(pool.submit(run_one, spec, scheduler, limit, workers).result())
    frame = pd.DataFrame(rows)
    best_baseline = frame[~frame.scheduler.isin(["optimiser", "bound"])].groupby("instance")["value"].max()
    best_bound = frame.groupby("instance")["bound"].min()
    frame["vs_best_baseline"] = frame["value"] / frame["instance"].map(best_baseline)
    frame["gap_pct"] = 100 * (frame["instance"].map(best_bound) - frame["value"]) / frame["instance"].map(best_bound)
    # the most that any plan can reach relative to the best baseline: a target above it cannot be met
    frame["bound_vs_best_baseline"] = frame["instance"].map(best_bound) / frame["instance"].map(best_baseline)
    return frame
