"""In every slot no pool holds more accelerators than its capacity, less maintenance and earlier commitments.

``sum(accelerators_r for r on pool p running in slot t) <= room_left(p)[t]``
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from scheduler.model import formulas
from scheduler.model.domain import Placement, Problem
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
