"""In every slot no pool holds more accelerators than its capacity, less maintenance and earlier commitments.

``sum(accelerators_r for r on pool p running in slot t) <= room_left(p)[t]``
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from scheduler.model import formulas
from scheduler.model.domain import Placement, Pool, Problem, Request
from scheduler.rules.base import Violation, add_limit, known_placements, reach, usage_by_slot

if TYPE_CHECKING:
    from scheduler.optimise.cpsat.variables import ModelContext


def check(problem: Problem, plan: tuple[Placement, ...]) -> list[Violation]:
    found: list[Violation] = []
    placed = known_placements(problem, plan)
    for pool in problem.pools:
        used = usage_by_slot(problem, placed, pool.id)
        room = formulas.room_left(problem, pool)
        for slot, (u, r) in enumerate(zip(used, room, strict=True)):
            if u > r:
                found.append(Violation("capacity", f"holds {u} accelerators, only {r} are free", None, pool.id, slot))
    return found


class Face:
    """The incremental face: accelerators free per pool and slot, less what has been taken. A placement is
    admitted when its pool has ``accelerators`` free in every slot of its run."""

    def __init__(self, problem: Problem) -> None:
        self.problem = problem
        self.free = {p.id: np.array(formulas.room_left(problem, p), dtype=np.int64) for p in problem.pools}

    def limit(self, request: Request, pool: Pool) -> np.ndarray:
        """What ``request`` may take of ``pool`` per slot under this rule."""
        return self.free[pool.id]

    def admits(self, p: Placement) -> bool:
        need = self.problem.request_by_id[p.request_id].accelerators
        return bool(self.free[p.pool_id][p.start_slot : p.end_slot].min(initial=need) >= need)

    def take(self, p: Placement, sign: int = 1) -> None:
        self.free[p.pool_id][p.start_slot : p.end_slot] -= sign * self.problem.request_by_id[p.request_id].accelerators

    def release(self, p: Placement) -> None:
        self.take(p, -1)


def encode(ctx: ModelContext) -> None:
    for pool in ctx.problem.pools:
        options = ctx.options_by_pool.get(pool.id, [])
        if not options:
            continue
        room = formulas.room_left(ctx.problem, pool)
        add_limit(ctx, options, pool.capacity, room, f"capacity_{pool.id}")
        # redundant area cut: the placed accelerator-slots fit the free area of the slots they can reach.
        # It tightens the LP relaxation (and so the bound) far more than the cumulative's own relaxation does.
        slots = reach(options)
        area = sum(room[slots.start : slots.stop])
        ctx.model.add(sum(o.request.accelerators * o.run_slots * o.present_var for o in options) <= area)
