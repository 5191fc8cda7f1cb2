"""The optimiser's warm start: the best plan of the greedy schedulers.

The greedy plan in each of its request orders (:data:`scheduler.optimise.greedy.ORDERS`), Slurm-style EASY
backfill and Kueue-style quotas with borrowing: different ones win on different demand (EASY's
time-stepped backfill fills around big jobs well on bursty trace demand). Later candidates are tried
only while time is left, so the first valid plan comes as fast as one greedy pass.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from scheduler.model import formulas
from scheduler.model.domain import Placement, Problem
from scheduler.optimise.greedy import ORDERS, greedy_plan
from scheduler.sim.baselines.easy import easy_plan
from scheduler.sim.baselines.quota import quota_plan

# in order of how often each wins on the benchmark suite, so a short deadline keeps the likely best
CANDIDATES: dict[str, Callable[[Problem], tuple[Placement, ...]]] = {
    "greedy-deadline": partial(greedy_plan, order="deadline"),
    "easy": easy_plan,
    **{f"greedy-{order}": partial(greedy_plan, order=order) for order in ORDERS if order != "deadline"},
    "quota": quota_plan,
}
# rough run time relative to one greedy pass (measured at 1,000 and 10,000 requests): a candidate is
# skipped when it would likely overrun the deadline
RELATIVE_COST = {"easy": 1.5, "quota": 10.0}


@dataclass(frozen=True)
class WarmStart:
    name: str
    plan: tuple[Placement, ...]
    value_milli: int
    first_plan_s: float
    """Seconds to the first valid plan."""


def warm_start(problem: Problem, deadline: float = float("inf")) -> WarmStart:
    """The best plan of :data:`CANDIDATES` tried in order until ``deadline`` (``perf_counter``; at least one)."""
    started = time.perf_counter()
    best: WarmStart | None = None
    for name, schedule in CANDIDATES.items():
        if best is not None and time.perf_counter() + RELATIVE_COST.get(name, 1.0) * best.first_plan_s > deadline:
            continue
        plan = schedule(problem)
        value = formulas.objective_milli(problem, plan)
        if best is None:
            best = WarmStart(name, plan, value, time.perf_counter() - started)
        elif value > best.value_milli:
            best = WarmStart(name, plan, value, best.first_plan_s)
    assert best is not None
    return best
