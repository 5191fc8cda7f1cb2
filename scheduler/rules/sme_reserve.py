"""SME reserve: in every pool and every slot from the release slot on, non-SME classes together hold at
most ``floor(available * (100 - sme_reserve_pct) / 100)`` (less their earlier commitments).

Slots before ``release_slot = ceil(reserve_release_hours / slot_hours)`` are lent to everyone: an SME
reserve left idle that close to now would otherwise be wasted.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np

from scheduler.model import formulas
from scheduler.model.domain import Placement, Pool, Problem, Request
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


def check_rounds(timeline: Problem, plan: tuple[Placement, ...], decided: Mapping[str, int]) -> list[Violation]:
    """The rule over a rolling run, in timeline slots: the nearest slots are lent from each deciding round on,
    so it is checked per round ``k`` (``decided`` maps each request to it): in each slot ``t >= k + release``
    where round ``k`` placed non-SME work, the non-SME work decided by round ``k`` holds at most
    ``floor(available_t * (100 - sme_reserve_pct) / 100)``."""
    found: list[Violation] = []
    release, slots = timeline.release_slot, timeline.horizon.slots
    for pool in timeline.pools:
        mine = [p for p in plan if p.pool_id == pool.id and p.request_id in decided]
        mine = [p for p in mine if not timeline.is_sme(timeline.request_by_id[p.request_id])]
        cap = np.array([timeline.policy.non_sme_cap(free) for free in formulas.available(pool, slots)])
        used = np.zeros(slots, dtype=np.int64)
        for k in sorted({decided[p.request_id] for p in mine}):
            new = np.array(usage_by_slot(timeline, [p for p in mine if decided[p.request_id] == k], pool.id))
            used += new
            for slot in np.flatnonzero((new > 0) & (used > cap) & (np.arange(slots) >= k + release)):
                message = f"after round {k} non-SME requests hold {used[slot]}; the reserve allows {cap[slot]}"
                found.append(Violation("sme_reserve", message, None, pool.id, int(slot)))
    return found


class Face:
    """The incremental face: what non-SME classes may still take per pool and slot under the reserve, less the
    non-SME placements taken. An SME placement is always admitted by this rule (capacity limits it)."""

    def __init__(self, problem: Problem) -> None:
        self.problem = problem
        self.free = {p.id: np.array(formulas.non_sme_room_left(problem, p), dtype=np.int64) for p in problem.pools}
        self._sme: dict[str, bool] = {}

    def is_sme(self, request: Request) -> bool:
        if request.id not in self._sme:
            self._sme[request.id] = self.problem.is_sme(request)
        return self._sme[request.id]

    def limit(self, request: Request, pool: Pool) -> np.ndarray | None:
        """What ``request`` may take of ``pool`` per slot under this rule; ``None``: no limit (an SME)."""
        return None if self.is_sme(request) else self.free[pool.id]

    def admits(self, p: Placement) -> bool:
        request = self.problem.request_by_id[p.request_id]
        if self.is_sme(request):
            return True
        return bool(
            self.free[p.pool_id][p.start_slot : p.end_slot].min(initial=request.accelerators) >= request.accelerators
        )

    def take(self, p: Placement, sign: int = 1) -> None:
        request = self.problem.request_by_id[p.request_id]
        if not self.is_sme(request):
            self.free[p.pool_id][p.start_slot : p.end_slot] -= sign * request.accelerators

    def release(self, p: Placement) -> None:
        self.take(p, -1)


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
