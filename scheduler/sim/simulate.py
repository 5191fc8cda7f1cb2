"""Rolling-horizon what-if simulation over arriving demand.

Requests arrive over the run (:class:`Demand`: ``(arrival_slot, request)`` pairs in the slots of the
*timeline*, a :class:`~scheduler.model.domain.Problem` spanning the whole run). Every round (hourly by default)
the chosen scheduler decides the arrived, pending requests given what earlier rounds committed: the
round's problem starts at "now" (horizon from the round's slot to the timeline's end; windows, voucher
validity and maintenance shifted by ``-now``; voucher balances and the budget are what is left; earlier
placements still to run are :class:`~scheduler.model.domain.Commitment` records, so the SME reserve applies from
``reserve_release_hours`` after *now*). The round follows the platform's online policy
(:mod:`scheduler.sim.online`): what starts before the next round is committed, the rest is decided again.
A request no eligible pool can fit before its deadline any more is *expired*; one still waiting at the end of the
run with its deadline beyond it is *open*.

Every round's plan goes through :func:`scheduler.rules.validate.violations`, the whole run again through
:func:`run_violations`. Baselines are deterministic; so is the optimiser by default (CP-SAT's deterministic time
limit, :attr:`SimulationParams.deterministic`).
"""

from __future__ import annotations

import dataclasses
import random
import sys
import tempfile
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from scheduler.io.scenarios import Scenario, load_scenario
from scheduler.model import formulas
from scheduler.model.domain import (
    MaintenanceWindow,
    Placement,
    Pool,
    Problem,
    Request,
)
from scheduler.model.errors import InputError
from scheduler.model.horizon import Horizon
from scheduler.optimise.solve import SolveParams
from scheduler.rules import sme_reserve
from scheduler.rules.base import Violation
from scheduler.rules.validate import violations
from scheduler.sim.online import (
    OPTIMISER,
    WAIT_PER_REQUEST_ACC_H,
    WAIT_WEIGHT_PER_SLOT,
    decide_round,
    scheduler_names,
)


@dataclass(frozen=True)
class Arrival:
    """``request`` becomes known to the scheduler at the start of ``slot`` (a timeline slot)."""

    slot: int
    request: Request


@dataclass(frozen=True)
class Demand:
    """The requests of a run with their arrival slots, in order of arrival (then request id)."""

    arrivals: tuple[Arrival, ...]

    def __post_init__(self) -> None:
        for arrival in self.arrivals:
            if arrival.slot > arrival.request.earliest_slot:
                raise InputError(f"request {arrival.request.id}: arrival", "must not come after its earliest start")
        ordered = tuple(sorted(self.arrivals, key=lambda a: (a.slot, a.request.id)))
        object.__setattr__(self, "arrivals", ordered)

    @property
    def requests(self) -> tuple[Request, ...]:
        return tuple(a.request for a in self.arrivals)

    @property
    def arrival_by_id(self) -> dict[str, int]:
        return {a.request.id: a.slot for a in self.arrivals}


def demand_from_problem(problem: Problem, lead_hours: int = 0, seed: int = 0) -> Demand:
    """Demand from a scenario's requests. A request with ``submitted_at`` arrives at the first slot at or after
    it (:meth:`~scheduler.model.domain.Problem.arrival_slot`: submitted at 10:20, first decided by the 11:00
    round); trace-driven scenarios fill it with the real submit time, to the second. Any other request arrives
    ``lead`` hours before its earliest start (not before slot 0), with ``lead`` drawn uniformly from
    ``0..lead_hours`` whole hours by ``random.Random(seed)`` (``0``, the default: at its earliest start).
    """
    rng = random.Random(seed)
    arrivals = []
    for request in problem.requests:
        if request.submitted_at is not None:  # known from its submission on: the first round at or after it
            arrivals.append(Arrival(max(0, problem.arrival_slot(request)), request))
            continue
        lead = problem.horizon.slots_for_hours(rng.randint(0, lead_hours)) if lead_hours > 0 else 0
        arrivals.append(Arrival(max(0, min(request.earliest_slot, request.earliest_slot - lead)), request))
    return Demand(tuple(arrivals))


