"""KPIs and tables of a plan or of a simulated run (pandas), their exports, and the allocations file both ways.

A plan's tables: :func:`allocations_frame`, :func:`pool_frame`, :func:`kpis` (used by ``pcs solve``).
A run's (:class:`~scheduler.sim.simulate.SimulationResult`): :func:`run_tables` (utilisation by pool, site,
accelerator type, class, day and hour of day; waits and deadlines by class; fairness over organisations;
budget burn-down; placements, outcomes and rounds) and :func:`run_kpis`; :func:`compare_frame` puts runs
side by side; :func:`export_tables` writes CSV, Excel (one sheet per table) and Parquet.
Charts are in :mod:`scheduler.report.charts`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, overload

import numpy as np
import pandas as pd

from scheduler.io.parse import fen_to_cny
from scheduler.model import formulas
from scheduler.model.domain import OrgClass, Placement, Problem, Request
from scheduler.report import export
from scheduler.rules.base import usage_by_slot
from scheduler.rules.reasons import Reason

if TYPE_CHECKING:
    from scheduler.sim.simulate import SimulationResult

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
    rows: list[dict[str, object]] = []
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
        rows.append(
            {
                "request_id": request.id,
                "status": "allocated",
                "pool_id": pool.id,
                "site": pool.site_id,
                "accelerator_type": pool.accelerator_type,
                "accelerators": request.accelerators,
                "start": horizon.to_datetime(placement.start_slot).isoformat(),
                "end": horizon.to_datetime(placement.end_slot).isoformat(),
                "cost_cny": fen_to_cny(placement.cost_fen),
                "subsidy_cny": fen_to_cny(placement.subsidy_fen),
                "voucher_id": request.voucher_id if placement.subsidy_fen else None,
            }
        )
    return pd.DataFrame(rows, columns=ALLOCATION_COLUMNS).astype({"accelerators": "Int64"})


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
    columns = ["pool_id", "site", "accelerator_type", "capacity", "available_acc_h", "used_acc_h", "placed_acc_h"]
    frame = pd.DataFrame(rows, columns=[*columns, "sme_acc_h"])  # the columns even without a pool
    frame["utilisation_pct"] = 100 * frame["used_acc_h"] / frame["available_acc_h"].where(frame["available_acc_h"] > 0)
    return frame


def kpis(problem: Problem, plan: tuple[Placement, ...]) -> dict[str, object]:
    """The headline figures of a plan (JSON-ready)."""
    pools = pool_frame(problem, plan)
    placed_ids = {p.request_id for p in plan}
    slot_hours = float(problem.horizon.slot_hours)

    def work(requests: Iterable[Request]) -> int:
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
        "subsidy_paid_cny": _cny(subsidy),
        "budget_left_cny": _cny(problem.programme.voucher_budget_fen - subsidy),
        "energy_mwh": round(sum(formulas.energy_wh(problem, r, p) for r, p in placed_pairs) / 1e6, 3),
        "co2_t": round(sum(formulas.co2_g(problem, r, p) for r, p in placed_pairs) / 1e6, 3),
        "mean_start_delay_h": round(sum(delays) / len(delays), 2) if delays else 0.0,
        "placed_by_class": per_class,
    }


# ---------------------------------------------------------------- a simulated run


def usage_matrix(problem: Problem, plan: Iterable[Placement]) -> tuple[np.ndarray, np.ndarray]:
    """``(used, available)``: accelerators per pool (rows, in ``problem.pools`` order) and slot (columns)."""
    slots = problem.horizon.slots
    index = {pool.id: i for i, pool in enumerate(problem.pools)}
    used = np.zeros((len(problem.pools), slots), dtype=np.int64)
    for p in plan:
        request, pool = problem.request_by_id[p.request_id], problem.pool_by_id[p.pool_id]
        end = min(slots, p.start_slot + formulas.run_slots(problem, request, pool))
        used[index[pool.id], max(0, p.start_slot) : end] += request.accelerators
    available = np.array([[pool.available(t) for t in range(slots)] for pool in problem.pools], dtype=np.int64)
    return used, available


def _utilisation(frame: pd.DataFrame, by: str) -> pd.DataFrame:
    out = frame.groupby(by, sort=False)[["available_acc_h", "used_acc_h"]].sum().reset_index()
    out["utilisation_pct"] = (100 * out["used_acc_h"] / out["available_acc_h"].where(out["available_acc_h"] > 0)).round(
        2
    )
    return out


def _percentile(values: pd.Series, q: float) -> float:
    return round(float(np.percentile(values, q)), 2) if len(values) else float("nan")


def jain_index(values: Iterable[float]) -> float:
    """Jain's fairness index ``(sum x)^2 / (n * sum x^2)``: 1 when all ``x`` are equal, ``1/n`` at worst."""
    x = np.asarray(list(values), dtype=float)
    if not len(x) or not (x**2).sum():
        return float("nan")
    return float(x.sum() ** 2 / (len(x) * (x**2).sum()))


