"""The platform's online policy: what one round decides and commits.

Demand keeps arriving, so a round decides the requests pending *now*, given what earlier rounds committed, and
**commits only the placements that start before the next round**: final, their subsidy paid from the voucher and
the budget, their accelerators held. Everything else it planned is a forecast, not a decision: those requests stay
pending and the next round decides them again, with the demand that has arrived meanwhile. This is how the
baselines work by their published semantics (FIFO, EASY backfill, Kueue admit what starts now; EASY's head
reservation is held within the round), and the optimiser runs the same way, so they are compared on equal terms.

The optimiser plans the whole horizon each round, but values a slot of waiting at
``max(policy.delay_weight_per_slot, wait_weight_per_slot)`` of a request's value (default 0.5 % an hour, against
the policy's 0.05 %): in a round, capacity left idle now is lost for good while later capacity will be contested by
requests not yet known, so a plan that starts work now is worth more than the policy's own delay weight says.
Measured on two days of the ITP trace (541 requests, 1 s per round): with the policy's weight alone the optimiser
waited 3.0 h (median; SME p90 7.1 h) for 0.99 x EASY's weighted value; at 0.5 % an hour 0.9 h (SME p90 2.9 h) for
1.003 x; at 1 % and 3 % 1.0 and 1.8 h (SME p90 4.5 and 5.5 h) for 1.009 x and 1.002 x. Promising later starts
(every planned start kept as a promise that later rounds may improve but not break) was measured too and dropped:
with the policy's weight it met 97.5 % of deadlines against 92.5 % without, but it locks capacity for work that
later, more valuable arrivals need, and reached 0.89-0.91 x EASY's weighted value.

One code path serves ``pcs simulate`` (:func:`scheduler.sim.simulate.simulate`) and the API's rounds, and every
round's plan goes through the independent validator (:func:`scheduler.rules.validate.violations`), and so does what
it commits, paid again on its own (:func:`repaid`).
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass

from scheduler.model import formulas
from scheduler.model.domain import Placement, Problem
from scheduler.model.errors import InputError
from scheduler.optimise.solve import SolveParams, solve
from scheduler.rules.base import Violation
from scheduler.rules.state import RuleState
from scheduler.rules.validate import violations
from scheduler.sim.baselines import BASELINES

OPTIMISER = "optimiser"
WAIT_WEIGHT_PER_SLOT = 0.005
"""The optimiser's value of a slot of waiting in a round, as a share of the request's value (0.5 % an hour)."""


def scheduler_names() -> list[str]:
    """The schedulers a round can run: the optimiser, greedy, and the baselines."""
    return [OPTIMISER, *sorted(BASELINES)]


@dataclass(frozen=True)
class RoundDecision:
    """One round's decision, in the round problem's slots: ``committed`` start before the next round;
    ``violations`` are the validator's findings on the whole plan of the round (none for a correct scheduler);
    ``status`` is the scheduler's own; ``objective`` is the policy's objective of the whole plan."""

    committed: tuple[Placement, ...]
    status: str
    objective: float
    wall_time_s: float
    violations: tuple[Violation, ...]


def decide_round(
    problem: Problem,
    scheduler: str,
    next_round: int,
    solve_params: SolveParams,
    wait_weight_per_slot: float = WAIT_WEIGHT_PER_SLOT,
) -> RoundDecision:
    """Decide one round of ``problem`` (its horizon starts now) with ``scheduler``; ``next_round`` is the slot at
    which the next round runs."""
    started = time.perf_counter()
    if scheduler == OPTIMISER:
        policy = problem.policy
        weight = max(policy.delay_weight_per_slot, wait_weight_per_slot)
        online = dataclasses.replace(problem, policy=dataclasses.replace(policy, delay_weight_per_slot=weight))
        result = solve(online, solve_params)
        plan, status = result.plan, result.status
    elif (schedule := BASELINES.get(scheduler)) is not None:
        plan, status = schedule(problem), "baseline"
    else:
        known = ", ".join(scheduler_names())
        raise InputError("scheduler", f"unknown scheduler {scheduler!r}; available here: {known}")
    committed = repaid(problem, [p for p in plan if p.start_slot < next_round])
    return RoundDecision(
        committed=committed,
        status=status,
        objective=formulas.objective_milli(problem, plan) / formulas.MILLI,
        wall_time_s=time.perf_counter() - started,
        violations=tuple(violations(problem, plan)) + tuple(violations(problem, committed)),
    )


def repaid(problem: Problem, placements: list[Placement]) -> tuple[Placement, ...]:
    """``placements`` paid again as if they were the whole plan, in order of start (then request id): each its
    ``min(entitlement, voucher left, budget left)`` from the rule state.

    A round's plan shares the money among all its placements, and the solver may give a later one, which the
    round does not commit, what an earlier one was entitled to; committed alone, that earlier one would be paid
    less than in full while the voucher and budget still hold money (the vouchers rule forbids it). Paid again
    alone, a placement never gets less than in the plan, so its price ceiling still holds."""
    state = RuleState(problem)
    paid = []
    for p in sorted(placements, key=lambda p: (p.start_slot, p.request_id)):
        request, pool = problem.request_by_id[p.request_id], problem.pool_by_id[p.pool_id]
        again = dataclasses.replace(p, subsidy_fen=state.subsidy_fen(request, pool, p.start_slot))
        state.take(again)
        paid.append(again)
    return tuple(paid)
