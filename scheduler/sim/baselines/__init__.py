"""The schedulers a programme would run instead of the optimiser, on the same rules.

Every baseline obeys exactly the optimiser's hard rules (eligibility, window, capacity, SME reserve, one
price, vouchers within balances and budget and paid in full unless exhausted, price ceilings) through the
shared :class:`~scheduler.rules.state.RuleState`; only the decisions differ:

- ``fifo``: strict arrival order with head-of-line blocking (:func:`~scheduler.sim.baselines.fifo.fifo_plan`);
- ``easy``: class priority with EASY backfill, one reservation for the head of the queue
  (:func:`~scheduler.sim.baselines.easy.easy_plan`);
- ``quota``: Kueue's nominal quotas per class with borrowing and lending limits, set by the policy
  (:func:`~scheduler.sim.baselines.quota.quota_plan`);
- ``greedy``: the optimiser's own greedy start (:func:`scheduler.optimise.greedy.greedy_plan`).

Each module's docstring gives its published source and where it differs. A plan function knows only its
problem: no future arrivals. In rolling rounds the simulator commits what starts before the next round and
decides the rest again, so each baseline is re-evaluated every round, as the real schedulers are every cycle.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from scheduler.model import formulas
from scheduler.model.domain import Placement, Problem
from scheduler.optimise.bounds import upper_bound_milli
from scheduler.optimise.greedy import greedy_plan
from scheduler.optimise.result import Result
from scheduler.rules.reasons import explain
from scheduler.sim.baselines.easy import easy_plan
from scheduler.sim.baselines.fifo import fifo_plan
from scheduler.sim.baselines.quota import quota_plan

Baseline = Callable[[Problem], tuple[Placement, ...]]

BASELINES: dict[str, Baseline] = {
    "fifo": fifo_plan,
    "easy": easy_plan,
    "quota": quota_plan,
    "greedy": greedy_plan,
}

_RULES = {
    "fifo": "strict arrival order, head-of-line blocking",
    "easy": "class priority with EASY backfill",
    "quota": "per-class nominal quotas with borrowing and lending limits",
    "greedy": "the optimiser's greedy start",
}


def run_baseline(name: str, problem: Problem) -> Result:
    """Run baseline ``name`` on ``problem`` and report it as the optimiser reports a solve.

    ``status`` and ``method`` are ``"baseline"``, ``solver_status`` ``"NOT_RUN"``; ``objective`` is recomputed
    with :func:`scheduler.model.formulas.objective_milli`; ``bound`` is the upper bound that
    :func:`scheduler.optimise.solve.solve` reports (:func:`scheduler.optimise.bounds.upper_bound_milli`), at
    least the objective, so ``gap`` says how far the baseline may be from the optimum; ``greedy_objective`` is
    the value of the optimiser's greedy start (:func:`scheduler.optimise.warm_start.warm_start`) for comparison;
    ``wall_time_s`` and ``first_plan_s`` time the baseline alone; ``reasons`` come from
    :func:`scheduler.rules.reasons.explain`.

    Raises
    ------
    ValueError
        If ``name`` is not a key of :data:`BASELINES`.
    """
    from scheduler.optimise.warm_start import warm_start  # the warm start runs the baselines of this package

    schedule = BASELINES.get(name)
    if schedule is None:
        raise ValueError(f"unknown baseline {name!r}; known: {', '.join(BASELINES)}")
    started = time.perf_counter()
    plan = schedule(problem)
    wall_time_s = time.perf_counter() - started
    milli = formulas.objective_milli(problem, plan)
    greedy_milli = warm_start(problem).value_milli
    return Result(
        status="baseline",
        message=f"{name} baseline: {_RULES[name]}",
        plan=plan,
        objective=milli / formulas.MILLI,
        bound=max(upper_bound_milli(problem), milli) / formulas.MILLI,
        greedy_objective=greedy_milli / formulas.MILLI,
        wall_time_s=wall_time_s,
        first_plan_s=wall_time_s,
        method="baseline",
        solver_status="NOT_RUN",
        reasons=explain(problem, plan),
    )


__all__ = ["BASELINES", "Baseline", "easy_plan", "fifo_plan", "greedy_plan", "quota_plan", "run_baseline"]