@overload
def _cny(fen: int) -> float: ...
@overload
def _cny(fen: pd.Series) -> pd.Series: ...
def _cny(fen: int | pd.Series) -> float | pd.Series:
    """Integer fen as CNY for a shown or exported figure: the one step where money becomes a float."""
    return fen / 100


def budget_frame(paid: Iterable[tuple[int, int]], budget_fen: int, slot_hours: float) -> pd.DataFrame:
    """The budget burn-down: per slot that paid subsidy (and slot 0), the subsidy paid, the cumulative total and
    the budget left, in CNY. ``paid`` holds ``(decided slot, subsidy_fen)`` pairs.

    Sums are taken in integer fen and converted once per cell, so a long run's total is exact and
    ``cumulative_cny + budget_left_cny`` is the budget in every row (float CNY drifts: 0.1 + 0.2 != 0.3).
    """
    budget = pd.DataFrame([(0, 0), *paid], columns=["slot", "subsidy_fen"], dtype="int64")
    budget = budget.groupby("slot", as_index=False).sum()
    cumulative_fen = budget["subsidy_fen"].cumsum()
    return pd.DataFrame(
        {
            "slot": budget["slot"],
            "hour": budget["slot"] * slot_hours,
            "subsidy_cny": _cny(budget["subsidy_fen"]),
            "cumulative_cny": _cny(cumulative_fen),
            "budget_left_cny": _cny(budget_fen - cumulative_fen),
        }
    )


