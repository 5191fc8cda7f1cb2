"""Kueue-style quota admission: every class holds a nominal quota of every pool and borrows idle quota that the
other classes lend, within the administrator's borrowing and lending limits.

Sources: Kueue's concepts (ClusterQueue: ``nominalQuota``, ``borrowingLimit``, ``lendingLimit``, cohorts;
``queueingStrategy: BestEffortFIFO``; ``flavorFungibility``; KEP-1224 on ``lendingLimit``) and its scheduler
(``pkg/cache/resource_node.go``: ``available``, ``guaranteedQuota``; ``pkg/scheduler/scheduler.go``: the
``entryOrdering`` of a scheduling cycle).

The mapping: each organisation class is a ClusterQueue and the four form one cohort; each pool is a resource
flavor with one resource, accelerators; the quotas are :attr:`scheduler.model.domain.Policy.quotas`, percentages
of each pool's capacity set by the administrator (nothing is derived from the demand). In whole accelerators:
the nominal quotas split the capacity by the largest remainder (so 100 % of the classes is the whole pool);
the limits round down. With ``g = nominal - lendingLimit`` (0 without a lending limit) the part of a class's
quota it keeps for itself, ``L = nominal - g`` the part it lends, ``used`` its usage and the cohort's
``quota = sum(L)`` and ``usage = sum(max(0, used - g))``, a class may admit ``need`` more where

    ``need <= max(0, g - used) + min(quota - usage, L - max(0, used - g) + borrowingLimit)``

(the last term only with a borrowing limit), which is Kueue's ``available``. Where the cohort is within its
quota this says: after admission the class holds at most ``nominal + borrowingLimit``, and the classes'
borrowing ``sum(max(0, used - nominal))`` is at most what they lend, ``sum(min(max(0, nominal - used),
lendingLimit))``. So a class within its nominal quota may still have to wait while others borrow what it lent.

Where it differs from Kueue, and why:

- usage is counted per slot: a run's length is known, so a request is admitted at slot ``t`` when the formula
  holds in every slot of its run, against everything running or committed in that slot (earlier rounds'
  commitments of a known class, :attr:`scheduler.model.domain.Commitment.org_class`, and the placements of this
  plan). Kueue checks the current usage only, which is the same when everything counted has already started;
  a commitment of no known class holds capacity but no quota, as a pod outside Kueue holds node capacity;
- the platform's rules still apply: capacity, maintenance, the SME reserve, windows and price ceilings through
  :class:`~scheduler.rules.state.RuleState` (Kueue leaves node fit to kube-scheduler);
- no preemption (Kueue's default ``reclaimWithinCohort: Never``): a class whose lent quota is borrowed waits
  until the borrowers finish;
- no knowledge of future arrivals: a time-stepped admission over the plan's slots, each slot one scheduling
  cycle that sees only the requests that may start by then;
- a request whose deadline can no longer be met leaves the queue (Kueue workloads have no deadline).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from scheduler.model import formulas
from scheduler.model.domain import OrgClass, Placement, Problem, Request
from scheduler.rules.placement import Option
from scheduler.rules.state import RuleState
from scheduler.sim.baselines.queue import eligible_slot, priority_key


@dataclass(frozen=True)
class PoolQuota:
    """One class's quota of one pool in whole accelerators (``None``: no limit)."""

    nominal: int
    borrowing_limit: int | None
    lending_limit: int | None

    @property
    def guaranteed(self) -> int:
        """What the class never lends (Kueue's ``guaranteedQuota``): all of its quota less its lending limit."""
        return 0 if self.lending_limit is None else max(0, self.nominal - self.lending_limit)

    @property
    def lent(self) -> int:
        """What the class puts in the cohort's common quota."""
        return self.nominal - self.guaranteed


Quotas = dict[OrgClass, dict[str, PoolQuota]]


