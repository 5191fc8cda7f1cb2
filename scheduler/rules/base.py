"""What the rule modules share: the violation record, the incremental face, per-slot usage of a plan and the
CP-SAT per-slot limit."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from scheduler.model import formulas
from scheduler.model.domain import Placement, Problem

if TYPE_CHECKING:
    from scheduler.optimise.cpsat.variables import ModelContext, OptionVars


@dataclass(frozen=True)
class Violation:
    """One broken rule: which, a sentence, and where (request, pool, slot) when it applies."""

    rule: str
    message: str
    request_id: str | None = None
    pool_id: str | None = None
    slot: int | None = None


class Face(Protocol):
    """A rule's incremental face: whether it admits a placement given those taken, and taking or giving one
    back."""

    def admits(self, p: Placement) -> bool: ...

    def take(self, p: Placement) -> None: ...

    def release(self, p: Placement) -> None: ...


def known_placements(problem: Problem, plan: Iterable[Placement]) -> list[Placement]:
    """The placements whose request and pool exist (the placement rule reports the others)."""
    return [p for p in plan if p.request_id in problem.request_by_id and p.pool_id in problem.pool_by_id]


def usage_by_slot(
    problem: Problem, plan: Iterable[Placement], pool_id: str, counts: Callable[[Placement], bool] = lambda _: True
) -> list[int]:
    """Accelerators that the plan's placements (those ``counts`` accepts) hold on ``pool_id`` per slot."""
    used = [0] * problem.horizon.slots
    pool = problem.pool_by_id[pool_id]
    for placement in plan:
        if placement.pool_id != pool_id or not counts(placement):
            continue
        request = problem.request_by_id[placement.request_id]
        end = placement.start_slot + formulas.run_slots(problem, request, pool)
        for slot in range(max(placement.start_slot, 0), min(end, problem.horizon.slots)):
            used[slot] += request.accelerators
    return used


def reach(options: list[OptionVars]) -> range:
    """The slots that some of ``options`` may run in."""
    return range(min(o.starts.start for o in options), max(o.starts.stop - 1 + o.run_slots for o in options))


def add_limit(ctx: ModelContext, options: list[OptionVars], capacity: int, room: list[int], name: str) -> None:
    """Constrain ``options`` to ``room[t]`` accelerators per slot, as a cumulative of capacity
    ``capacity`` with fixed blocks of ``capacity - room[t]``: one constraint per pool, not per slot."""
    if not options:
        return
    model = ctx.model
    intervals = [o.interval_var for o in options]
    demands = [o.request.accelerators for o in options]
    slots = reach(options)
    slot = slots.start
    while slot < slots.stop:  # no option runs outside its reach, so blocks there would constrain nothing
        end = slot
        while end < slots.stop and room[end] == room[slot]:
            end += 1
        blocked = capacity - room[slot]
        if blocked > 0:
            intervals.append(model.new_fixed_size_interval_var(slot, end - slot, f"{name}_block_{slot}_var"))
            demands.append(blocked)
        slot = end
    model.add_cumulative(intervals, demands, capacity)
