"""One CP-SAT run over a problem, warm-started from a plan: used for the whole problem and for
each large-neighbourhood sub-problem alike."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ortools.sat.python import cp_model

from scheduler.model.domain import Placement, Problem
from scheduler.optimise.cpsat.model import add_hint, build_model, read_plan
from scheduler.rules.placement import options

DETERMINISTIC_PER_SECOND = 0.1
"""CP-SAT deterministic time per second of a deterministic solve's limit: on the 2-core machines this project is
measured on, one worker does about 0.1 deterministic seconds of work per wall-clock second (0.3 took 2.4 s, 1.0
took 8.1 s on a 93-request round), so ``time_limit_s`` keeps roughly its meaning in both modes."""


@dataclass(frozen=True)
class Run:
    status: str
    """CP-SAT's status name: OPTIMAL, FEASIBLE, INFEASIBLE, MODEL_INVALID or UNKNOWN."""
    plan: tuple[Placement, ...] | None
    bound_milli: float | None
    objective_milli: int | None
    """CP-SAT's own objective value of ``plan`` (milli-points). Every term is integral, but the solver reports
    the value as a double that may sit an ulp off (34999.999...): rounded to the integer it stands for."""
    deterministic_s: float = 0.0
    """CP-SAT's deterministic time spent (its own work measure, roughly seconds, the same on every run)."""


class _Callback(cp_model.CpSolverSolutionCallback):
    def __init__(self, on_solution: Callable[[float, float], None]) -> None:
        super().__init__()
        self._on_solution = on_solution

    def on_solution_callback(self) -> None:
        self._on_solution(self.objective_value, self.best_objective_bound)


def run_cpsat(
    problem: Problem,
    hint: tuple[Placement, ...],
    time_limit_s: float,
    seed: int,
    num_workers: int,
    on_solution: Callable[[float, float], None] | None = None,
    light_presolve: bool = False,
    deterministic: bool = False,
) -> Run:
    """Solve ``problem`` with CP-SAT from ``hint`` within ``time_limit_s``; objective in milli-points.

    ``light_presolve`` (one presolve pass, no probing) suits the short solves of large-neighbourhood
    search: on their sub-problems full presolve takes about 0.2 s of a 0.3-0.5 s step. ``deterministic``: the
    limit is CP-SAT's deterministic time instead of the wall clock, and several workers interleave their search
    in a fixed order, so the same inputs give the same plan on every run (on the same OR-Tools version).
    """
    ctx = build_model(problem)
    add_hint(ctx, hint)
    solver = cp_model.CpSolver()
    if deterministic:
        solver.parameters.max_deterministic_time = max(0.0, time_limit_s) * DETERMINISTIC_PER_SECOND
        solver.parameters.interleave_search = num_workers > 1
    else:
        solver.parameters.max_time_in_seconds = max(0.0, time_limit_s)
    solver.parameters.random_seed = seed
    solver.parameters.num_workers = num_workers
    if light_presolve:
        solver.parameters.max_presolve_iterations = 1
        solver.parameters.cp_model_probing_level = 0
    status = solver.solve(ctx.model, _Callback(on_solution) if on_solution else None)
    if status in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        plan = read_plan(ctx, solver)
        bound, value = solver.best_objective_bound, round(solver.objective_value)
        return Run(solver.status_name(status), plan, bound, value, solver.deterministic_time)
    return Run(solver.status_name(status), None, None, None, solver.deterministic_time)


def model_size(problem: Problem) -> int:
    """The number of (request, pool) options the full model would hold."""
    return sum(len(options(problem, r)) for r in problem.requests)
