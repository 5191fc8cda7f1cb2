"""A request gets at most one placement, on an eligible pool, inside its window, at the list price.

Eligible: an accepted accelerator type at an accepted site, with at least ``accelerators`` of them.
Window: ``earliest_slot <= start`` and ``start + run_slots <= min(deadline_slot, horizon)``.
Run: ``end_slot = start + run_slots`` (the run at the pool's speed).
Price: ``cost_fen = accelerators * run_hours * price_fen_per_hour``, the same for every organisation.

:func:`options` is the one enumeration of where a request may go; the CP-SAT variables, the heuristics, the
bound, reasons and quotes all start from it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from scheduler.model import formulas
from scheduler.model.domain import Placement, Pool, Problem, Request
from scheduler.rules.base import Violation

if TYPE_CHECKING:
    from scheduler.optimise.cpsat.variables import ModelContext


@dataclass(frozen=True)
class Option:
    """An eligible pool of a request whose window holds its run there: the starts it may take."""

    request: Request
    pool: Pool
    run_slots: int
    starts: range
    cost_fen: int
    """The list price, :func:`scheduler.model.formulas.cost_fen`."""

    def placement(self, start: int, subsidy_fen: int) -> Placement:
        return Placement(
            self.request.id, self.pool.id, start, self.cost_fen, subsidy_fen, end_slot=start + self.run_slots
        )


def options(problem: Problem, request: Request) -> list[Option]:
    """Every eligible pool of ``request`` whose window holds its run, in the problem's pool order."""
    found = []
    for pool in problem.eligible_pools(request):
        starts = formulas.start_range(problem, request, pool)
        if starts:
            run = formulas.run_slots(problem, request, pool)
            found.append(Option(request, pool, run, starts, formulas.cost_fen(request, pool)))
    return found


def _violations(problem: Problem, p: Placement, request: Request, pool: Pool) -> list[Violation]:
    """What is wrong with ``p`` on its own (eligibility, window, run, price)."""
    found = []
    if pool not in problem.eligible_pools(request):
        found.append(
            Violation(
                "ineligible_pool",
                f"pool {pool.id} ({pool.accelerator_type} at {pool.site_id}, capacity {pool.capacity}) is not "
                f"an accepted type and site for {request.accelerators} accelerators",
                p.request_id,
                p.pool_id,
            )
        )
    run = formulas.run_slots(problem, request, pool)
    first, last = max(request.earliest_slot, 0), min(request.deadline_slot, problem.horizon.slots)
    if p.start_slot < first:
        message = f"starts at slot {p.start_slot}, before its earliest start slot {first}"
        found.append(Violation("window", message, p.request_id, p.pool_id, p.start_slot))
    if p.start_slot + run > last:
        message = f"ends at slot {p.start_slot + run}, after its deadline slot {last}"
        found.append(Violation("window", message, p.request_id, p.pool_id, p.start_slot + run))
    if p.end_slot != p.start_slot + run:
        message = f"ends at slot {p.end_slot}; its run of {run} slots from {p.start_slot} ends at {p.start_slot + run}"
        found.append(Violation("run", message, p.request_id, p.pool_id, p.end_slot))
    price = formulas.cost_fen(request, pool)
    if p.cost_fen != price:
        message = f"charged {p.cost_fen} fen, the list price is {price} fen"
        found.append(Violation("price", message, p.request_id, p.pool_id))
    return found


def check(problem: Problem, plan: tuple[Placement, ...]) -> list[Violation]:
    found: list[Violation] = []
    seen: set[str] = set()
    for p in plan:
        request = problem.request_by_id.get(p.request_id)
        if request is None:
            found.append(Violation("unknown_request", f"no request {p.request_id!r} in the problem", p.request_id))
            continue
        if p.request_id in seen:
            found.append(Violation("double_booked", f"request {p.request_id} is placed more than once", p.request_id))
        seen.add(p.request_id)
        pool = problem.pool_by_id.get(p.pool_id)
        if pool is None:
            found.append(Violation("ineligible_pool", f"no pool {p.pool_id!r}", p.request_id, p.pool_id))
            continue
        found += _violations(problem, p, request, pool)
    return found


class Face:
    """The incremental face: which requests are placed; a placement is admitted only for a known request not
    placed yet, on a known pool, with nothing wrong on its own."""

    def __init__(self, problem: Problem) -> None:
        self.problem = problem
        self.placed: set[str] = set()

    def admits(self, p: Placement) -> bool:
        request = self.problem.request_by_id.get(p.request_id)
        pool = self.problem.pool_by_id.get(p.pool_id)
        if request is None or pool is None or p.request_id in self.placed:
            return False
        return not _violations(self.problem, p, request, pool)

    def take(self, p: Placement) -> None:
        self.placed.add(p.request_id)

    def release(self, p: Placement) -> None:
        self.placed.discard(p.request_id)


def encode(ctx: ModelContext) -> None:
    # eligibility, window, run and price are built into which options exist and their start domains
    for choices in ctx.options_by_request.values():
        if len(choices) > 1:
            ctx.model.add_at_most_one(o.present_var for o in choices)
