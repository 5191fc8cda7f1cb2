"""Public Compute Scheduler's optimisation core.

The public surface, which ``api/``, the notebooks and other callers use::

    from scheduler import Problem, solve, SolveParams, Result, validate, load_scenario, simulate

Subpackages: ``model`` (the domain), ``rules`` (one module per rule, the rule state, the validator, reasons and
quotes), ``optimise`` (greedy, bounds, CP-SAT, LNS), ``sim`` (the rolling simulator and baselines), ``io``
(scenarios, traces, plan files) and ``report`` (KPI tables, charts, exports).

Names load on first use (PEP 562), so that importing the solver-free domain never loads OR-Tools.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

_EXPORTS = {  # public name: (module, name there)
    "Problem": ("scheduler.model.domain", "Problem"),
    "Placement": ("scheduler.model.domain", "Placement"),
    "InputError": ("scheduler.model.errors", "InputError"),
    "solve": ("scheduler.optimise.solve", "solve"),
    "SolveParams": ("scheduler.optimise.solve", "SolveParams"),
    "Result": ("scheduler.optimise.result", "Result"),
    "validate": ("scheduler.rules.validate", "violations"),
    "load_scenario": ("scheduler.io.scenarios", "load_scenario"),
    "simulate": ("scheduler.sim.simulate", "simulate"),
}

__all__ = [
    "InputError",
    "Placement",
    "Problem",
    "Result",
    "SolveParams",
    "load_scenario",
    "simulate",
    "solve",
    "validate",
]

if TYPE_CHECKING:
    from scheduler.io.scenarios import load_scenario
    from scheduler.model.domain import Placement, Problem
    from scheduler.model.errors import InputError
    from scheduler.optimise.result import Result
    from scheduler.optimise.solve import SolveParams, solve
    from scheduler.rules.validate import violations as validate
    from scheduler.sim.simulate import simulate


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'scheduler' has no attribute {name!r}")
    module, attr = _EXPORTS[name]
    value = getattr(import_module(module), attr)
    globals()[name] = value
    return value
