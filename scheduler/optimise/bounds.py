"""An upper bound on the objective that needs no CP-SAT: a linear relaxation with energetic cuts.

Variables ``y[r, p] in [0, 1]`` (request ``r`` placed on pool ``p``), ``sum_p y[r, p] <= 1``;
maximise ``sum score(r, p, first start) * y[r, p]`` (the delay term only lowers a score). For every
pool and every interval ``[a, b)`` of a grid, the accelerator-slots that placements must spend inside
``[a, b)`` fit its free room (energetic reasoning):

``sum_r accelerators_r * min_overlap(r, p, a, b) * y[r, p] <= sum_{t in [a, b)} room_left(p)[t]``

with ``min_overlap = max(0, min(L, b - a, e + L - a, b - d + L))`` for a run of ``L`` slots whose
start lies in ``[e, d - L]``. The same cuts bound non-SME placements by the reserve's room. Two integer
roundings tighten them: a slot's room counts only up to the largest sum of request sizes that fits in it
(1,024-accelerator requests hold 1,024 of 2,024 free), and for each large size ``A`` (see :data:`FEW_FIT`)
the requests of ``A`` or more count once per slot of overlap against ``sum_{t in [a, b)} floor(room_left(p)[t] / A)``.
Price ceilings keep out options whose full entitlement cannot meet them, and the subsidy a ceiling needs
counts against voucher balances and the programme budget. Every plan satisfies all of this, so the
LP optimum bounds the best plan from above.

Up to :data:`GLOP_MAX_NONZEROS` coefficients (about 3,000 requests; a few seconds), or whenever the caller
asks for it (``exact``: the benchmark's bound, about 2 minutes at 10,000 requests), the LP is solved exactly
with GLOP. Larger ones take its Lagrangian dual instead, which is far looser (at 10,000 requests 84.5 against
GLOP's 76.5 million points): with multipliers ``lambda >= 0`` on the cuts,
``UB(lambda) = sum_c lambda_c cap_c + sum_r max(0, max_p score[r, p] - sum_c lambda_c coef[c, r, p])``
bounds the LP (so the best plan) for ANY ``lambda``; a projected subgradient descent with Polyak steps
towards the best known plan's value drives it down for a bounded number of iterations, or until a
deadline: every iterate is a valid bound, so stopping early only loosens it.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
from ortools.linear_solver import pywraplp

from scheduler.model import formulas
from scheduler.model.domain import Problem
from scheduler.rules import placement

GLOP_MAX_NONZEROS = 1_200_000
FEW_FIT = 8
"""Sizes of which fewer than this many fit a pool's largest room get a cut counting requests, not accelerators."""
SUBGRADIENT_ITERATIONS = 1000


@dataclass(frozen=True)
class Bound:
    value: float
    """Upper bound on the objective, in points."""
    seconds: float
    num_cuts: int
    method: str
    """``glop`` (the LP optimum) or ``lagrangian`` (a dual bound on it)."""


@dataclass
class _Relaxation:
    scores: np.ndarray  # per option, milli-points
    request_starts: np.ndarray  # index of each request's first option (options are grouped by request)
    row_capacity: list[float]
    row_of: list[np.ndarray]  # per row: option indices
    coef_of: list[np.ndarray]  # per row: coefficients


