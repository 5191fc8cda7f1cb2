"""``solve(problem, params) -> Result``: the single entry point for the CLI, the API and notebooks.

1. A warm start: the best plan of the greedy schedulers (:mod:`scheduler.optimise.warm_start`), the first
   of them valid within moments.
2. An upper bound from the LP relaxation in :mod:`scheduler.optimise.bounds`.
3. Small problems: one CP-SAT model over every request, warm-started from the greedy plan.
   Larger ones: large-neighbourhood search (:mod:`scheduler.optimise.cpsat.lns`) from the greedy plan,
   which keeps improving until the time limit.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from scheduler.model import formulas
from scheduler.model.domain import Problem
from scheduler.optimise.bounds import upper_bound_milli
from scheduler.optimise.cpsat.lns import improve
from scheduler.optimise.cpsat.run import model_size, run_cpsat
from scheduler.optimise.result import Result
from scheduler.optimise.warm_start import WarmStart, warm_start
from scheduler.rules.reasons import explain

STATUS_SEVERITY = ("NOT_RUN", "OPTIMAL", "FEASIBLE", "UNKNOWN", "INFEASIBLE", "MODEL_INVALID")

LNS_STEP_S = 0.3
"""Seconds (deterministic ones in deterministic mode) of each large-neighbourhood step."""

Progress = Callable[[float, float, float], None]
"""Called as ``progress(elapsed_s, objective, bound)`` on each improving plan (points)."""


@dataclass(frozen=True)
class SolveParams:
    time_limit_s: float = 60.0
    seed: int = 0
    num_workers: int = 8
    progress: Progress | None = None
    full_model_max_options: int = 2000
    """Problems with more (request, pool) options than this are solved by large-neighbourhood search."""
    warm_start: bool = True
    """``False`` starts from the empty plan instead of the greedy schedulers' best: the tests of the model itself
    use it, because a greedy plan that meets the bound skips CP-SAT altogether."""
    deterministic: bool = False
    """Repeatable: ``time_limit_s`` counts CP-SAT's deterministic time (its own work measure, roughly seconds)
    instead of the wall clock, parallel workers interleave in a fixed order, every warm-start candidate is tried
    and the bound is solved to the end, and large-neighbourhood search takes a fixed number of steps. The same
    problem and parameters then give the same plan on every run; the wall time is no longer bounded exactly."""


def solve(problem: Problem, params: SolveParams | None = None) -> Result:
    """Allocate ``problem``'s requests within ``params.time_limit_s``.

    Never raises on an infeasible or timed-out solve: it then returns the warm start and says so.
    Never returns a plan worse than the warm start, the best of the greedy schedulers.
    """
    params = params or SolveParams()
    started = time.perf_counter()
    deadline = started + params.time_limit_s

    def by(share: float) -> float:
        """The wall-clock deadline of a part that may take ``share`` of the time limit (none when deterministic)."""
        return float("inf") if params.deterministic else time.perf_counter() + params.time_limit_s * share

    start = warm_start(problem, by(1 / 4)) if params.warm_start else WarmStart("empty", (), 0, 0.0)
    greedy, greedy_milli, first_plan_s = start.plan, start.value_milli, start.first_plan_s
    # the bound is for the record: at most a tenth of the time limit, unless GLOP needs more
    bound_milli = float(upper_bound_milli(problem, greedy_milli, by(1 / 10)))

    def report(value_milli: float, bound: float) -> None:
        if params.progress:
            params.progress(time.perf_counter() - started, value_milli / formulas.MILLI, bound / formulas.MILLI)

    report(greedy_milli, bound_milli)
    plan, milli, proved = greedy, greedy_milli, greedy_milli >= bound_milli
    solver_status = "NOT_RUN"
    solver_objective: int | None = None
    method = "cp-sat" if model_size(problem) <= params.full_model_max_options else "lns"
    if not proved and method == "cp-sat":
        run = run_cpsat(
            problem,
            greedy,
            params.time_limit_s if params.deterministic else deadline - time.perf_counter(),
            params.seed,
            params.num_workers,
            lambda value, bound: report(value, min(bound, bound_milli)),
            deterministic=params.deterministic,
        )
        solver_status = run.status
        if run.plan is not None and run.bound_milli is not None:
            bound_milli = min(bound_milli, run.bound_milli)
            run_milli = formulas.objective_milli(problem, run.plan)
            if run_milli >= milli:
                plan, milli, solver_objective = run.plan, run_milli, run.objective_milli
            proved = run.status == "OPTIMAL"
    elif not proved:
        plan, statuses = improve(
            problem,
            greedy,
            deadline,
            params.seed,
            min(params.num_workers, 2),
            lambda value: report(value, bound_milli),
            steps=max(1, round(params.time_limit_s / LNS_STEP_S)) if params.deterministic else None,
        )
        solver_status = max(statuses, key=STATUS_SEVERITY.index, default="NOT_RUN")
        milli = formulas.objective_milli(problem, plan)
    proved = proved or milli >= bound_milli
    if proved:
        status, message = "optimal", "proved optimal"
    elif milli > greedy_milli:
        status, message = "feasible", "best plan found within the time limit"
    else:
        status = "greedy"
        message = f"the optimiser found no plan better than its warm start ({start.name}) within the time limit"
    return Result(
        status=status,
        message=message,
        plan=plan,
        objective=milli / formulas.MILLI,
        bound=max(bound_milli, milli) / formulas.MILLI,
        greedy_objective=greedy_milli / formulas.MILLI,
        wall_time_s=time.perf_counter() - started,
        first_plan_s=first_plan_s,
        method=method,
        solver_status=solver_status,
        reasons=explain(problem, plan),
        solver_objective=None if solver_objective is None else solver_objective / formulas.MILLI,
    )


__all__ = ["Result", "SolveParams", "solve"]
