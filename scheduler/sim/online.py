"""The platform's online policy: what one round decides and commits.

Demand keeps arriving, so a round decides the requests pending *now*, given what earlier rounds committed, and
**commits only the placements that start before the next round**: final, their subsidy paid from the voucher and
the budget, their accelerators held. Everything else it planned is a forecast, not a decision: those requests stay
pending and the next round decides them again, with the demand that has arrived meanwhile. This is how the
baselines work by their published semantics (FIFO, EASY backfill, Kueue admit what starts now; EASY's head
reservation is held within the round), and the optimiser runs the same way, so they are compared on equal terms.

The optimiser plans the whole horizon each round, but prices waiting higher than the policy's objective does
(:func:`optimiser_view`): a slot of waiting costs a request 0.5 % of its value (the policy says 0.05 %), because in
a round capacity left idle now is lost for good while later capacity will be contested by requests not yet known;
plus the value of 50 accelerator-hours of its class whatever its size, so that short requests are not left
waiting behind long ones of the same worth per hour (Smith's rule). Measured on 7-day runs of the ITP trace (1,763
requests) and the Philly trace (633), 1 s a round, against EASY backfill: with the policy's delay weight alone the
optimiser waited 3.0 h at the median on two days of ITP (SME p90 7.1 h) for 0.99 x EASY's weighted value; at
0.5 % an hour 1.84 h (SME p90 5.0 h, against EASY's 1.8 h) for 1.011 x on ITP; with the per-request term as well
0.77 h (SME p90 2.99 h) for 1.013 x on ITP and 0.81 h (SME p90 2.0 h, EASY 2.1 h) for 1.046 x on Philly. A term
of 10 or 200 accelerator-hours, and aging (the weight growing with the hours waited, Slurm's age factor), did no
better. Promising later starts (every planned start kept as a promise that later rounds may improve but not
break) was measured too and dropped: it met more deadlines (97.5 % against 92.5 % on two days of ITP) but locks
capacity for work that later, more valuable arrivals need, and reached 0.89-0.91 x EASY's weighted value.

One code path serves ``pcs simulate`` (:func:`scheduler.sim.simulate.simulate`) and the API's rounds, and every
round's plan goes through the independent validator (:func:`scheduler.rules.validate.violations`), and so does what
it commits, its subsidies topped up as if it were the whole plan (:func:`repaid`).
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass

from scheduler.model import formulas
from scheduler.model.domain import Placement, Problem
from scheduler.model.errors import InputError
from scheduler.optimise.result import Result
from scheduler.optimise.solve import SolveParams, solve
from scheduler.rules.base import Violation
from scheduler.rules.reasons import PERMANENT, Reason, explain, planned_later
from scheduler.rules.state import RuleState
from scheduler.rules.validate import violations
from scheduler.sim.baselines import BASELINES

OPTIMISER = "optimiser"
WAIT_WEIGHT_PER_SLOT = 0.005
"""The optimiser's value of a slot of waiting in a round, as a share of the request's value (0.5 % an hour)."""


WAIT_PER_REQUEST_ACC_H = 50.0
"""And the value of this many accelerator-hours of its class per slot, whatever the request's size."""
MAX_WAIT_WEIGHT = 0.5
"""The most a slot of waiting costs a request in a round, as a share of its value."""


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
    plan: tuple[Placement, ...] = ()
    """The round's whole plan: ``committed`` and the later starts it forecast, decided again next round."""
    result: Result | None = None
    """The optimiser's solve (its bound, gap, solver status and greedy start); ``None`` for a baseline."""

    def reasons(self, problem: Problem) -> dict[str, Reason]:
        """Why each request of ``problem`` this round did not commit is still waiting: a later start it was planned
        for (decided again next round), else :func:`scheduler.rules.reasons.explain`'s reason."""
        later = {p.request_id: p for p in self.plan if p not in self.committed}
        found = explain(problem, self.committed)
        for request_id, placement in later.items():
            if request_id in found and found[request_id].code not in PERMANENT:
                found[request_id] = planned_later(problem, placement)
        return found


def decide_round(
    problem: Problem,
    scheduler: str,
    next_round: int,
    solve_params: SolveParams,
    wait_weight_per_slot: float = WAIT_WEIGHT_PER_SLOT,
    per_request_acc_h: float = WAIT_PER_REQUEST_ACC_H,
) -> RoundDecision:
    """Decide one round of ``problem`` with ``scheduler``; ``next_round`` is the slot at which the next round runs.

    ``problem``'s horizon starts now; a request that arrived before now keeps its earliest start (negative) or its
    ``submitted_at``, so that the baselines' queues keep the arrival order; the optimiser sees
    :func:`optimiser_view`."""
    started = time.perf_counter()
    result: Result | None = None
    if scheduler == OPTIMISER:
        result = solve(optimiser_view(problem, wait_weight_per_slot, per_request_acc_h), solve_params)
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
        plan=plan,
        result=result,
    )


def optimiser_view(problem: Problem, wait_weight_per_slot: float, per_request_acc_h: float) -> Problem:
    """The round as the optimiser solves it. Every request's delay counts from now (its earliest start no earlier
    than slot 0: the wait already spent is sunk and must not make an old request worth less), and a slot of waiting
    costs it ``max(policy.delay_weight_per_slot, wait_weight_per_slot)`` of its value plus the value of
    ``per_request_acc_h`` accelerator-hours of its class, whatever its size (its ``wait_weight_per_slot``, at most
    :data:`MAX_WAIT_WEIGHT`). The first term alone weighs every accelerator-hour's wait alike, so the order of
    requests of one class is left to chance and small ones wait longest; the second is Smith's rule for weighted
    waiting time per request: a short request goes first, a long one still wins by its value."""
    base = max(problem.policy.delay_weight_per_slot, wait_weight_per_slot)
    requests = []
    for r in problem.requests:
        weight = min(MAX_WAIT_WEIGHT, base + per_request_acc_h / (r.accelerators * r.duration_hours))
        requests.append(dataclasses.replace(r, earliest_slot=max(0, r.earliest_slot), wait_weight_per_slot=weight))
    return dataclasses.replace(problem, requests=tuple(requests))


def repaid(problem: Problem, placements: list[Placement]) -> tuple[Placement, ...]:
    """``placements`` (part of a valid plan) with their subsidies topped up as if they were the whole plan.

    A round's plan shares the money among all its placements, and the solver may give a later one, which the round
    does not commit, what a committed one was entitled to; committed alone, that one would be paid less than in
    full while its voucher and the budget still hold money, which the vouchers rule forbids. So each placement paid
    less than its entitlement (in order of start, then request id) is paid again what the rule state offers with
    the others' subsidies taken: ``min(entitlement, voucher left, budget left)``. A subsidy only grows, so every
    price ceiling still holds, and whoever is still paid in part has an exhausted voucher or budget."""
    state = RuleState(problem)
    for p in placements:
        state.take(p)
    paid = {p.request_id: p for p in placements}
    for p in sorted(placements, key=lambda p: (p.start_slot, p.request_id)):
        request, pool = problem.request_by_id[p.request_id], problem.pool_by_id[p.pool_id]
        if p.subsidy_fen >= formulas.entitlement_fen(problem, request, pool, p.start_slot):
            continue
        state.release(p)
        paid[p.request_id] = dataclasses.replace(p, subsidy_fen=state.subsidy_fen(request, pool, p.start_slot))
        state.take(paid[p.request_id])
    return tuple(paid[p.request_id] for p in placements)
