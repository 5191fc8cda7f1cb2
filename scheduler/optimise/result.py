"""What every scheduler returns: the optimiser's :func:`~scheduler.optimise.solve.solve` and the baselines alike."""

from __future__ import annotations

from dataclasses import dataclass, field

from scheduler.model.domain import Placement
from scheduler.rules.reasons import Reason


@dataclass(frozen=True)
class Result:
    """What a solve returns. ``status`` is ``optimal`` (proved), ``feasible`` (improved on the warm
    start, not proved optimal), ``greedy`` (nothing better than the warm start was found; ``message``
    says why) or, for a baseline, ``baseline``. Objectives and the bound are in points;
    ``greedy_objective`` is the warm start's value (the best of the greedy schedulers)."""

    status: str
    message: str
    plan: tuple[Placement, ...]
    objective: float
    bound: float
    greedy_objective: float
    wall_time_s: float
    first_plan_s: float
    method: str
    """``cp-sat`` (one model over every request) or ``lns`` (large-neighbourhood search)."""
    solver_status: str
    """CP-SAT's status on the whole model; for ``lns`` the worst status of its sub-solves (``NOT_RUN``
    when the greedy plan was already proved optimal or no sub-solve ran)."""
    reasons: dict[str, Reason] = field(default_factory=dict)
    solver_objective: float | None = None
    """CP-SAT's own objective value of ``plan`` (points) when ``plan`` is the whole model's solution; ``None``
    otherwise. ``objective`` is recomputed from the formulas, so the two must agree."""

    @property
    def gap(self) -> float:
        """Relative distance to the bound: ``(bound - objective) / max(|bound|, 1e-9)``."""
        return max(0.0, self.bound - self.objective) / max(abs(self.bound), 1e-9)
