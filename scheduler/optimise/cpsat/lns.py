"""Large-neighbourhood search around an incumbent plan, for problems too large for one CP-SAT model.

Each step frees the requests in a neighbourhood (a random window of time on every pool or on a random group of
pools, or the pools and window of one unplaced request; the kind drawn by what each has gained per second lately),
keeps every other placement fixed as a :class:`~scheduler.model.domain.Commitment`, charges their subsidies to the
vouchers and the budget, and re-solves the freed requests exactly with the same CP-SAT model on all pools. An
improvement that keeps every voucher rule of the whole plan is accepted. The neighbourhood grows while
sub-problems solve to optimality fast and shrinks when they time out.
"""

from __future__ import annotations

import dataclasses
import random
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable

from scheduler.model import formulas
from scheduler.model.domain import Commitment, Placement, Problem
from scheduler.optimise.cpsat.run import run_cpsat

MIN_FREE, MAX_FREE = 20, 400


def held(problem: Problem, placement: Placement) -> Commitment:
    """The capacity that ``placement`` holds, as a commitment."""
    request = problem.request_by_id[placement.request_id]
    end = placement.start_slot + formulas.run_slots(problem, request, problem.pool_by_id[placement.pool_id])
    return Commitment(placement.pool_id, placement.start_slot, end, request.accelerators, problem.is_sme(request))


@dataclasses.dataclass(frozen=True)
class Spending:
    """What a plan pays from each voucher and in all, and which of its placements are paid less than they are
    entitled to (request id -> voucher id): the state that the voucher rules of a whole plan depend on.

    A step's sub-problem keeps the freed requests within the entitlements, the balances and the budget that the
    fixed placements leave, so the one rule a step can break elsewhere is that a placement paid in part needs its
    voucher, or the programme budget, spent to the fen (:mod:`scheduler.rules.vouchers`). :meth:`after` checks
    just that, over the vouchers and placements the step touched, instead of the whole plan.
    """

    problem: Problem
    spent: dict[str, int]
    total: int
    partial: dict[str, str]

    @classmethod
    def of(cls, problem: Problem, plan: Iterable[Placement]) -> Spending:
        spent: dict[str, int] = defaultdict(int)
        partial: dict[str, str] = {}
        return cls(problem, spent, _add(problem, plan, spent, partial, 1), partial)

    def after(self, before: Iterable[Placement], now: Iterable[Placement]) -> Spending | None:
        """The spending of the plan with ``before`` replaced by ``now``, or None if a placement paid in part
        would then have money left both on its voucher and in the budget."""
        spent, partial = defaultdict(int, self.spent), dict(self.partial)
        total = self.total + _add(self.problem, before, spent, partial, -1) + _add(self.problem, now, spent, partial, 1)
        if total < self.problem.programme.voucher_budget_fen and any(
            spent[v] < self.problem.voucher_by_id[v].balance_fen for v in partial.values()
        ):
            return None
        return Spending(self.problem, spent, total, partial)


def _add(problem: Problem, plan: Iterable[Placement], spent: dict[str, int], partial: dict[str, str], sign: int) -> int:
    """Add (``sign`` 1) or remove (-1) the placements' subsidies to ``spent`` and ``partial``; their sum."""
    moved = 0
    for p in plan:
        request = problem.request_by_id[p.request_id]
        if request.voucher_id is None:
            continue
        spent[request.voucher_id] += sign * p.subsidy_fen
        moved += sign * p.subsidy_fen
        if sign < 0:
            partial.pop(p.request_id, None)
        elif p.subsidy_fen < formulas.entitlement_fen(problem, request, problem.pool_by_id[p.pool_id], p.start_slot):
            partial[p.request_id] = request.voucher_id
    return moved


def subproblem(problem: Problem, plan: dict[str, Placement], holds: dict[str, Commitment], freed: set[str]) -> Problem:
    """``problem`` restricted to the ``freed`` requests, every other placement of ``plan`` fixed
    (``holds`` maps each placed request to :func:`held` of its placement).

    Fixed placements become commitments only on the pools that a freed request may use: elsewhere they
    constrain nothing in the sub-problem (they still count against vouchers and the budget).
    """
    requests = tuple(r for r in problem.requests if r.id in freed)
    reachable = {pool.id for r in requests for pool in problem.eligible_pools(r)}
    commitments = list(problem.commitments)
    spent: dict[str, int] = defaultdict(int)
    for request_id, p in plan.items():
        if request_id in freed:
            continue
        if p.pool_id in reachable:
            commitments.append(holds[request_id])
        if p.subsidy_fen:
            spent[problem.request_by_id[request_id].voucher_id] += p.subsidy_fen  # type: ignore[index]
    return dataclasses.replace(
        problem,
        requests=requests,
        vouchers=tuple(dataclasses.replace(v, balance_fen=v.balance_fen - spent[v.id]) for v in problem.vouchers),
        programme=dataclasses.replace(
            problem.programme, voucher_budget_fen=problem.programme.voucher_budget_fen - sum(spent.values())
        ),
        commitments=tuple(commitments),
    )


KINDS = ("waiting", "window", "pools")
"""Neighbourhoods: the pools and window of one waiting request; a window of time on every pool; a window on a
random group of pools."""


