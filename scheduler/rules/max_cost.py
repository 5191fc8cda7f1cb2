"""A request with ``max_cost_fen`` is placed only if ``cost_fen - subsidy_fen <= max_cost_fen``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from scheduler.model.domain import Placement, Problem, Request
from scheduler.rules.base import Violation, known_placements

if TYPE_CHECKING:
    from scheduler.optimise.cpsat.variables import ModelContext


def check(problem: Problem, plan: tuple[Placement, ...]) -> list[Violation]:
    found: list[Violation] = []
    for p in known_placements(problem, plan):
        request = problem.request_by_id[p.request_id]
        if not affordable(request, p.cost_fen, p.subsidy_fen):
            found.append(
                Violation(
                    "max_cost",
                    f"pays {p.cost_fen - p.subsidy_fen} fen after subsidy, above its max_cost of "
                    f"{request.max_cost_fen} fen",
                    p.request_id,
                    p.pool_id,
                )
            )
    return found


def affordable(request: Request, cost_fen: int, subsidy_fen: int) -> bool:
    """The price ceiling holds for ``request`` at this cost and subsidy."""
    return request.max_cost_fen is None or cost_fen - subsidy_fen <= request.max_cost_fen


class Face:
    """The incremental face: a stateless check of each placement on its own."""

    def __init__(self, problem: Problem) -> None:
        self.problem = problem

    def admits(self, p: Placement) -> bool:
        return affordable(self.problem.request_by_id[p.request_id], p.cost_fen, p.subsidy_fen)

    def take(self, p: Placement) -> None:
        """Nothing to remember: the ceiling holds or not per placement."""

    def release(self, p: Placement) -> None:
        """Nothing to give back."""


def encode(ctx: ModelContext) -> None:
    for request_id, options in ctx.options_by_request.items():
        limit = ctx.problem.request_by_id[request_id].max_cost_fen
        if limit is None:
            continue
        subsidy = ctx.subsidy_var.get(request_id, 0)
        for option in options:
            if option.cost_fen - option.entitlement_fen > limit:
                ctx.model.add(option.present_var == 0)
        ctx.model.add(sum(o.cost_fen * o.present_var for o in options) - subsidy <= limit)