@dataclass(frozen=True)
class SimulationParams:
    """How a run is simulated.

    ``scheduler`` is ``optimiser`` (:func:`scheduler.optimise.solve.solve` with ``time_limit_s`` per round), or a
    name in :data:`scheduler.sim.baselines.BASELINES`. Every round commits only what starts before the next round
    (:mod:`scheduler.sim.online`); ``wait_weight_per_slot`` and ``per_request_acc_h`` are the optimiser's value
    of waiting there (:func:`scheduler.sim.online.optimiser_view`).
    ``lookahead_hours`` caps each round's horizon (``None``: to the timeline's end).
    ``deterministic`` (the default): the optimiser's time limit is CP-SAT's deterministic time, so two runs of
    the same simulation give the same placements (:attr:`scheduler.optimise.solve.SolveParams.deterministic`).
    ``progress``: ``None`` shows a bar on a terminal only, ``True`` always, ``False`` never.
    """

    scheduler: str = OPTIMISER
    round_hours: int = 1
    time_limit_s: float = 1.0
    num_workers: int = 2
    seed: int = 0
    lookahead_hours: int | None = None
    wait_weight_per_slot: float = WAIT_WEIGHT_PER_SLOT
    per_request_acc_h: float = WAIT_PER_REQUEST_ACC_H
    deterministic: bool = True
    progress: bool | None = None


@dataclass(frozen=True)
class RoundStats:
    """One round: when, how many requests were pending and placed, and the scheduler's own account."""

    slot: int
    pending: int
    placed: int
    status: str
    objective: float
    wall_time_s: float
    violations: int


@dataclass(frozen=True)
class Outcome:
    """One request's fate: ``placed``, ``expired`` (deadline passed) or ``open`` (deadline beyond the run)."""

    request_id: str
    org_id: str
    org_class: str
    arrival_slot: int
    deadline_slot: int
    status: str
    start_slot: int | None = None
    decided_slot: int | None = None
    expired_slot: int | None = None

    @property
    def deadline_met(self) -> bool | None:
        """True when placed (a placement always ends by the deadline), False when expired, None when open."""
        return {"placed": True, "expired": False}.get(self.status)


@dataclass(frozen=True)
class SimulationResult:
    """A whole run. ``problem`` is the timeline (every request, the first budget and balances); ``plan``
    holds every placement in timeline slots; ``decided`` maps a placed request to the round that placed it."""

    scheduler: str
    problem: Problem
    demand: Demand
    plan: tuple[Placement, ...]
    decided: Mapping[str, int]
    outcomes: tuple[Outcome, ...]
    rounds: tuple[RoundStats, ...]
    round_violations: tuple[tuple[int, Violation], ...]
    final_violations: tuple[Violation, ...]
    params: SimulationParams
    wall_time_s: float

    @property
    def valid(self) -> bool:
        return not self.round_violations and not self.final_violations


# ---------------------------------------------------------------- the round's problem


def _shift_pool(pool: Pool, now: int) -> Pool:
    windows = tuple(
        MaintenanceWindow(max(0, w.start_slot - now), w.end_slot - now, w.capacity_lost)
        for w in pool.maintenance
        if w.end_slot > now
    )
    return dataclasses.replace(pool, maintenance=windows)


def _shift_request(request: Request, now: int) -> Request:
    return dataclasses.replace(
        request, earliest_slot=request.earliest_slot - now, deadline_slot=request.deadline_slot - now
    )


def round_problem(
    timeline: Problem,
    now: int,
    end: int,
    pending: Iterable[Request],
    committed: Iterable[Placement],
    spent_by_voucher: Mapping[str, int],
) -> Problem:
    """The problem of the round at timeline slot ``now``: horizon ``[now, end)`` as slots ``0..end-now``.

    A waiting request's earliest start stays where it was, negative once passed, so that the baselines' queues
    keep the arrival order (the optimiser counts delay from now: :func:`scheduler.sim.online.optimiser_view`).
    The timeline's own commitments (made before the run) and ``committed`` (in timeline slots) are the round's
    commitments, while they last."""
    horizon = Horizon(timeline.horizon.to_datetime(now), timeline.horizon.slot_minutes, end - now)
    paid = timeline.after_spending(spent_by_voucher)
    return Problem(
        horizon=horizon,
        sites=timeline.sites,
        pools=tuple(_shift_pool(p, now) for p in timeline.pools),
        orgs=timeline.orgs,
        vouchers=tuple(
            dataclasses.replace(v, valid_from_slot=v.valid_from_slot - now, valid_until_slot=v.valid_until_slot - now)
            for v in paid.vouchers
        ),
        requests=tuple(_shift_request(r, now) for r in pending),
        policy=timeline.policy,
        programme=paid.programme,
        commitments=tuple(
            dataclasses.replace(c, start_slot=c.start_slot - now, end_slot=c.end_slot - now)
            for c in timeline.commitments
            if c.end_slot > now
        )
        + tuple(timeline.held(p, shift=now) for p in committed if p.end_slot > now),
    )


