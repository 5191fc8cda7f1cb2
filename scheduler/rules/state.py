"""The rule state: every rule's incremental face in one object, the only place outside the rules' ``check`` and
``encode`` that knows them.

The greedy pass, the baselines, reasons, quotes and the large-neighbourhood search's voucher bookkeeping all
place requests through it: :meth:`RuleState.offer` builds a placement with the subsidy it would be paid now and
only if every rule admits it, :meth:`RuleState.take` commits it and :meth:`RuleState.release` gives it back.
:meth:`RuleState.admits` is exact: on a state holding a valid plan it admits a placement if and only if the
validator (:func:`scheduler.rules.validate.violations`) finds nothing wrong with the plan and it together (a
property test holds the faces to that).
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import numpy as np

from scheduler.model import formulas
from scheduler.model.domain import Placement, Pool, Problem, Request
from scheduler.rules import RULES, capacity, max_cost, placement, sme_reserve, vouchers
from scheduler.rules.base import Face
from scheduler.rules.placement import Option


def fit_matrix(free: np.ndarray, accelerators: int, runs: np.ndarray) -> np.ndarray:
    """Over (row, start) of ``free`` (each row the room per slot of one window): whether a run of that row's
    ``runs`` slots from the start has ``accelerators`` free throughout and ends inside the window."""
    width = free.shape[1]
    with_room = np.zeros((len(free), width + 1), dtype=np.int32)  # slots with room before each, by a prefix sum
    np.cumsum(free >= accelerators, axis=1, out=with_room[:, 1:])
    ends = np.arange(width) + runs[:, None]
    inside = np.take_along_axis(with_room, np.minimum(ends, width), axis=1) - with_room[:, :width]
    return (ends <= width) & (inside == runs[:, None])


def fits_mask(room: np.ndarray, accelerators: int, run: int, starts: range) -> np.ndarray:
    """Mask over ``starts``: the run of ``run`` slots from each start has ``accelerators`` free throughout."""
    window = room[starts.start : starts.stop + run - 1]
    return fit_matrix(window[None, :], accelerators, np.array([run]))[0, : len(starts)]


class RuleState:
    """Free capacity, the SME reserve's non-SME share, voucher balances and the budget left, and which requests
    are placed, as placements are taken and released.

    Parameters
    ----------
    problem
        The problem whose rules apply; its commitments are already counted.
    """

    def __init__(self, problem: Problem) -> None:
        self.problem = problem
        self.faces: tuple[Face, ...] = tuple(rule.Face(problem) for rule in RULES)
        face: dict[ModuleType, Any] = dict(zip(RULES, self.faces, strict=True))
        # the faces that offers query directly, for speed (fit matrices over room and share, the subsidy)
        self.placed: placement.Face = face[placement]
        self.room: capacity.Face = face[capacity]
        self.share: sme_reserve.Face = face[sme_reserve]
        self.purse: vouchers.Face = face[vouchers]
        self.ceiling: max_cost.Face = face[max_cost]
        # any other rule is asked of every offer
        self.others = tuple(
            f for rule, f in face.items() if rule not in (placement, capacity, sme_reserve, vouchers, max_cost)
        )
        self.plan: list[Placement] = []
        self._options: dict[str, list[Option]] = {}

    # ------------------------------------------------------------ where a request may go

    def options(self, request: Request) -> list[Option]:
        """:func:`scheduler.rules.placement.options`, once per request."""
        if request.id not in self._options:
            self._options[request.id] = placement.options(self.problem, request)
        return self._options[request.id]

    def last_start(self, request: Request) -> int:
        """The latest slot at which the request could still start on some pool (-1 if none)."""
        return max((o.starts.stop - 1 for o in self.options(request)), default=-1)

    def is_sme(self, request: Request) -> bool:
        return self.share.is_sme(request)

    def free(self, request: Request, pool: Pool, slots: slice = slice(None)) -> np.ndarray:
        """Accelerators ``request`` may take of ``pool`` in each of ``slots``: capacity, and the reserve for
        non-SMEs (a view for an SME: do not write to it)."""
        share = self.share.limit(request, pool)
        room = self.room.limit(request, pool)[slots]
        return room if share is None else np.minimum(room, share[slots])

    def fits(self, request: Request, pool: Pool, start: int, run: int) -> bool:
        """Capacity and the SME reserve hold ``request`` on ``pool`` in ``[start, start + run)``."""
        need = request.accelerators
        if self.room.limit(request, pool)[start : start + run].min() < need:
            return False
        share = self.share.limit(request, pool)
        return share is None or share[start : start + run].min() >= need

    def subsidy_fen(self, request: Request, pool: Pool, start: int) -> int:
        """What the request would be paid if placed now: ``min(entitlement, voucher left, budget left)``."""
        return self.purse.subsidy_fen(request, pool, start)

    def affordable(self, request: Request, pool: Pool, start: int) -> bool:
        """The price ceiling holds with the subsidy the request would be paid now."""
        return max_cost.affordable(request, formulas.cost_fen(request, pool), self.subsidy_fen(request, pool, start))

    # ------------------------------------------------------------ offers

    def offer(self, request: Request, option: Option, start: int) -> Placement | None:
        """The placement at ``start`` if every rule allows it now, else ``None``."""
        if start not in option.starts or not self.fits(request, option.pool, start, option.run_slots):
            return None
        return self.offer_fitting(request, option, start)

    def offer_fitting(self, request: Request, option: Option, start: int) -> Placement | None:
        """:meth:`offer` at a start of ``option`` already known to fit capacity and the reserve (a fit mask
        found it): the subsidy it would be paid, if the price ceiling and any other rule allow it."""
        subsidy = self.subsidy_fen(request, option.pool, start)
        if not max_cost.affordable(request, option.cost_fen, subsidy):
            return None
        offered = option.placement(start, subsidy)
        return offered if all(f.admits(offered) for f in self.others) else None

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
        free = self.free(request, option.pool, slice(first, last + option.run_slots))
        for offset in np.flatnonzero(fits_mask(free, request.accelerators, option.run_slots, range(last - first + 1))):
            found = self.offer_fitting(request, option, first + int(offset))
            if found is not None:
                return found
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

    # ------------------------------------------------------------ taking and giving back

    def admits(self, p: Placement) -> bool:
        """Every rule admits ``p`` given what has been taken."""
        return all(face.admits(p) for face in self.faces)

    def take(self, p: Placement) -> None:
        """Take the placement's accelerators and pay its subsidy."""
        for face in self.faces:
            face.take(p)
        self.plan.append(p)

    def release(self, p: Placement) -> None:
        """Give back what :meth:`take` took for ``p``. A placement paid in part may then lose the exhausted
        voucher that justified it: ``purse.settled()`` says whether every one still holds."""
        if self.plan and self.plan[-1] is p:
            self.plan.pop()  # the usual case: a tentative placement withdrawn at once
        else:
            self.plan.remove(p)
        for face in self.faces:
            face.release(p)

    def hold(self, p: Placement) -> None:
        """Reserve the placement's accelerators without placing it (an EASY reservation); no money moves."""
        self.room.take(p)
        self.share.take(p)

    def unhold(self, p: Placement) -> None:
        self.room.release(p)
        self.share.release(p)


def state_of(problem: Problem, plan: tuple[Placement, ...] | list[Placement] = ()) -> RuleState:
    """The rule state after taking every placement of ``plan`` (assumed valid, in its order)."""
    state = RuleState(problem)
    for p in plan:
        state.take(p)
    return state
