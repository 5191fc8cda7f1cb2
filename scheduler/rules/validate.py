"""The independent checker: every rule re-checked in pure Python, no solver involved.

Every plan, from the optimiser, the greedy start or a file, goes through :func:`violations`.
"""

from __future__ import annotations

from scheduler.model import formulas
from scheduler.model.domain import Placement, Problem
from scheduler.rules import RULES
from scheduler.rules.base import Violation


def violations(problem: Problem, plan: tuple[Placement, ...]) -> list[Violation]:
    """Every broken rule of ``plan``, each with its request, pool and slot where they apply."""
    return [v for rule in RULES for v in rule.check(problem, plan)]


def objective(problem: Problem, plan: tuple[Placement, ...]) -> float:
    """The plan's objective in points, recomputed from :mod:`scheduler.model.formulas`."""
    return formulas.objective_milli(problem, plan) / formulas.MILLI


__all__ = ["Violation", "objective", "violations"]