def _still_possible(timeline: Problem, request: Request, now: int) -> bool:
    """Some eligible pool can still run it from ``now`` (or its earliest start) to its deadline."""
    first = max(now, request.earliest_slot)
    return any(
        first + formulas.run_slots(timeline, request, pool) <= request.deadline_slot
        for pool in timeline.eligible_pools(request)
    )


# ---------------------------------------------------------------- the run


def simulate(
    problem: Problem, demand: Demand | None = None, params: SimulationParams | None = None
) -> SimulationResult:
    """Run the rolling-horizon simulation of ``demand`` on ``problem``'s pools, policy and programme.

    Parameters
    ----------
    problem
        The timeline: its horizon is the whole run; its requests are replaced by ``demand``'s.
    demand
        Arriving requests; default :func:`demand_from_problem` (each arrives at its earliest start).
    params
        Scheduler, round length, per-round time limit, seed and progress bar.

    Returns
    -------
    SimulationResult
        Every placement in timeline slots, each request's outcome, per-round statistics and the violations
        found per round and on the whole run (both empty for a correct scheduler).
    """
    params = params or SimulationParams()
    demand = demand or demand_from_problem(problem)
    timeline = dataclasses.replace(problem, requests=demand.requests)
    started = time.perf_counter()
    end = timeline.horizon.slots
    step = timeline.horizon.slots_for_hours(params.round_hours)
    lookahead = timeline.horizon.slots_for_hours(params.lookahead_hours) if params.lookahead_hours else end
    arrivals = [a for a in demand.arrivals if a.slot < end]
    pending: dict[str, Request] = {}
    plan: list[Placement] = []
    decided: dict[str, int] = {}
    expired: dict[str, int] = {}
    spent: dict[str, int] = {}
    rounds: list[RoundStats] = []
    found: list[tuple[int, Violation]] = []
    next_arrival = 0
    slots = range(0, end, step)
    solve_params = SolveParams(
        time_limit_s=params.time_limit_s,
        seed=params.seed,
        num_workers=params.num_workers,
        deterministic=params.deterministic,
    )
    bar = tqdm(
        slots,
        desc=params.scheduler,
        unit="round",
        file=sys.stderr,
        disable=None if params.progress is None else not params.progress,
        leave=False,
    )
    for now in bar:
        while next_arrival < len(arrivals) and arrivals[next_arrival].slot <= now:
            request = arrivals[next_arrival].request
            pending[request.id] = request
            next_arrival += 1
        for request_id in [r for r, req in pending.items() if not _still_possible(timeline, req, now)]:
            if pending[request_id].deadline_slot <= end:
                expired[request_id] = now
            del pending[request_id]
        if not pending:
            continue
        horizon_end = min(end, now + lookahead)
        round_ = round_problem(timeline, now, horizon_end, pending.values(), plan, spent)
        weights = (params.wait_weight_per_slot, params.per_request_acc_h)
        decision = decide_round(round_, params.scheduler, step, solve_params, *weights)
        found += [(now, v) for v in decision.violations]
        for p in decision.committed:
            plan.append(p.shifted(now))
            decided[p.request_id] = now
            voucher_id = timeline.request_by_id[p.request_id].voucher_id
            if voucher_id is not None and p.subsidy_fen:
                spent[voucher_id] = spent.get(voucher_id, 0) + p.subsidy_fen
            del pending[p.request_id]
        stats = (decision.status, decision.objective, decision.wall_time_s, len(decision.violations))
        rounds.append(RoundStats(now, len(round_.requests), len(decision.committed), *stats))
        bar.set_postfix(pending=len(pending), placed=len(plan), refresh=False)
    bar.close()
    final = tuple(run_violations(timeline, tuple(plan), decided, demand.arrival_by_id))
    outcomes = _outcomes(timeline, demand, plan, decided, expired)
    return SimulationResult(
        scheduler=params.scheduler,
        problem=timeline,
        demand=demand,
        plan=tuple(plan),
        decided=decided,
        outcomes=outcomes,
        rounds=tuple(rounds),
        round_violations=tuple(found),
        final_violations=final,
        params=params,
        wall_time_s=time.perf_counter() - started,
    )


