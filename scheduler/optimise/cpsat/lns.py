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
from collections.abc import Callable

from scheduler.model import formulas
from scheduler.model.domain import Placement, Problem
from scheduler.optimise.cpsat.run import run_cpsat
from scheduler.rules import vouchers

MIN_FREE, MAX_FREE = 20, 400


def subproblem(problem: Problem, plan: dict[str, Placement], freed: set[str]) -> Problem:
    """``problem`` restricted to the ``freed`` requests, every other placement of ``plan`` fixed: held as a
    commitment on the pools a freed request may use (elsewhere it constrains nothing in the sub-problem) and
    paid from its voucher and the budget.
    """
    requests = tuple(r for r in problem.requests if r.id in freed)
    reachable = {pool.id for r in requests for pool in problem.eligible_pools(r)}
    commitments = list(problem.commitments)
    spent: dict[str, int] = defaultdict(int)
    for request_id, p in plan.items():
        if request_id in freed:
            continue
        if p.pool_id in reachable:
            commitments.append(problem.held(p))
        if p.subsidy_fen:
            spent[problem.request_by_id[request_id].voucher_id] += p.subsidy_fen  # type: ignore[index]
    return dataclasses.replace(problem.after_spending(spent), requests=requests, commitments=tuple(commitments))


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
        if p.pool_id in pools and p.start_slot < hi and p.end_slot > lo:
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


def swap(purse: vouchers.Face, before: tuple[Placement, ...], now: tuple[Placement, ...]) -> bool:
    """Replace ``before`` with ``now`` in ``purse`` if every placement paid in part still has its voucher or the
    budget spent to the fen; else leave it as it was. A step's sub-problem keeps the freed requests within the
    entitlements, balances and budget the fixed placements leave, so that is the one voucher rule a step can
    break elsewhere in the plan."""
    for p in before:
        purse.release(p)
    for p in now:
        purse.take(p)
    if purse.settled():
        return True
    for p in now:
        purse.release(p)
    for p in before:
        purse.take(p)
    return False


def improve(
    problem: Problem,
    plan: tuple[Placement, ...],
    deadline: float,
    seed: int,
    num_workers: int,
    on_improvement: Callable[[int], None] | None = None,
    step_s: float = 0.3,
    steps: int | None = None,
) -> tuple[tuple[Placement, ...], Counter[str]]:
    """Improve ``plan`` by large-neighbourhood search until ``deadline`` (a ``perf_counter`` time); the plan and
    how many sub-solves ended in each CP-SAT status.

    With ``steps``, the search is repeatable instead: exactly that many steps, each sub-solve limited by CP-SAT's
    deterministic time, and the neighbourhood kinds rated by deterministic time; ``deadline`` is ignored."""
    rng = random.Random(seed)
    current = {p.request_id: p for p in plan}
    purse = vouchers.Face(problem)
    for p in plan:
        purse.take(p)
    value = formulas.objective_milli(problem, plan)
    size = min(MAX_FREE, max(MIN_FREE, len(problem.requests) // 10))
    statuses: Counter[str] = Counter()
    kinds = KindChooser()
    deterministic = steps is not None
    taken = 0
    while (taken < steps) if steps is not None else (left := deadline - time.perf_counter()) > 0.2:
        taken += 1
        step_started = time.perf_counter()
        kind = kinds.draw(rng)
        freed = _neighbourhood(problem, current, size, rng, kind)
        if not freed:
            continue
        sub = subproblem(problem, current, freed)
        before = tuple(current[r] for r in freed if r in current)
        limit = step_s if deterministic else min(step_s, left)
        seed_ = rng.randrange(1 << 30)
        run = run_cpsat(sub, before, limit, seed_, num_workers, light_presolve=True, deterministic=deterministic)
        statuses[run.status] += 1
        if run.status == "OPTIMAL":
            size = min(MAX_FREE, int(size * 1.25) + 1)
        elif run.status in ("FEASIBLE", "UNKNOWN"):
            size = max(MIN_FREE, int(size * 0.8))
        found = run.plan
        gain = 0 if found is None else formulas.objective_milli(sub, found) - formulas.objective_milli(sub, before)
        accepted = found is not None and gain > 0 and swap(purse, before, found)
        spent = run.deterministic_s if deterministic else time.perf_counter() - step_started
        kinds.record(kind, gain if accepted else 0, spent)
        if found is None or not accepted:
            continue
        current = {r: p for r, p in current.items() if r not in freed} | {p.request_id: p for p in found}
        value += gain
        if on_improvement:
            on_improvement(value)
    return tuple(current.values()), statuses