def pool_quotas(problem: Problem) -> Quotas:
    """The policy's quotas (:attr:`~scheduler.model.domain.Policy.quotas`) in whole accelerators of every pool.

    Nominal: ``capacity * nominal_pct / 100`` per class, rounded down, and the accelerators that the sum of the
    exact shares has left over go one each to the largest remainders (ties: higher class weight first), so
    shares adding up to 100 % split the whole pool. Limits: ``capacity * pct / 100`` rounded down.
    """
    policy = problem.policy
    quotas: Quotas = {c: {} for c in OrgClass}
    for pool in problem.pools:
        exact = {c: pool.capacity * policy.quotas[c].nominal_pct for c in OrgClass}  # in hundredths
        whole = {c: exact[c] // 100 for c in OrgClass}
        left = sum(exact.values()) // 100 - sum(whole.values())
        by_remainder = sorted(OrgClass, key=lambda c: (-(exact[c] % 100), -policy.class_weights[c], c.value))
        for c in by_remainder[:left]:
            whole[c] += 1
        for c in OrgClass:
            limits = (policy.quotas[c].borrowing_limit_pct, policy.quotas[c].lending_limit_pct)
            borrowing, lending = (None if pct is None else pool.capacity * pct // 100 for pct in limits)
            quotas[c][pool.id] = PoolQuota(whole[c], borrowing, lending)
    return quotas


class QuotaUsage:
    """Each class's usage of each pool per slot, from the commitments of a known class and what is admitted, and
    the cohort's usage (Kueue's: ``sum(max(0, used - guaranteed))`` over the classes) against its quota."""

    def __init__(self, problem: Problem, quotas: Quotas) -> None:
        self.quotas = quotas
        slots = problem.horizon.slots
        self.used = {c: {p.id: np.zeros(slots, dtype=np.int64) for p in problem.pools} for c in OrgClass}
        for commitment in problem.commitments:
            if commitment.org_class is not None:
                first, last = max(commitment.start_slot, 0), min(commitment.end_slot, slots)
                self.used[commitment.org_class][commitment.pool_id][first:last] += commitment.accelerators
        self.cohort_quota = {p.id: sum(quotas[c][p.id].lent for c in OrgClass) for p in problem.pools}
        self.cohort_used = {p.id: np.zeros(slots, dtype=np.int64) for p in problem.pools}
        for pool in problem.pools:
            self._count(pool.id, slice(None))

    def _count(self, pool_id: str, window: slice) -> None:
        used = (np.maximum(0, self.used[c][pool_id][window] - self.quotas[c][pool_id].guaranteed) for c in OrgClass)
        self.cohort_used[pool_id][window] = sum(used)

    def fits(self, org_class: OrgClass, pool_id: str, window: slice, need: int) -> bool:
        """``need`` accelerators are within Kueue's ``available`` for ``org_class`` on ``pool_id`` in every slot
        of ``window`` (the module's formula)."""
        own, used = self.quotas[org_class][pool_id], self.used[org_class][pool_id][window]
        from_cohort = self.cohort_quota[pool_id] - self.cohort_used[pool_id][window]
        if own.borrowing_limit is not None:
            from_cohort = np.minimum(from_cohort, own.lent - np.maximum(0, used - own.guaranteed) + own.borrowing_limit)
        return bool((need <= np.maximum(0, own.guaranteed - used) + from_cohort).all())

    def borrows(self, org_class: OrgClass, pool_id: str, window: slice, need: int) -> bool:
        """Whether admitting ``need`` more takes the class above its nominal quota in some slot of ``window``."""
        return bool((self.used[org_class][pool_id][window] + need > self.quotas[org_class][pool_id].nominal).any())

    def add(self, org_class: OrgClass, placement: Placement, accelerators: int) -> None:
        window = slice(placement.start_slot, placement.end_slot)
        self.used[org_class][placement.pool_id][window] += accelerators
        self._count(placement.pool_id, window)


def quota_plan(problem: Problem) -> tuple[Placement, ...]:
    """Admit requests under the classes' quotas with borrowing and lending (Kueue's cohort, no preemption).

    Admission is time-stepped: every slot ``t`` is a scheduling cycle over the requests that may start by
    then (:func:`~scheduler.sim.baselines.queue.eligible_slot`) and can still meet their deadline. A request
    of class ``c`` can be admitted on pool ``p`` at ``t`` when every rule allows the start (capacity, SME
    reserve, window, price ceiling) and its accelerators fit ``c``'s available quota of ``p`` (the module's
    formula) in every slot of its run there. Kueue's cycle order: a first pass admits the requests that fit
    some pool within their nominal quota, a second those that must borrow; each pass in priority order (class
    weight as the workload priority, then arrival, then request id,
    :func:`~scheduler.sim.baselines.queue.priority_key`). So a pool within the nominal quota goes before one
    where the request must borrow (Kueue's ``flavorFungibility.whenCanBorrow: TryNextFlavor``); among those of
    a pass, the best score (the flavor order), then the pool listed first. A request that cannot be admitted
    waits and blocks nobody (``BestEffortFIFO``). Subsidies are paid in admission order.

    Parameters
    ----------
    problem : Problem
        The requests, pools, rules (its policy's quotas among them) and earlier commitments.

    Returns
    -------
    tuple[Placement, ...]
        The placements in admission order; they pass :func:`scheduler.rules.validate.violations`.
    """
    state = RuleState(problem)
    usage = QuotaUsage(problem, pool_quotas(problem))
    org_class = {r.id: problem.org_by_id[r.org_id].org_class for r in problem.requests}
    pending = sorted((r for r in problem.requests if state.options(r)), key=lambda r: priority_key(problem, r))
    for slot in range(problem.horizon.slots):
        if not pending:
            break
        ready = [r for r in pending if eligible_slot(r) <= slot <= state.last_start(r)]
        admitted: set[str] = set()
        for may_borrow in (False, True):
            for request in ready:
                if request.id in admitted:
                    continue
                found = _admissible(state, usage, request, org_class[request.id], slot, may_borrow)
                if found is None:
                    continue
                state.take(found)
                usage.add(org_class[request.id], found, request.accelerators)
                admitted.add(request.id)
        pending = [r for r in pending if r.id not in admitted and state.last_start(r) > slot]
    return tuple(state.plan)


def _admissible(
    state: RuleState, usage: QuotaUsage, request: Request, org_class: OrgClass, slot: int, may_borrow: bool
) -> Placement | None:
    """The placement at ``slot`` on the pool this request would be admitted to now (borrowing only if
    ``may_borrow``), or ``None``."""
    best: tuple[tuple[int, int], Placement] | None = None
    for idx, option in enumerate(state.options(request)):
        window, need = slice(slot, slot + option.run_slots), request.accelerators
        if not may_borrow and usage.borrows(org_class, option.pool.id, window, need):
            continue
        offered = state.offer(request, option, slot)  # capacity first: it rules out most options of a busy pool
        if offered is None or not usage.fits(org_class, option.pool.id, window, need):
            continue
        key = (-_score(state, option, slot), idx)
        if best is None or key < best[0]:
            best = (key, offered)
    return None if best is None else best[1]


def _score(state: RuleState, option: Option, start: int) -> int:
    return formulas.score_milli(state.problem, option.request, option.pool, start)