def run_tables(run: SimulationResult) -> dict[str, pd.DataFrame]:
    """Every table of a run, by name (see the module docstring). Hours are timeline hours from its start.

    ``fairness_by_org``: per organisation with requests, the served share of its requested work
    (accelerator-hours at reference speed); Jain's index in :func:`run_kpis` is taken over that share.
    ``budget``: per round that paid subsidy, the subsidy committed, the cumulative total and the budget left.
    """
    problem = run.problem
    horizon = problem.horizon
    slot_hours = float(horizon.slot_hours)
    used, available = usage_matrix(problem, run.plan)
    pools = pd.DataFrame(
        {
            "pool_id": [p.id for p in problem.pools],
            "site": [p.site_id for p in problem.pools],
            "accelerator_type": [p.accelerator_type for p in problem.pools],
            "capacity": [p.capacity for p in problem.pools],
            "available_acc_h": available.sum(axis=1) * slot_hours,
            "used_acc_h": used.sum(axis=1) * slot_hours,
        }
    )
    by_pool = _utilisation(pools, "pool_id").merge(pools[["pool_id", "site", "accelerator_type", "capacity"]])
    hours = np.arange(horizon.slots) * slot_hours
    time_frame = pd.DataFrame(
        {
            "day": (hours // 24).astype(int) + 1,
            "hour_of_day": [horizon.to_datetime(t).hour for t in range(horizon.slots)],
            "available_acc_h": available.sum(axis=0) * slot_hours,
            "used_acc_h": used.sum(axis=0) * slot_hours,
        }
    )
    outcomes = (
        pd.DataFrame([vars(o) for o in run.outcomes])
        if run.outcomes
        else pd.DataFrame(
            columns=["request_id", "org_id", "org_class", "arrival_slot", "deadline_slot", "status", "start_slot"]
        )
    )
    request_by_id = problem.request_by_id
    outcomes["work_acc_h"] = [
        request_by_id[r].accelerators * request_by_id[r].duration_hours for r in outcomes["request_id"]
    ]
    outcomes["wait_h"] = (outcomes["start_slot"] - outcomes["arrival_slot"]) * slot_hours
    placements = allocations_frame(problem, run.plan, {})
    placements = placements[placements["status"] == "allocated"].drop(columns=["status", "reason_code", "reason"])
    placements = placements.merge(outcomes[["request_id", "org_id", "org_class", "arrival_slot", "decided_slot"]])
    start_of = {p.request_id: p.start_slot for p in run.plan}
    placements["start_slot"] = placements["request_id"].map(start_of)
    placements["wait_h"] = (placements["start_slot"] - placements["arrival_slot"]) * slot_hours

    used_by_class: dict[OrgClass, int] = {}
    for p in run.plan:
        request = request_by_id[p.request_id]
        org_class = problem.org_by_id[request.org_id].org_class
        hours_run = formulas.run_hours(request, problem.pool_by_id[p.pool_id])
        used_by_class[org_class] = used_by_class.get(org_class, 0) + request.accelerators * hours_run
    class_rows = []
    total_available = float(available.sum() * slot_hours)
    for org_class in OrgClass:
        of = outcomes[outcomes["org_class"] == org_class.value]
        placed = of[of["status"] == "placed"]
        decided = of[of["status"] != "open"]
        used_h = used_by_class.get(org_class, 0)
        class_rows.append(
            {
                "org_class": org_class.value,
                "requests": len(of),
                "placed": len(placed),
                "expired": int((of["status"] == "expired").sum()),
                "open": int((of["status"] == "open").sum()),
                "used_acc_h": used_h,
                "utilisation_pct": round(100 * used_h / total_available, 2) if total_available else float("nan"),
                "work_served_pct": round(100 * placed["work_acc_h"].sum() / of["work_acc_h"].sum(), 2)
                if len(of)
                else float("nan"),
                "wait_p50_h": _percentile(placed["wait_h"], 50),
                "wait_p90_h": _percentile(placed["wait_h"], 90),
                "deadline_met_pct": round(100 * len(placed) / len(decided), 2) if len(decided) else float("nan"),
            }
        )
    served = outcomes.assign(served_acc_h=outcomes["work_acc_h"].where(outcomes["status"] == "placed", 0))
    by_org = served.groupby(["org_id", "org_class"], as_index=False).agg(
        requests=("request_id", "size"),
        requested_acc_h=("work_acc_h", "sum"),
        served_acc_h=("served_acc_h", "sum"),
    )
    by_org["served_share"] = (by_org["served_acc_h"] / by_org["requested_acc_h"]).round(4)

    paid = [(run.decided[p.request_id], p.subsidy_fen) for p in run.plan if p.subsidy_fen]
    rounds = pd.DataFrame([vars(r) for r in run.rounds])
    return {
        "utilisation_by_pool": by_pool,
        "utilisation_by_site": _utilisation(pools, "site"),
        "utilisation_by_type": _utilisation(pools, "accelerator_type"),
        "utilisation_by_day": _utilisation(time_frame, "day"),
        "utilisation_by_hour": _utilisation(time_frame, "hour_of_day").sort_values("hour_of_day"),
        "by_class": pd.DataFrame(class_rows),
        "fairness_by_org": by_org,
        "budget": budget_frame(paid, problem.programme.voucher_budget_fen, slot_hours),
        "placements": placements,
        "outcomes": outcomes,
        "rounds": rounds,
    }


def run_kpis(run: SimulationResult, tables: Mapping[str, pd.DataFrame] | None = None) -> dict[str, object]:
    """The headline figures of a run: :func:`kpis` of its whole plan plus waits, deadlines, fairness and
    solve time. Waits are ``start - arrival`` over placed requests; the deadline-met rate is placed over
    placed + expired (requests still open at the end, deadline beyond the run, are not counted)."""
    tables = tables or run_tables(run)
    figures = kpis(run.problem, run.plan)
    outcomes = tables["outcomes"]
    placed = outcomes[outcomes["status"] == "placed"]
    decided = outcomes[outcomes["status"] != "open"]
    return {
        "scheduler": run.scheduler,
        "requests": figures["requests"],
        "placed": figures["placed"],
        "expired": int((outcomes["status"] == "expired").sum()),
        "open": int((outcomes["status"] == "open").sum()),
        "utilisation_pct": figures["utilisation_pct"],
        "sme_share_pct": figures["sme_share_pct"],
        "sme_demand_served_pct": figures["sme_demand_served_pct"],
        "wait_p50_h": _percentile(placed["wait_h"], 50),
        "wait_p90_h": _percentile(placed["wait_h"], 90),
        "deadline_met_pct": round(100 * len(placed) / len(decided), 2) if len(decided) else float("nan"),
        "jain_index": round(jain_index(tables["fairness_by_org"]["served_share"]), 4),
        "subsidy_paid_cny": figures["subsidy_paid_cny"],
        "budget_left_cny": figures["budget_left_cny"],
        "energy_mwh": figures["energy_mwh"],
        "co2_t": figures["co2_t"],
        "solve_time_s": round(sum(r.wall_time_s for r in run.rounds), 2),
        "valid": run.valid,
    }


def compare_frame(runs: Mapping[tuple[str, str], SimulationResult]) -> pd.DataFrame:
    """One row of :func:`run_kpis` per ``(scenario, scheduler)`` run."""
    rows = [{"scenario": scenario, **run_kpis(run)} for (scenario, _), run in runs.items()]
    return pd.DataFrame(rows)


def export_tables(tables: Mapping[str, pd.DataFrame], out_dir: str | Path, stem: str = "report") -> list[Path]:
    """Write each table as ``<name>.csv`` and ``<name>.parquet``, and all of them to ``<stem>.xlsx`` (one
    sheet per table, names cut to Excel's 31 characters). Returns the files written.

    CSV and Excel go through :mod:`scheduler.report.export`: text that a spreadsheet would run as a formula gets a
    leading ``'``. Parquet keeps the raw values."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, frame in tables.items():
        export.write_csv(frame, out / f"{name}.csv")
        export.write_parquet(frame, out / f"{name}.parquet")
        written += [out / f"{name}.csv", out / f"{name}.parquet"]
    export.write_xlsx(tables, out / f"{stem}.xlsx")
    return [*written, out / f"{stem}.xlsx"]
