"""The second half of an allocation round (:mod:`api.rounds`): its plan re-checked on the state as it is after the
solve, then committed.

:func:`check` re-reads what changed since the snapshot, moves the plan onto that state, validates it with the
core's validator and computes the rows to write, all outside the write lock (on SQLite that lock stops every
submission). Under the lock, :func:`hold` locks what the commit depends on and says whether any of it changed since
the check; :func:`commit_plan` then writes the allocations, the request decisions, the voucher debits and the
round's record.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, insert, update
from sqlmodel import Session, select

from api import crud, mapping
from api import models as m
from api.catalog import lock_version
from api.db import table
from api.mapping import Snapshot
from scheduler import PERMANENT, InputError, Placement, Reason, RoundDecision, formulas, reports, validate


class RoundFailed(RuntimeError):
    """The round could not commit; the database is as it was."""


@dataclass(frozen=True)
class Checked:
    """A plan solved on ``snap`` and validated on a later state, ``fresh`` (read at catalogue version
    ``fresh.catalog.version``): ``committed`` is ``fresh`` restricted to the requests ``plan`` places."""

    snap: Snapshot
    fresh: Snapshot
    committed: Snapshot
    plan: tuple[Placement, ...]
    allocations: list[dict[str, Any]]  # the rows of the round to insert
    kpis: dict[str, Any]


def check(
    session: Session, snap: Snapshot, plan: tuple[Placement, ...], now: datetime, round_id: int, since: Snapshot
) -> Checked:
    """Re-read the state and re-validate ``plan`` (solved on ``snap``) on it, and compute what round ``round_id``
    will write, so that the write lock is held only for the writes.

    Parameters
    ----------
    since
        The latest state the round has read (``snap``, or the state of an earlier check): only what changed after
        it is read again (see :func:`api.mapping.snapshot`).

    Raises
    ------
    RoundFailed
        When the programme or policy is gone, or the plan breaks a rule on the state as it is now.
    """
    fresh = mapping.snapshot(session, now, since)
    if fresh is None:
        raise RoundFailed("the programme or policy disappeared while the round solved")
    committed, kept = rebase(snap, fresh, plan)
    broken = plan_violations(committed, kept)
    if broken:
        raise RoundFailed(f"the plan breaks {len(broken)} rule(s) on the current state, e.g. {broken[0]}")
    allocations = allocation_rows(committed, kept, round_id)
    return Checked(snap, fresh, committed, kept, allocations, reports.kpis(snap.problem, kept))


def rebase(snap: Snapshot, fresh: Snapshot, plan: tuple[Placement, ...]) -> tuple[Snapshot, tuple[Placement, ...]]:
    """``plan`` (solved on ``snap``) moved onto ``fresh``, the state re-read after the solve: same horizon start,
    so slots keep their meaning; placements of requests no longer pending are dropped."""
    if fresh.problem.horizon.start != snap.problem.horizon.start:
        raise InputError("round", "the horizon moved on while the round solved")
    kept = tuple(p for p in plan if p.request_id in fresh.problem.request_by_id)
    placed = {p.request_id for p in kept}
    requests = tuple(r for r in fresh.problem.requests if r.id in placed)
    # validate against the fresh state restricted to the placed requests: the others stay pending
    problem = dataclasses.replace(fresh.problem, requests=requests)
    return dataclasses.replace(fresh, problem=problem), kept


def plan_violations(snap: Snapshot, plan: tuple[Placement, ...]) -> list[str]:
    """Every rule ``plan`` breaks on ``snap`` (empty when it may be committed)."""
    return [f"{v.rule}: {v.message}" for v in validate(snap.problem, plan)]


def allocation_rows(snap: Snapshot, plan: tuple[Placement, ...], round_id: int) -> list[dict[str, Any]]:
    """The column values of one ``allocation`` row per placement, with times, money, energy and CO2 (plain
    dicts: a round inserts them in one batch)."""
    problem, horizon = snap.problem, snap.problem.horizon
    rows = []
    for p in plan:
        request, pool = problem.request_by_id[p.request_id], problem.pool_by_id[p.pool_id]
        rows.append(
            {
                "request_id": request.id,
                "round_id": round_id,
                "org_id": request.org_id,
                "org_class": problem.org_by_id[request.org_id].org_class.value,
                "pool_id": pool.id,
                "accelerators": request.accelerators,
                "start": horizon.to_datetime(p.start_slot),
                "end": horizon.to_datetime(p.start_slot + formulas.run_slots(problem, request, pool)),
                "cost_fen": p.cost_fen,
                "subsidy_fen": p.subsidy_fen,
                "voucher_id": request.voucher_id if p.subsidy_fen else None,
                "energy_wh": formulas.energy_wh(problem, request, pool),
                "co2_g": formulas.co2_g(problem, request, pool),
                "status": m.AllocationStatus.ALLOCATED,
            }
        )
    return rows


def hold(session: Session, checked: Checked) -> bool:
    """Under the write lock: lock what the commit depends on and say whether the state ``checked`` validated the
    plan on still holds.

    Locks, in this order (a cancel takes request, allocation, voucher; a catalogue writer takes its row, then the
    version row when it commits, so no cycle can form): the placed requests that are still pending, the vouchers
    the plan debits, then the catalogue version row. From there on no cancel can take a placed request out of
    ``pending`` and no change to pools, vouchers, the budget or the policy can commit before the round does; a
    change that committed earlier moved the version, and the caller re-reads and re-validates. Nothing else adds
    allocations (the lease), and requests only ever leave ``pending``. SQLite renders no ``FOR UPDATE``: its
    ``BEGIN IMMEDIATE`` already holds every writer off.
    """
    placed = sorted(p.request_id for p in checked.plan)
    requests = table(m.ComputeRequest)
    still_pending = 0
    for start in range(0, len(placed), crud.ID_CHUNK):
        chunk = placed[start : start + crud.ID_CHUNK]
        locked = session.execute(
            select(requests.c.id)
            .where(requests.c.id.in_(chunk), requests.c.status == m.RequestStatus.PENDING)
            .order_by(requests.c.id)
            .with_for_update()
        )
        still_pending += len(locked.all())
    debited = sorted({a["voucher_id"] for a in checked.allocations if a["voucher_id"]})
    if debited:
        vouchers = table(m.Voucher)
        session.execute(
            select(vouchers.c.id).where(vouchers.c.id.in_(debited)).order_by(vouchers.c.id).with_for_update()
        )
    version = lock_version(session)
    return still_pending == len(placed) and version == checked.fresh.catalog.version


def commit_plan(
    session: Session,
    checked: Checked,
    decision: RoundDecision,
    reasons: dict[str, Reason],
    row: m.AllocationRound,
    actor: str,
    now: datetime,
) -> None:
    """Write what ``checked`` holds (the allocations ``decision`` commits, their voucher debits), the decisions on
    every request the round considered and the round's figures to ``row``. A request it does not commit is
    rejected when its reason in ``reasons`` is permanent, and otherwise stays pending with that reason, for a
    later round to decide again."""
    snap, fresh, plan, allocations = checked.snap, checked.fresh, checked.plan, checked.allocations
    if allocations:
        session.execute(insert(table(m.Allocation)), allocations)
    decisions = [_decision(a["request_id"], m.RequestStatus.ALLOCATED, None, row.id) for a in allocations]
    for request_id, reason in reasons.items():
        if request_id in fresh.problem.request_by_id:
            status = m.RequestStatus.REJECTED if reason.code in PERMANENT else m.RequestStatus.PENDING
            decisions.append(_decision(request_id, status, reason, row.id))
    decisions += [_decision(i, m.RequestStatus.REJECTED, r, row.id) for i, r in fresh.pre_rejected.items()]
    _decide(session, decisions, now)
    debits = [
        {
            "voucher_id": a["voucher_id"],
            "amount_fen": -a["subsidy_fen"],
            "kind": m.EntryKind.SUBSIDY,
            "request_id": a["request_id"],
            "round_id": row.id,
        }
        for a in allocations
        if a["subsidy_fen"] and a["voucher_id"]
    ]
    crud.post_entries(session, debits, actor)
    row.horizon_start = snap.problem.horizon.start
    row.inputs_hash, row.policy_version = snap.inputs_hash, snap.policy_version
    row.result_status, row.objective = decision.status, decision.objective
    if decision.result is not None:  # the optimiser's account of its whole plan (committed and later starts)
        result = decision.result
        row.solver_status, row.bound, row.gap = result.solver_status, result.bound, result.gap
        row.greedy_objective = result.greedy_objective
    row.requests_considered, row.placed = len(snap.problem.requests), len(plan)
    row.subsidy_fen = sum(p.subsidy_fen for p in plan)
    row.kpis = checked.kpis  # over all the requests it considered


def _decision(request_id: str, status: m.RequestStatus, reason: Reason | None, round_id: int | None) -> dict[str, Any]:
    return {
        "b_id": request_id,
        "status": status,
        "reason_code": None if reason is None else reason.code,
        "reason": None if reason is None else reason.sentence,
        "decided_round_id": round_id,
    }


def _decide(session: Session, decisions: Sequence[dict[str, Any]], now: datetime) -> None:
    """Set status, reason and round of many requests that are still pending (an executemany by key)."""
    if not decisions:
        return
    requests = table(m.ComputeRequest)
    statement = (
        update(requests)
        .where(requests.c.id == bindparam("b_id"), requests.c.status == m.RequestStatus.PENDING)
        .values(
            status=bindparam("status"),
            reason_code=bindparam("reason_code"),
            reason=bindparam("reason"),
            decided_round_id=bindparam("decided_round_id"),
            updated_at=now,
        )
    )
    session.connection().execute(statement, list(decisions))
