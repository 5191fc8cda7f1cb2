"""``solve(problem, params) -> Result``: the single entry point for the CLI, the API and notebooks."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from ortools.sat.python import cp_model

from scheduler import formulas
from scheduler.cpsat.model import add_hint, build_model, read_plan
from scheduler.domain import Placement, Problem
from scheduler.greedy import greedy_plan
from scheduler.reasons import Reason, explain

Progress = Callable[[float, float, float], None]
"""Called as ``progress(elapsed_s, objective, bound)`` on each improving plan."""


@dataclass(frozen=True)
class SolveParams:
    time_limit_s: float = 60.0
    seed: int = 0
    num_workers: int = 8
    progress: Progress | None = None


@dataclass(frozen=True)
class Result:
    """What a solve returns. ``status`` is ``optimal``, ``feasible`` or ``greedy`` (the optimiser found
    nothing better than its greedy start, or failed; ``message`` says which). Objectives are in points."""

    status: str
    message: str
    plan: tuple[Placement, ...]
    objective: float
    bound: float
    greedy_objective: float
    wall_time_s: float
    solver_status: str
    reasons: dict[str, Reason] = field(default_factory=dict)

    @property
    def gap(self) -> float:
        """Relative distance to the bound: ``(bound - objective) / max(|bound|, 1e-9)``."""
        return max(0.0, self.bound - self.objective) / max(abs(self.bound), 1e-9)


class _ProgressCallback(cp_model.CpSolverSolutionCallback):
    def __init__(self, progress: Progress, started: float) -> None:
        super().__init__()
        self._progress = progress
        self._started = started

    def on_solution_callback(self) -> None:
        self._progress(
            time.perf_counter() - self._started,
            self.objective_value / formulas.MILLI,
            self.best_objective_bound / formulas.MILLI,
        )


def solve(problem: Problem, params: SolveParams | None = None) -> Result:
    """Allocate ``problem``'s requests. Never raises on an infeasible or timed-out solve: it then
    returns the greedy start and says so. Never returns a plan worse than the greedy start."""
    params = params or SolveParams()
    started = time.perf_counter()
    start_plan = greedy_plan(problem)
    greedy_milli = formulas.objective_milli(problem, start_plan)

    ctx = build_model(problem)
    add_hint(ctx, start_plan)
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = max(0.0, params.time_limit_s - (time.perf_counter() - started))
    solver.parameters.random_seed = params.seed
    solver.parameters.num_workers = params.num_workers
    callback = _ProgressCallback(params.progress, started) if params.progress else None
    status = solver.solve(ctx.model, callback)
    status_name = solver.status_name(status)

    plan, milli, bound_milli = start_plan, greedy_milli, None
    if status in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        solved_plan = read_plan(ctx, solver)
        solved_milli = formulas.objective_milli(problem, solved_plan)
        bound_milli = solver.best_objective_bound
        if solved_milli >= greedy_milli:
            plan, milli = solved_plan, solved_milli
    if plan is start_plan and status != cp_model.OPTIMAL:
        result_status = "greedy"
        message = (
            "the optimiser found no plan better than the greedy start within the time limit"
            if status == cp_model.FEASIBLE or status == cp_model.UNKNOWN
            else f"the optimiser ended with {status_name}; the greedy plan is returned"
        )
    elif status == cp_model.OPTIMAL:
        result_status, message = "optimal", "proved optimal"
    else:
        result_status, message = "feasible", "best plan found within the time limit"
    bound = (bound_milli if bound_milli is not None else _trivial_bound_milli(problem)) / formulas.MILLI
    return Result(
        status=result_status,
        message=message,
        plan=plan,
        objective=milli / formulas.MILLI,
        bound=max(bound, milli / formulas.MILLI),
        greedy_objective=greedy_milli / formulas.MILLI,
        wall_time_s=time.perf_counter() - started,
        solver_status=status_name,
        reasons=explain(problem, plan),
    )


def _trivial_bound_milli(problem: Problem) -> int:
    """Every request placed at its best pool with no delay: an upper bound without the solver."""
    total = 0
    for request in problem.requests:
        scores = [
            formulas.score_milli(problem, request, pool, max(request.earliest_slot, 0))
            for pool in problem.eligible_pools(request)
            if formulas.start_range(problem, request, pool)
        ]
        total += max([0, *scores])
    return total
