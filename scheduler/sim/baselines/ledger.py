"""What every baseline shares: a mutable ledger of free capacity and subsidy money, so that all of them obey
exactly the optimiser's rules and differ only in their decisions.

- Capacity: per pool and slot, ``room = formulas.room_left`` less what the baseline has placed.
- SME reserve: per pool and slot, ``non_sme_room = formulas.non_sme_room_left`` less the non-SME placements;
  a non-SME request needs ``accelerators`` in both, an SME request in ``room`` only.
- Window and eligibility: starts come from ``formulas.start_range`` on ``problem.eligible_pools``.
- Vouchers: a placement is paid ``min(entitlement, voucher left, budget left)`` when it is committed, so an
  entitlement is paid in full unless its voucher or the programme budget has run out.
- Price ceiling: a start is offered only if ``cost - subsidy <= max_cost_fen``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from scheduler.model import formulas
from scheduler.model.domain import Placement, Pool, Problem, Request
from scheduler.optimise.greedy import fits_mask


@dataclass(frozen=True)
class Option:
    """An eligible pool of a request whose window holds its run there."""

    pool: Pool
    run: int
    starts: range


class Ledger:
    """Free capacity, the SME reserve's non-SME share, voucher balances and the programme budget left,
    updated as a baseline commits placements (in the order it commits them)."""

    def __init__(self, problem: Problem) -> None:
        self.problem = problem
        self.room = {p.id: np.array(formulas.room_left(problem, p), dtype=np.int64) for p in problem.pools}
        self.non_sme_room = {
            p.id: np.array(formulas.non_sme_room_left(problem, p), dtype=np.int64) for p in problem.pools
        }
        self.voucher_left = {v.id: v.balance_fen for v in problem.vouchers}
        self.budget_left = problem.programme.voucher_budget_fen
        self.plan: list[Placement] = []
        self._options: dict[str, list[Option]] = {}
        self._sme: dict[str, bool] = {}

    def options(self, request: Request) -> list[Option]:
        """The request's eligible pools, in the problem's pool order, whose window holds its run."""
        if request.id not in self._options:
            found = []
            for pool in self.problem.eligible_pools(request):
                starts = formulas.start_range(self.problem, request, pool)
                if starts:
                    found.append(Option(pool, formulas.run_slots(self.problem, request, pool), starts))
            self._options[request.id] = found
        return self._options[request.id]

    def last_start(self, request: Request) -> int:
        """The latest slot at which the request could still start on some pool (-1 if none)."""
        return max((o.starts.stop - 1 for o in self.options(request)), default=-1)

    def is_sme(self, request: Request) -> bool:
        if request.id not in self._sme:
            self._sme[request.id] = self.problem.is_sme(request)
        return self._sme[request.id]

    def fits(self, request: Request, pool: Pool, start: int, run: int) -> bool:
        """Capacity and the SME reserve hold ``request`` on ``pool`` in ``[start, start + run)``."""
        need = request.accelerators
        if self.room[pool.id][start : start + run].min() < need:
            return False
        return self.is_sme(request) or self.non_sme_room[pool.id][start : start + run].min() >= need

    def subsidy_fen(self, request: Request, pool: Pool, start: int) -> int:
        """What the request would be paid if committed now: ``min(entitlement, voucher left, budget left)``."""
        owed = formulas.entitlement_fen(self.problem, request, pool, start)
        if owed == 0 or request.voucher_id is None:
            return 0
        return min(owed, self.voucher_left[request.voucher_id], self.budget_left)

    def affordable(self, request: Request, pool: Pool, start: int) -> bool:
        """The price ceiling holds with the subsidy the request would be paid now."""
        limit = request.max_cost_fen
        if limit is None:
            return True
        return formulas.cost_fen(request, pool) - self.subsidy_fen(request, pool, start) <= limit

    def offer(self, request: Request, option: Option, start: int) -> Placement | None:
        """The placement at ``start`` if every rule allows it now, else ``None``."""
        pool = option.pool
        if start not in option.starts or not self.fits(request, pool, start, option.run):
            return None
        if not self.affordable(request, pool, start):
            return None
        return Placement(
            request.id, pool.id, start, formulas.cost_fen(request, pool), self.subsidy_fen(request, pool, start)
        )

    def first_offer(
        self, request: Request, option: Option, not_before: int = 0, latest: int | None = None
    ) -> Placement | None:
        """The earliest placement on ``option``'s pool starting in ``[not_before, latest]`` that every rule allows."""
        first = max(option.starts.start, not_before)
        last = option.starts.stop - 1 if latest is None else min(option.starts.stop - 1, latest)
        if first > last:
            return None
        if first == last:
            return self.offer(request, option, first)
        starts = range(first, last + 1)
        free = self.room[option.pool.id]
        if not self.is_sme(request):
            free = np.minimum(free, self.non_sme_room[option.pool.id])
        for offset in np.flatnonzero(fits_mask(free, request.accelerators, option.run, starts)):
            start = first + int(offset)
            if self.affordable(request, option.pool, start):
                return self.offer(request, option, start)
        return None

    def best_offer(self, request: Request, not_before: int = 0, latest: int | None = None) -> Placement | None:
        """Over all eligible pools, the placement with the earliest start in ``[not_before, latest]``; ties go to
        the best score (:func:`scheduler.model.formulas.score_milli`), then to the pool listed first."""
        best: tuple[int, int, Placement] | None = None
        for option in self.options(request):
            found = self.first_offer(request, option, not_before, latest)
            if found is None:
                continue
            key = (found.start_slot, -formulas.score_milli(self.problem, request, option.pool, found.start_slot))
            if best is None or key < best[:2]:
                best = (*key, found)
        return None if best is None else best[2]

    def commit(self, placement: Placement) -> None:
        """Take the placement's accelerators and pay its subsidy."""
        self._take(placement, 1)
        self.plan.append(placement)

    def release(self, placement: Placement) -> None:
        """Undo :meth:`commit` of the last committed placement (a tentative decision that is withdrawn)."""
        if not self.plan or self.plan[-1] is not placement:
            raise ValueError("only the last committed placement can be released")
        self.plan.pop()
        self._take(placement, -1)

    def hold(self, placement: Placement) -> None:
        """Reserve the placement's accelerators without committing it (an EASY reservation); no money moves."""
        self._take(placement, 1, pay=False)

    def unhold(self, placement: Placement) -> None:
        self._take(placement, -1, pay=False)

    def _take(self, placement: Placement, sign: int, pay: bool = True) -> None:
        request = self.problem.request_by_id[placement.request_id]
        pool = self.problem.pool_by_id[placement.pool_id]
        end = placement.start_slot + formulas.run_slots(self.problem, request, pool)
        self.room[pool.id][placement.start_slot : end] -= sign * request.accelerators
        if not self.is_sme(request):
            self.non_sme_room[pool.id][placement.start_slot : end] -= sign * request.accelerators
        if pay and request.voucher_id is not None:
            self.voucher_left[request.voucher_id] -= sign * placement.subsidy_fen
            self.budget_left -= sign * placement.subsidy_fen


def arrival_slot(request: Request) -> int:
    """When a request joins the queue: its earliest start, or slot 0 if that lies before the horizon."""
    return max(request.earliest_slot, 0)


def priority_key(problem: Problem, request: Request) -> tuple:
    """Class priority (higher class weight first), then arrival (earliest start), then request id."""
    weight = problem.policy.class_weights[problem.org_by_id[request.org_id].org_class]
    return (-weight, request.earliest_slot, request.id)
