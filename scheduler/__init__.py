"""Public Compute Scheduler's optimisation core.

The public surface, which ``api/``, the notebooks and other callers use::

    from scheduler import Problem, solve, SolveParams, Result, validate, load_scenario, simulate

Subpackages: ``model`` (the domain), ``rules`` (one module per rule, the rule state, the validator, reasons and
quotes), ``optimise`` (greedy, bounds, CP-SAT, LNS), ``sim`` (the rolling simulator and baselines), ``io``
(scenarios, traces, plan files) and ``report`` (KPI tables, charts, exports). A few of their modules are part of
the surface as a whole (``formulas``, ``parse``, ``reports``, ``export``): their functions are many and small.

Names load on first use (PEP 562), so that importing the solver-free domain never loads OR-Tools.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

_EXPORTS: dict[str, tuple[str, str | None]] = {  # public name: (module, name there; None: the module itself)
    "Commitment": ("scheduler.model.domain", "Commitment"),
    "MaintenanceWindow": ("scheduler.model.domain", "MaintenanceWindow"),
    "Org": ("scheduler.model.domain", "Org"),
    "OrgClass": ("scheduler.model.domain", "OrgClass"),
    "Placement": ("scheduler.model.domain", "Placement"),
    "Policy": ("scheduler.model.domain", "Policy"),
    "Pool": ("scheduler.model.domain", "Pool"),
    "Problem": ("scheduler.model.domain", "Problem"),
    "Programme": ("scheduler.model.domain", "Programme"),
    "Request": ("scheduler.model.domain", "Request"),
    "Site": ("scheduler.model.domain", "Site"),
    "Voucher": ("scheduler.model.domain", "Voucher"),
    "Horizon": ("scheduler.model.horizon", "Horizon"),
    "parse_datetime": ("scheduler.model.horizon", "parse_datetime"),
    "InputError": ("scheduler.model.errors", "InputError"),
    "formulas": ("scheduler.model.formulas", None),
    "solve": ("scheduler.optimise.solve", "solve"),
    "SolveParams": ("scheduler.optimise.solve", "SolveParams"),
    "Result": ("scheduler.optimise.result", "Result"),
    "validate": ("scheduler.rules.validate", "violations"),
    "Reason": ("scheduler.rules.reasons", "Reason"),
    "refusal": ("scheduler.rules.reasons", "refusal"),
    "PERMANENT": ("scheduler.rules.reasons", "PERMANENT"),
    "quote": ("scheduler.rules.quote", "quote"),
    "load_scenario": ("scheduler.io.scenarios", "load_scenario"),
    "Scenario": ("scheduler.io.scenarios", "Scenario"),
    "CsvRef": ("scheduler.io.scenario_tables", "CsvRef"),
    "read_orgs": ("scheduler.io.scenario_tables", "read_orgs"),
    "read_requests": ("scheduler.io.scenario_tables", "read_requests"),
    "read_vouchers": ("scheduler.io.scenario_tables", "read_vouchers"),
    "parse": ("scheduler.io.parse", None),
    "simulate": ("scheduler.sim.simulate", "simulate"),
    "OPTIMISER": ("scheduler.sim.online", "OPTIMISER"),
    "WAIT_WEIGHT_PER_SLOT": ("scheduler.sim.online", "WAIT_WEIGHT_PER_SLOT"),
    "RoundDecision": ("scheduler.sim.online", "RoundDecision"),
    "decide_round": ("scheduler.sim.online", "decide_round"),
    "reports": ("scheduler.report.reports", None),
    "export": ("scheduler.report.export", None),
}

__all__ = [
    "OPTIMISER",
    "PERMANENT",
    "WAIT_WEIGHT_PER_SLOT",
    "Commitment",
    "CsvRef",
    "Horizon",
    "InputError",
    "MaintenanceWindow",
    "Org",
    "OrgClass",
    "Placement",
    "Policy",
    "Pool",
    "Problem",
    "Programme",
    "Reason",
    "Request",
    "Result",
    "RoundDecision",
    "Scenario",
    "Site",
    "SolveParams",
    "Voucher",
    "decide_round",
    "export",
    "formulas",
    "load_scenario",
    "parse",
    "parse_datetime",
    "quote",
    "read_orgs",
    "read_requests",
    "read_vouchers",
    "refusal",
    "reports",
    "simulate",
    "solve",
    "validate",
]

if TYPE_CHECKING:
    from scheduler.io import parse
    from scheduler.io.scenario_tables import CsvRef, read_orgs, read_requests, read_vouchers
    from scheduler.io.scenarios import Scenario, load_scenario
    from scheduler.model import formulas
    from scheduler.model.domain import (
        Commitment,
        MaintenanceWindow,
        Org,
        OrgClass,
        Placement,
        Policy,
        Pool,
        Problem,
        Programme,
        Request,
        Site,
        Voucher,
    )
    from scheduler.model.errors import InputError
    from scheduler.model.horizon import Horizon, parse_datetime
    from scheduler.optimise.result import Result
    from scheduler.optimise.solve import SolveParams, solve
    from scheduler.report import export, reports
    from scheduler.rules.quote import quote
    from scheduler.rules.reasons import PERMANENT, Reason, refusal
    from scheduler.rules.validate import violations as validate
    from scheduler.sim.online import OPTIMISER, WAIT_WEIGHT_PER_SLOT, RoundDecision, decide_round
    from scheduler.sim.simulate import simulate


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'scheduler' has no attribute {name!r}")
    module, attr = _EXPORTS[name]
    value = import_module(module) if attr is None else getattr(import_module(module), attr)
    globals()[name] = value
    return value
