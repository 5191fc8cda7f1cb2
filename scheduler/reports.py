"""KPIs and tables of a plan (pandas), and the allocations file both ways."""

from __future__ import annotations

import csv
from decimal import Decimal
from pathlib import Path

import pandas as pd

from scheduler import formulas
from scheduler.domain import OrgClass, Placement, Problem
from scheduler.errors import InputError
from scheduler.horizon import parse_datetime
from scheduler.parse import cny_to_fen, fen_to_cny
from scheduler.policies.base import usage_by_slot
from scheduler.reasons import Reason

ALLOCATION_COLUMNS = [
    "request_id",
    "status",
    "pool_id",
    "site",
    "accelerator_type",
    "accelerators",
    "start",
    "end",
    "cost_cny",
    "subsidy_cny",
    "voucher_id",
    "reason_code",
    "reason",
]


def allocations_frame(problem: Problem, plan: tuple[Placement, ...], reasons: dict[str, Reason]) -> pd.DataFrame:
    """One row per request: where and when it runs, what it costs, or why it does not."""
    by_request = {p.request_id: p for p in plan}
    horizon = problem.horizon
    rows = []
    for request in problem.requests:
        placement = by_request.get(request.id)
        if placement is None:
            reason = reasons.get(request.id, Reason("not_placed", "Not placed."))
            rows.append(
                {
                    "request_id": request.id,
                    "status": "unallocated",
                    "reason_code": reason.code,
                    "reason": reason.sentence,
                }
            )
            continue
        pool = problem.pool_by_id[placement.pool_id]
        end = placement.start_slot + formulas.run_slots(problem, request, pool)
        rows.append(
            {
                "request_id": request.id,
                "status": "allocated",
                "pool_id": pool.id,
                "site": pool.site_id,
                "accelerator_type": pool.accelerator_type,
                "accelerators": request.accelerators,
                "start": horizon.to_datetime(placement.start_slot).isoformat(),
                "end": horizon.to_datetime(end).isoformat(),
                "cost_cny": fen_to_cny(placement.cost_fen),
                "subsidy_cny": fen_to_cny(placement.subsidy_fen),
                "voucher_id": request.voucher_id if placement.subsidy_fen else None,
            }
        )
    return pd.DataFrame(rows, columns=ALLOCATION_COLUMNS).astype({"accelerators": "Int64"})


def read_allocations(problem: Problem, path: str | Path) -> tuple[Placement, ...]:
    """The placements of an ``allocations.csv``; rows with status ``unallocated`` are skipped."""
    path = Path(path)
    try:
        handle = path.open(newline="", encoding="utf-8")
    except OSError as error:
        raise InputError(str(path), f"cannot be read ({error.strerror})") from None
    with handle:
        reader = csv.DictReader(handle)
        missing = {"request_id", "status", "pool_id", "start", "cost_cny", "subsidy_cny"} - set(reader.fieldnames or [])
        if missing:
            raise InputError(path.name, f"missing column(s) {', '.join(sorted(missing))}")
        plan = []
        for row_number, row in enumerate(reader, start=1):
            where = f"{path.name} row {row_number}"
            if row["status"] == "unallocated":
                continue
            if row["status"] != "allocated":
                raise InputError(f"{where}: status", "must be allocated or unallocated")
            start = parse_datetime(row["start"], f"{where}: start")
            slot = problem.horizon.slot_at_or_after(start, f"{where}: start")
            if problem.horizon.to_datetime(slot) != start:
                raise InputError(f"{where}: start", "must fall on a slot boundary")
            plan.append(
                Placement(
                    request_id=row["request_id"],
                    pool_id=row["pool_id"],
                    start_slot=slot,
                    cost_fen=cny_to_fen(row["cost_cny"], f"{where}: cost_cny"),
                    subsidy_fen=cny_to_fen(row["subsidy_cny"] or "0", f"{where}: subsidy_cny"),
                )
            )
    return tuple(plan)


def pool_frame(problem: Problem, plan: tuple[Placement, ...]) -> pd.DataFrame:
    """Per pool: available and used accelerator-hours (earlier commitments count as used), those this
    plan places (all, and SMEs'), and utilisation."""
    slot_hours = float(problem.horizon.slot_hours)
    rows = []
    for pool in problem.pools:
        available = [pool.available(t) for t in range(problem.horizon.slots)]
        room = formulas.room_left(problem, pool)
        placed = usage_by_slot(problem, plan, pool.id)
        sme = usage_by_slot(problem, plan, pool.id, lambda p: problem.is_sme(problem.request_by_id[p.request_id]))
        used = [a - r + u for a, r, u in zip(available, room, placed, strict=True)]
        rows.append(
            {
                "pool_id": pool.id,
                "site": pool.site_id,
                "accelerator_type": pool.accelerator_type,
                "capacity": pool.capacity,
                "available_acc_h": sum(available) * slot_hours,
                "used_acc_h": sum(used) * slot_hours,
                "placed_acc_h": sum(placed) * slot_hours,
                "sme_acc_h": sum(sme) * slot_hours,
            }
        )
    frame = pd.DataFrame(rows)
    frame["utilisation_pct"] = 100 * frame["used_acc_h"] / frame["available_acc_h"].where(frame["available_acc_h"] > 0)
    return frame


def kpis(problem: Problem, plan: tuple[Placement, ...]) -> dict[str, object]:
    """The headline figures of a plan (JSON-ready)."""
    pools = pool_frame(problem, plan)
    placed_ids = {p.request_id for p in plan}
    slot_hours = float(problem.horizon.slot_hours)

    def work(requests) -> int:
        return sum(r.accelerators * r.duration_hours for r in requests)

    sme_requests = [r for r in problem.requests if problem.is_sme(r)]
    delays = [(p.start_slot - problem.request_by_id[p.request_id].earliest_slot) * slot_hours for p in plan]
    per_class = {}
    for org_class in OrgClass:
        of_class = [r for r in problem.requests if problem.org_by_id[r.org_id].org_class is org_class]
        per_class[org_class.value] = {"placed": sum(r.id in placed_ids for r in of_class), "requested": len(of_class)}
    subsidy = sum(p.subsidy_fen for p in plan)
    placed_pairs = [(problem.request_by_id[p.request_id], problem.pool_by_id[p.pool_id]) for p in plan]
    placed_acc_h = pools["placed_acc_h"].sum()
    return {
        "requests": len(problem.requests),
        "placed": len(plan),
        "utilisation_pct": round(100 * pools["used_acc_h"].sum() / max(pools["available_acc_h"].sum(), 1e-9), 2),
        "sme_share_pct": round(100 * pools["sme_acc_h"].sum() / placed_acc_h, 2) if placed_acc_h else 0.0,
        "sme_demand_served_pct": round(
            100 * work(r for r in sme_requests if r.id in placed_ids) / work(sme_requests), 2
        )
        if sme_requests
        else 0.0,
        "subsidy_paid_cny": float(Decimal(subsidy) / 100),
        "budget_left_cny": float(Decimal(problem.programme.voucher_budget_fen - subsidy) / 100),
        "energy_mwh": round(sum(formulas.energy_wh(problem, r, p) for r, p in placed_pairs) / 1e6, 3),
        "co2_t": round(sum(formulas.co2_g(problem, r, p) for r, p in placed_pairs) / 1e6, 3),
        "mean_start_delay_h": round(sum(delays) / len(delays), 2) if delays else 0.0,
        "placed_by_class": per_class,
    }