def _grid(slots: int) -> list[int]:
    # daily boundaries up to a week; coarser beyond, so the cuts stay a few hundred per pool
    step = max(24, slots // 7) if slots >= 96 else max(1, slots // 4)
    return [*range(0, slots, step), slots]


def _prefix(per_slot: np.ndarray) -> np.ndarray:
    return np.concatenate(([0], per_slot.cumsum()))


def _packable(free: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """Per slot, the most accelerators that requests of ``sizes`` can hold together within ``free``: the
    largest sum of sizes (each any number of times) not above it. 2,024 free hold only 1,024 of 1,024-requests."""
    if len(sizes) == 0:
        return np.zeros_like(free)
    unit = math.gcd(*(int(s) for s in np.unique(sizes)))
    top = int(free.max()) // unit
    reachable = np.zeros(top + 1, dtype=bool)
    reachable[0] = True
    for size in np.unique(sizes) // unit:  # a sum plus any multiple of a size: a running OR along each residue
        for residue in range(min(size, top + 1)):
            reachable[residue::size] = np.logical_or.accumulate(reachable[residue::size])
    largest = np.maximum.accumulate(np.where(reachable, np.arange(top + 1), 0))
    return largest[free // unit] * unit


def _relaxation(problem: Problem) -> _Relaxation:
    scores: list[int] = []
    request_starts: list[int] = []
    by_pool: dict[str, list[tuple[int, int, int, int, int, bool]]] = {p.id: [] for p in problem.pools}
    needs: dict[str, list[tuple[int, int]]] = {}
    for request in problem.requests:
        first_option = len(scores)
        for option in placement.options(problem, request):
            pool, starts = option.pool, option.starts
            cost = option.cost_fen
            need = 0 if request.max_cost_fen is None else max(0, cost - request.max_cost_fen)
            most = max(formulas.entitlement_fen(problem, request, pool, s) for s in (starts.start, starts.stop - 1))
            if request.voucher_id is not None:
                voucher = problem.voucher_by_id[request.voucher_id]
                inside = range(max(starts.start, voucher.valid_from_slot), min(starts.stop, voucher.valid_until_slot))
                if inside:
                    most = max(most, formulas.entitlement_fen(problem, request, pool, inside.start))
            score = formulas.score_milli(problem, request, pool, starts.start)
            if need > most or score <= 0:
                continue
            option_idx = len(scores)
            scores.append(score)
            end = starts.stop - 1 + option.run_slots
            by_pool[pool.id].append(
                (option_idx, request.accelerators, option.run_slots, starts.start, end, problem.is_sme(request))
            )
            if need and request.voucher_id is not None:
                needs.setdefault(request.voucher_id, []).append((option_idx, need))
        if len(scores) > first_option:
            request_starts.append(first_option)
    relaxation = _Relaxation(np.array(scores, dtype=float), np.array(request_starts, dtype=int), [], [], [])

    def add_row(capacity: float, options: np.ndarray, coefficients: np.ndarray) -> None:
        relaxation.row_capacity.append(capacity)
        relaxation.row_of.append(options)
        relaxation.coef_of.append(coefficients.astype(float))

    for voucher_id, terms in needs.items():
        add_row(problem.voucher_by_id[voucher_id].balance_fen, *map(np.array, zip(*terms, strict=True)))
    if needs:
        every = [t for terms in needs.values() for t in terms]
        add_row(problem.programme.voucher_budget_fen, *map(np.array, zip(*every, strict=True)))
    grid = _grid(problem.horizon.slots)
    intervals = [(a, b) for i, a in enumerate(grid) for b in grid[i + 1 :]]
    for pool in problem.pools:
        options = by_pool[pool.id]
        if not options:
            continue
        index, acc, run, first, last_end, sme = (np.array([o[i] for o in options]) for i in range(6))
        room = np.array(formulas.room_left(problem, pool))
        share = np.minimum(room, formulas.non_sme_room_left(problem, pool))
        everyone = np.ones(len(options), dtype=bool)
        limits = [(everyone, room)] + ([(~sme.astype(bool), share)] if (share != room).any() else [])
        # per limit: (options counted, their weight in the cut, prefix sums of the weight that fits per slot):
        # the accelerators they hold, and how many of a size or more run at once (for sizes of which few fit)
        cuts = []
        for counted, free in limits:
            cuts.append((counted, acc, _prefix(_packable(free, acc[counted]))))
            for size in np.unique(acc[counted & (acc * FEW_FIT > free.max())]):
                cuts.append((counted & (acc >= size), np.ones_like(acc), _prefix(free // size)))
        for a, b in intervals:
            overlap = np.minimum(np.minimum(run, b - a), np.minimum(first + run - a, b - last_end + run))
            for counted, weight, prefix in cuts:
                used = np.where(counted & (overlap > 0), weight * overlap, 0)
                capacity = float(prefix[b] - prefix[a])
                if used.sum() > capacity:  # else every placement fits and the cut cannot bind
                    keep = np.flatnonzero(used)
                    add_row(capacity, index[keep], used[keep])
    return relaxation


def _glop(relaxation: _Relaxation) -> float:
    solver = pywraplp.Solver.CreateSolver("GLOP")
    variables = [solver.NumVar(0.0, 1.0, "") for _ in range(len(relaxation.scores))]
    objective = solver.Objective()
    objective.SetMaximization()
    for var, score in zip(variables, relaxation.scores, strict=True):
        objective.SetCoefficient(var, float(score))
    ends = [*relaxation.request_starts[1:], len(variables)]
    for start, end in zip(relaxation.request_starts, ends, strict=True):
        if end - start > 1:
            row = solver.Constraint(0.0, 1.0)
            for var in variables[start:end]:
                row.SetCoefficient(var, 1.0)
    for capacity, options, coefficients in zip(
        relaxation.row_capacity, relaxation.row_of, relaxation.coef_of, strict=True
    ):
        row = solver.Constraint(0.0, capacity)
        for option, coefficient in zip(options, coefficients, strict=True):
            row.SetCoefficient(variables[option], float(coefficient))
    if solver.Solve() != pywraplp.Solver.OPTIMAL:
        raise RuntimeError("the bounding LP did not solve to optimality")
    # a hair above GLOP's optimum, so its floating-point tolerance cannot cut below the true bound
    return objective.Value() * (1 + 1e-7) + 1e-6


def _lagrangian(relaxation: _Relaxation, lower_milli: float, deadline: float) -> float:
    rows = np.repeat(np.arange(len(relaxation.row_of)), [len(r) for r in relaxation.row_of])
    options = np.concatenate(relaxation.row_of) if relaxation.row_of else np.zeros(0, dtype=int)
    coefficients = np.concatenate(relaxation.coef_of) if relaxation.coef_of else np.zeros(0)
    capacity = np.array(relaxation.row_capacity)
    num_options = len(relaxation.scores)
    owner = np.repeat(np.arange(len(relaxation.request_starts)), np.diff([*relaxation.request_starts, num_options]))
    multipliers = np.zeros(len(capacity))
    best, theta, stalled = math.inf, 1.0, 0
    for iteration in range(SUBGRADIENT_ITERATIONS):
        if iteration and time.perf_counter() > deadline:
            break
        reduced = relaxation.scores - np.bincount(options, multipliers[rows] * coefficients, minlength=num_options)
        top = np.maximum.reduceat(reduced, relaxation.request_starts)
        value = float(multipliers @ capacity + np.maximum(top, 0).sum())
        if value < best and not math.isclose(value, best, rel_tol=1e-9):
            best, stalled = value, 0
        else:
            stalled += 1
            if stalled >= 40:
                theta, stalled = theta / 2, 0
        chosen = (reduced >= top[owner]) & (top[owner] > 0)
        gradient = capacity - np.bincount(rows, coefficients * chosen[options], minlength=len(capacity))
        gradient[(multipliers <= 0) & (gradient > 0)] = 0  # projection onto lambda >= 0
        norm = float(gradient @ gradient)
        if norm == 0 or theta < 1e-4:
            break
        multipliers = np.maximum(0.0, multipliers - theta * max(value - lower_milli, 1e-9) / norm * gradient)
    return best * (1 + 1e-9) + 1e-6


def lp_bound(problem: Problem, lower_milli: float = 0.0, deadline: float = math.inf, exact: bool = False) -> Bound:
    """An upper bound from the relaxation (see the module docstring), in points: its optimum by GLOP when
    ``exact`` or small enough, else the Lagrangian dual, whose steps ``lower_milli`` (the value of a known plan)
    steers and which stops at ``deadline`` (a ``perf_counter`` time; GLOP always runs to the end)."""
    started = time.perf_counter()
    relaxation = _relaxation(problem)
    if len(relaxation.scores) == 0:
        return Bound(0.0, time.perf_counter() - started, 0, "glop")
    nonzeros = len(relaxation.scores) + sum(len(r) for r in relaxation.row_of)
    if exact or nonzeros <= GLOP_MAX_NONZEROS:
        value, method = _glop(relaxation), "glop"
    else:
        value, method = _lagrangian(relaxation, lower_milli, deadline), "lagrangian"
    return Bound(value / formulas.MILLI, time.perf_counter() - started, len(relaxation.row_of), method)


def upper_bound_milli(
    problem: Problem, lower_milli: float = 0.0, deadline: float = math.inf, exact: bool = False
) -> int:
    """The smaller of :func:`lp_bound` and the trivial bound (every request at its best score), milli-points."""
    trivial = 0
    for request in problem.requests:
        scores = [
            formulas.score_milli(problem, request, o.pool, o.starts.start) for o in placement.options(problem, request)
        ]
        trivial += max([0, *scores])
    try:
        return min(trivial, math.ceil(lp_bound(problem, lower_milli, deadline, exact).value * formulas.MILLI))
    except RuntimeError:  # the LP did not solve to optimality: its value bounds nothing
        return trivial