def _outcomes(
    timeline: Problem, demand: Demand, plan: Sequence[Placement], decided: Mapping[str, int], expired: Mapping[str, int]
) -> tuple[Outcome, ...]:
    start_of = {p.request_id: p.start_slot for p in plan}
    out = []
    for arrival in demand.arrivals:
        r = arrival.request
        done = r.id in expired or r.deadline_slot <= timeline.horizon.slots
        status = "placed" if r.id in start_of else "expired" if done else "open"
        org_class = timeline.org_by_id[r.org_id].org_class.value
        when = (start_of.get(r.id), decided.get(r.id), expired.get(r.id))
        out.append(Outcome(r.id, r.org_id, org_class, arrival.slot, r.deadline_slot, status, *when))
    return tuple(out)


def run_violations(
    timeline: Problem, plan: tuple[Placement, ...], decided: Mapping[str, int], arrival: Mapping[str, int]
) -> list[Violation]:
    """Every rule checked once more on the whole run, in timeline slots.

    Capacity, windows, prices, vouchers (balances, budget, paid in full), price ceilings: as
    :func:`scheduler.rules.validate.violations` on the timeline. The SME reserve depends on when a placement was
    decided (the nearest ``reserve_release_hours`` are lent to everyone), so it is checked per deciding round
    (:func:`scheduler.rules.sme_reserve.check_rounds`). And no placement starts before the round that decided
    it, nor is decided before its request arrived.
    """
    found = [v for v in violations(timeline, plan) if v.rule != "sme_reserve"]
    for p in plan:
        k = decided.get(p.request_id)
        if k is None or p.start_slot < k:
            found.append(
                Violation("causality", f"starts at {p.start_slot}, before its deciding round {k}", p.request_id)
            )
        elif k < arrival.get(p.request_id, 0):
            found.append(Violation("causality", f"decided at {k}, before it arrived", p.request_id))
    return found + sme_reserve.check_rounds(timeline, plan, decided)


# ---------------------------------------------------------------- scenarios for a run


def load_for_days(path: str | Path, days: int | None = None) -> Scenario:
    """Load scenario ``path``; with ``days``, as if its horizon were ``days`` days long (generator and trace
    blocks then draw demand for that horizon, through an override file with ``base:`` on ``path``)."""
    if days is None:
        return load_scenario(path)
    if days <= 0:
        raise InputError("days", f"must be a whole number > 0, got {days!r}")
    base = load_scenario(path)
    slots = base.problem.horizon.slots_for_hours(24 * days)
    with tempfile.TemporaryDirectory() as folder:
        override = Path(folder) / "days.yaml"
        override.write_text(f"base: {Path(path).resolve()}\nhorizon: {{slots: {slots}}}\n", encoding="utf-8")
        loaded = load_scenario(override)
    return Scenario(name=base.name, problem=loaded.problem, path=Path(path))


def with_demand(problem: Problem, source: Problem) -> Problem:
    """``problem`` (a variant's pools, policy, programme) with ``source``'s organisations, vouchers and
    requests, so that variants are compared on the same demand."""
    try:
        return dataclasses.replace(problem, orgs=source.orgs, vouchers=source.vouchers, requests=source.requests)
    except InputError as exc:
        raise exc.within("variant (on the base scenario's demand)") from None


def check_schedulers(names: Sequence[str]) -> list[str]:
    """``names`` if every one can run here, else an :class:`InputError` that lists those that can."""
    known = scheduler_names()
    for name in names:
        if name not in known:
            raise InputError("schedulers", f"unknown scheduler {name!r}; available here: {', '.join(known)}")
    return list(names)


def compare(
    base: str | Path,
    variants: Sequence[str | Path],
    schedulers: Sequence[str],
    days: int | None = None,
    params: SimulationParams | None = None,
) -> dict[tuple[str, str], SimulationResult]:
    """``(scenario name, scheduler) -> SimulationResult`` for the base and each variant with each scheduler,
    all on the base's demand (base first, in the order given)."""
    params = params or SimulationParams()
    check_schedulers(schedulers)
    base_scenario = load_for_days(base, days)
    scenarios = [(base_scenario.name, base_scenario.problem)]
    for path in variants:
        variant = load_for_days(path, days)
        scenarios.append((variant.name, with_demand(variant.problem, base_scenario.problem)))
    demand = demand_from_problem(base_scenario.problem, seed=params.seed)
    return {
        (name, scheduler): simulate(problem, demand, dataclasses.replace(params, scheduler=scheduler))
        for name, problem in scenarios
        for scheduler in schedulers
    }
