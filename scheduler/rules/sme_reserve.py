"""SME reserve: in every pool and every slot from the release slot on, non-SME classes together hold at
most ``floor(available * (100 - sme_reserve_pct) / 100)`` (less their earlier commitments).

Slots before ``release_slot = ceil(reserve_release_hours / slot_hours)`` are lent to everyone: an SME
reserve left idle that close to now would otherwise be wasted.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from scheduler.model import formulas
from scheduler.model.domain import Placement, Problem
from scheduler.rules.base import Violation, add_limit, known_placements, usage_by_slot

if TYPE_CHECKING:
    from scheduler.optimise.cpsat.variables import ModelContext


def check(problem: Problem, plan: tuple[Placement, ...]) -> list[Violation]:
    found: list[Violation] = []
    placed = known_placements(problem, plan)

    def non_sme(p: Placement) -> bool:
        return not problem.is_sme(problem.request_by_id[p.request_id])

    for pool in problem.pools:
        used = usage_by_slot(problem, placed, pool.id, non_sme)
        room = formulas.non_sme_room_left(problem, pool)
        for slot in range(problem.release_slot, problem.horizon.slots):
            if used[slot] > room[slot]:
                found.append(
                    Violation(
                        "sme_reserve",
                        f"non-SME requests hold {used[slot]} accelerators; the SME reserve leaves them {room[slot]}",
                        None,
                        pool.id,
                        slot,
                    )
                )
    return found


def encode(ctx: ModelContext) -> None:
    problem = ctx.problem
    for pool in problem.pools:
        options = [o for o in ctx.options_by_pool.get(pool.id, []) if not problem.is_sme(o.request)]
        if not options:
            continue
        room = formulas.non_sme_room_left(problem, pool)
        if all(r >= pool.capacity for r in room):
            continue
        add_limit(ctx, options, pool.capacity, room, f"reserve_{pool.id}")