class KindChooser:
    """Adaptive choice among :data:`KINDS`: each is drawn in proportion to the objective it has gained per second
    of search lately (an exponential average), plus a floor that keeps every kind tried now and then. On the
    1,000-request benchmark instances one kind gained twice as much per step as another."""

    DECAY, FLOOR = 0.8, 0.1

    def __init__(self) -> None:
        self.rate = dict.fromkeys(KINDS, 0.0)
        self.tried = dict.fromkeys(KINDS, 0)

    def draw(self, rng: random.Random) -> str:
        untried = [k for k in KINDS if self.tried[k] < 2]
        if untried:
            return untried[0]
        best = max(self.rate.values())
        return rng.choices(KINDS, weights=[r + self.FLOOR * best + 1e-9 for r in self.rate.values()])[0]

    def record(self, kind: str, gain: int, seconds: float) -> None:
        rate = max(gain, 0) / max(seconds, 1e-3)
        self.rate[kind] = rate if not self.tried[kind] else self.DECAY * self.rate[kind] + (1 - self.DECAY) * rate
        self.tried[kind] += 1


def _neighbourhood(problem: Problem, plan: dict[str, Placement], size: int, rng: random.Random, kind: str) -> set[str]:
    horizon = problem.horizon.slots
    unplaced = [r for r in problem.requests if r.id not in plan]
    if unplaced and kind == "waiting":  # room for one waiting request: its pools over its window
        anchor = rng.choice(unplaced)
        pools = {p.id for p in problem.eligible_pools(anchor)}
        lo, hi = max(anchor.earliest_slot, 0), min(anchor.deadline_slot, horizon)
    else:  # a window of time on every pool, or on a random group of pools
        group = (
            problem.pools
            if kind != "pools"
            else rng.sample(problem.pools, k=rng.randint(1, max(1, len(problem.pools) // 3)))
        )
        pools = {p.id for p in group}
        width = rng.randint(max(1, horizon // 14), max(1, horizon // 3))
        lo = rng.randrange(0, max(1, horizon - width + 1))
        hi = lo + width
    placed_here = []
    for p in plan.values():
        if p.pool_id in pools:
            request = problem.request_by_id[p.request_id]
            end = p.start_slot + formulas.run_slots(problem, request, problem.pool_by_id[p.pool_id])
            if p.start_slot < hi and end > lo:
                placed_here.append(p.request_id)
    waiting_here = [
        r.id
        for r in unplaced
        if max(r.earliest_slot, 0) < hi
        and r.deadline_slot > lo
        and any(p.id in pools for p in problem.eligible_pools(r))
    ]
    rng.shuffle(placed_here)
    rng.shuffle(waiting_here)
    take_placed = placed_here[: max(size // 2, size - len(waiting_here))]
    return set(take_placed) | set(waiting_here[: size - len(take_placed)])


def improve(
    problem: Problem,
    plan: tuple[Placement, ...],
    deadline: float,
    seed: int,
    num_workers: int,
    on_improvement: Callable[[int], None] | None = None,
    step_s: float = 0.3,
) -> tuple[Placement, ...]:
    """Improve ``plan`` by large-neighbourhood search until ``deadline`` (a ``perf_counter`` time)."""
    rng = random.Random(seed)
    current = {p.request_id: p for p in plan}
    holds = {p.request_id: held(problem, p) for p in plan}
    spending = Spending.of(problem, plan)
    value = formulas.objective_milli(problem, plan)
    size = min(MAX_FREE, max(MIN_FREE, len(problem.requests) // 10))
    statuses: Counter[str] = Counter()
    kinds = KindChooser()
    while (left := deadline - time.perf_counter()) > 0.2:
        step_started = time.perf_counter()
        kind = kinds.draw(rng)
        freed = _neighbourhood(problem, current, size, rng, kind)
        if not freed:
            continue
        sub = subproblem(problem, current, holds, freed)
        before = [current[r] for r in freed if r in current]
        run = run_cpsat(sub, tuple(before), min(step_s, left), rng.randrange(1 << 30), num_workers, light_presolve=True)
        statuses[run.status] += 1
        if run.status == "OPTIMAL":
            size = min(MAX_FREE, int(size * 1.25) + 1)
        elif run.status in ("FEASIBLE", "UNKNOWN"):
            size = max(MIN_FREE, int(size * 0.8))
        gain, accepted = 0, None
        if run.plan is not None:
            gain = formulas.objective_milli(sub, run.plan) - formulas.objective_milli(sub, tuple(before))
            # None when a placement paid in part would lose the exhaustion that justified it
            accepted = spending.after(before, run.plan) if gain > 0 else None
        kinds.record(kind, gain if accepted is not None else 0, time.perf_counter() - step_started)
        if run.plan is None or accepted is None:
            continue
        current = {r: p for r, p in current.items() if r not in freed} | {p.request_id: p for p in run.plan}
        spending, value = accepted, value + gain
        holds = {r: c for r, c in holds.items() if r not in freed} | {p.request_id: held(problem, p) for p in run.plan}
        if on_improvement:
            on_improvement(value)
    return tuple(current.values()), statuses
