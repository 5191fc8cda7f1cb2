"""An upper bound on the objective that needs no CP-SAT: a linear relaxation with energetic cuts.

Variables ``y[r, p] in [0, 1]`` (request ``r`` placed on pool ``p``), ``sum_p y[r, p] <= 1``;
maximise ``sum score(r, p, first start) * y[r, p]`` (the delay term only lowers a score). For every
pool and every interval ``[a, b)`` of a grid, the accelerator-slots that placements must spend inside
``[a, b)`` fit its free room (energetic reasoning):

``sum_r accelerators_r * min_overlap(r, p, a, b) * y[r, p] <= sum_{t in [a, b)} room_left(p)[t]``

with ``min_overlap = max(0, min(L, b - a, e + L - a, b - d + L))`` for a run of ``L`` slots whose
start lies in ``[e, d - L]``. The same cuts bound non-SME placements by the reserve's room. Price
ceilings keep out options whose full entitlement cannot meet them, and the subsidy a ceiling needs
counts against voucher balances and the programme budget. Every plan satisfies all of this, so the
LP optimum bounds the best plan from above. Solved with GLOP.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass

from ortools.linear_solver import pywraplp

from scheduler import formulas
from scheduler.domain import Problem


@dataclass(frozen=True)
class Bound:
    value: float
    """Upper bound on the objective, in points."""
    seconds: float
    num_cuts: int


def _grid(slots: int) -> list[int]:
    step = 24 if slots >= 96 else max(1, slots // 4)
    points = list(range(0, slots, step))
    return [*points, slots]


def upper_bound_milli(problem: Problem) -> int:
    """The smaller of the LP bound and the trivial bound (every request at its best score), milli-points."""
    trivial = 0
    for request in problem.requests:
        scores = [
            formulas.score_milli(problem, request, pool, max(request.earliest_slot, 0))
            for pool in problem.eligible_pools(request)
            if formulas.start_range(problem, request, pool)
        ]
        trivial += max([0, *scores])
    try:
        return min(trivial, math.ceil(lp_bound(problem).value * formulas.MILLI))
    except RuntimeError:  # the LP did not solve to optimality: its value bounds nothing
        return trivial


def lp_bound(problem: Problem) -> Bound:
    """The LP relaxation's optimum (see the module docstring), in points."""
    solver = pywraplp.Solver.CreateSolver("GLOP")
    objective = solver.Objective()
    objective.SetMaximization()
    grid = _grid(problem.horizon.slots)
    intervals = [(a, b) for i, a in enumerate(grid) for b in grid[i + 1 :]]
    # per pool: [(var, accelerators, run, first start, latest end, sme)]
    by_pool: dict[str, list] = defaultdict(list)
    voucher_terms: dict[str, list] = defaultdict(list)
    for request in problem.requests:
        options = []
        for pool in problem.eligible_pools(request):
            starts = formulas.start_range(problem, request, pool)
            if not starts:
                continue
            cost = formulas.cost_fen(request, pool)
            need = 0 if request.max_cost_fen is None else max(0, cost - request.max_cost_fen)
            most = max(formulas.entitlement_fen(problem, request, pool, s) for s in (starts.start, starts.stop - 1))
            if request.voucher_id is not None:
                voucher = problem.voucher_by_id[request.voucher_id]
                inside = range(max(starts.start, voucher.valid_from_slot), min(starts.stop, voucher.valid_until_slot))
                if inside:
                    most = max(most, formulas.entitlement_fen(problem, request, pool, inside.start))
            if need > most:
                continue
            score = formulas.score_milli(problem, request, pool, starts.start)
            if score <= 0:
                continue
            var = solver.NumVar(0.0, 1.0, "")
            objective.SetCoefficient(var, float(score))
            run = formulas.run_slots(problem, request, pool)
            by_pool[pool.id].append(
                (var, request.accelerators, run, starts.start, starts.stop - 1 + run, problem.is_sme(request))
            )
            if need and request.voucher_id is not None:
                voucher_terms[request.voucher_id].append((var, need))
            options.append(var)
        if len(options) > 1:
            row = solver.Constraint(0.0, 1.0)
            for var in options:
                row.SetCoefficient(var, 1.0)
    for voucher_id, terms in voucher_terms.items():
        row = solver.Constraint(0.0, float(problem.voucher_by_id[voucher_id].balance_fen))
        for var, need in terms:
            row.SetCoefficient(var, float(need))
    all_terms = [t for terms in voucher_terms.values() for t in terms]
    if all_terms:
        row = solver.Constraint(0.0, float(problem.programme.voucher_budget_fen))
        for var, need in all_terms:
            row.SetCoefficient(var, float(need))
    cuts = 0
    for pool in problem.pools:
        options = by_pool.get(pool.id, [])
        if not options:
            continue
        room = formulas.room_left(problem, pool)
        share = [min(r, s) for r, s in zip(room, formulas.non_sme_room_left(problem, pool), strict=True)]
        prefix_room, prefix_share = [0], [0]
        for r, s in zip(room, share, strict=True):
            prefix_room.append(prefix_room[-1] + r)
            prefix_share.append(prefix_share[-1] + s)
        reserve_binds = share != room
        for a, b in intervals:
            for non_sme_only, prefix in ((False, prefix_room), (True, prefix_share)):
                if non_sme_only and not reserve_binds:
                    continue
                terms = []
                for var, acc, run, first, last_end, sme in options:
                    if non_sme_only and sme:
                        continue
                    overlap = min(run, b - a, first + run - a, b - last_end + run)
                    if overlap > 0:
                        terms.append((var, acc * overlap))
                capacity = prefix[b] - prefix[a]
                if not terms or sum(c for _, c in terms) <= capacity:
                    continue
                row = solver.Constraint(0.0, float(capacity))
                for var, coefficient in terms:
                    row.SetCoefficient(var, float(coefficient))
                cuts += 1
    status = solver.Solve()
    if status != pywraplp.Solver.OPTIMAL:
        raise RuntimeError(f"the bounding LP ended with status {status}")
    # a hair above GLOP's optimum, so its floating-point tolerance cannot cut below the true bound
    value = objective.Value() * (1 + 1e-7) + 1e-6
    return Bound(value=value / formulas.MILLI, seconds=solver.WallTime() / 1000, num_cuts=cuts)
