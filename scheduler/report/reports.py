"""KPIs and tables of a plan or of a simulated run (pandas), their exports, and the allocations file both ways.

A plan's tables: :func:`allocations_frame`, :func:`pool_frame`, :func:`kpis` (used by ``pcs solve``).
A run's (:class:`~scheduler.sim.simulate.SimulationResult`): :func:`run_tables` (utilisation by pool, site,
accelerator type, class, day and hour of day; the KPIs of :func:`run_kpis` by class; fairness over organisations;
budget burn-down; placements, outcomes and rounds) and :func:`run_kpis`; :func:`compare_frame` puts runs
side by side, :func:`side_by_side` per scenario with :func:`ratio_to_best_baseline`;
:func:`scheduler.report.export.export_tables` writes CSV, Excel (one sheet per table) and Parquet.
Charts are in :mod:`scheduler.report.charts`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, overload

import numpy as np
import pandas as pd

from scheduler.io.parse import fen_to_cny
from scheduler.model import formulas
from scheduler.model.domain import OrgClass, Placement, Problem, Request
from scheduler.rules.base import usage_by_slot
from scheduler.rules.reasons import Reason

if TYPE_CHECKING:
    from scheduler.sim.simulate import SimulationResult

BASELINE_SCHEDULERS = ("fifo", "easy", "quota")
"""The baselines a run is compared with (:mod:`scheduler.sim.baselines`): greedy is the optimiser's warm start."""

KPI_HIGHER_IS_BETTER = {
    **dict.fromkeys(("served_work_acc_h", "weighted_value", "utilisation_pct", "utilisation_speed_adjusted_pct"), True),
    **dict.fromkeys(("sme_share_pct", "deadline_met_pct", "jain_index"), True),
    **dict.fromkeys(("wait_p50_h", "wait_p90_h", "sme_wait_p90_h", "co2_kg_per_acc_h"), False),
}
"""The headline KPIs of :func:`run_kpis` that runs are ranked on, and whether a higher value is better."""

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
    """The headline figures of a plan (JSON-ready).

    ``utilisation_pct``: accelerator-hours occupied (placements' run hours on their pools, and earlier
    commitments) over those available, *not* speed-adjusted. ``sme_share_pct``: SMEs' share of the placed work,
    counted at reference speed (``accelerators * duration_hours``, so a job on a fast pool counts as much as on
    a slow one); ``sme_demand_served_pct``: the share of SMEs' requested work that is placed."""
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
    placed = [r for r, _ in placed_pairs]
    sme_placed = [r for r in placed if problem.is_sme(r)]
    return {
        "requests": len(problem.requests),
        "placed": len(plan),
        "utilisation_pct": round(100 * pools["used_acc_h"].sum() / max(pools["available_acc_h"].sum(), 1e-9), 2),
        "sme_share_pct": round(100 * work(sme_placed) / work(placed), 2) if placed else 0.0,
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


def _pct(part: float, whole: float) -> float:
    return round(100 * float(part) / float(whole), 2) if whole else float("nan")


def _placed_frame(problem: Problem, plan: Iterable[Placement]) -> pd.DataFrame:
    """Per placement, the figures the KPIs add up.

    ``arrival``: :meth:`~scheduler.model.domain.Problem.arrival_time` (its submission, else its earliest start);
    ``wait_h``: its start minus its arrival, in hours; ``work_acc_h``: the requested work at reference speed
    (``accelerators * duration_hours``); ``used_acc_h``: the accelerator-hours it occupies on its pool
    (``accelerators * run_hours``); ``co2_g`` and ``score_milli`` by :mod:`scheduler.model.formulas`."""
    rows = []
    for p in plan:
        request, pool = problem.request_by_id[p.request_id], problem.pool_by_id[p.pool_id]
        arrival = problem.arrival_time(request)
        rows.append(
            (
                request.id,
                arrival.isoformat(),
                p.start_slot,
                (problem.horizon.to_datetime(p.start_slot) - arrival).total_seconds() / 3600,
                request.accelerators * request.duration_hours,
                request.accelerators * formulas.run_hours(request, pool),
                formulas.co2_g(problem, request, pool),
                formulas.score_milli(problem, request, pool, p.start_slot),
            )
        )
    columns = ["request_id", "arrival", "start_slot", "wait_h", "work_acc_h", "used_acc_h", "co2_g", "score_milli"]
    return pd.DataFrame(rows, columns=columns)


def _reference_acc_h(problem: Problem, by_pool: pd.DataFrame) -> float:
    """Accelerator-hours available, each pool's times its speed: the reference-speed work the pools could serve."""
    speed = by_pool["pool_id"].map(lambda pool_id: float(problem.pool_by_id[pool_id].speed))
    return float((by_pool["available_acc_h"] * speed).sum())


def _served_kpis(
    placed: pd.DataFrame, outcomes: pd.DataFrame, by_org: pd.DataFrame, reference_acc_h: float
) -> dict[str, float]:
    """The KPIs of a group of requests (a run's, or one class's): see :func:`run_kpis`."""
    work = float(placed["work_acc_h"].sum())
    decided = outcomes[outcomes["status"] != "open"]
    return {
        "served_work_acc_h": work,
        "weighted_value": int(placed["score_milli"].sum()) / formulas.MILLI,
        "utilisation_speed_adjusted_pct": _pct(work, reference_acc_h),
        "wait_p50_h": _percentile(placed["wait_h"], 50),
        "wait_p90_h": _percentile(placed["wait_h"], 90),
        "deadline_met_pct": _pct((decided["status"] == "placed").sum(), len(decided)),
        "co2_kg_per_acc_h": round(float(placed["co2_g"].sum()) / 1000 / work, 4) if work else float("nan"),
        "jain_index": round(jain_index(by_org["served_share"]), 4),
    }


def run_tables(run: SimulationResult) -> dict[str, pd.DataFrame]:
    """Every table of a run, by name (see the module docstring). Hours are timeline hours from its start.

    ``placements``: one row per placement with the figures of its KPIs (arrival, ``wait_h``, ``work_acc_h``,
    ``used_acc_h``, ``co2_g``, ``score_milli``; see :func:`run_kpis`). ``outcomes``: every request's fate, its
    requested work and, when placed, its wait.
    ``by_class``: per organisation class, the KPIs of :func:`run_kpis` over that class's requests
    (``served_work_share_pct`` is its share of the run's served work, so the SME row's is the run's
    ``sme_share_pct``; ``utilisation_pct`` is the share of all available accelerator-hours that the class
    occupies; ``work_served_pct`` the share of its requested work that is served; ``jain_index`` is over
    the class's organisations).
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
    placed = _placed_frame(problem, run.plan)
    outcomes = outcomes.merge(placed[["request_id", "wait_h"]], on="request_id", how="left")
    placements = allocations_frame(problem, run.plan, {})
    placements = placements[placements["status"] == "allocated"].drop(columns=["status", "reason_code", "reason"])
    placements = placements.merge(outcomes[["request_id", "org_id", "org_class", "arrival_slot", "decided_slot"]])
    placements = placements.merge(placed, on="request_id")

    served = outcomes.assign(served_acc_h=outcomes["work_acc_h"].where(outcomes["status"] == "placed", 0))
    by_org = served.groupby(["org_id", "org_class"], as_index=False).agg(
        requests=("request_id", "size"),
        requested_acc_h=("work_acc_h", "sum"),
        served_acc_h=("served_acc_h", "sum"),
    )
    by_org["served_share"] = (by_org["served_acc_h"] / by_org["requested_acc_h"]).round(4)

    reference_acc_h = _reference_acc_h(problem, by_pool)
    total_available = float(available.sum() * slot_hours)
    total_work = float(placements["work_acc_h"].sum())
    class_rows = []
    for org_class in OrgClass:
        of = outcomes[outcomes["org_class"] == org_class.value]
        placed_of = placements[placements["org_class"] == org_class.value]
        used_h = float(placed_of["used_acc_h"].sum())
        class_rows.append(
            {
                "org_class": org_class.value,
                "requests": len(of),
                "placed": len(placed_of),
                "expired": int((of["status"] == "expired").sum()),
                "open": int((of["status"] == "open").sum()),
                "used_acc_h": used_h,
                "utilisation_pct": _pct(used_h, total_available),
                "work_served_pct": _pct(placed_of["work_acc_h"].sum(), of["work_acc_h"].sum()),
                "served_work_share_pct": _pct(placed_of["work_acc_h"].sum(), total_work),
                **_served_kpis(placed_of, of, by_org[by_org["org_class"] == org_class.value], reference_acc_h),
            }
        )

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
    """The headline figures of a run (also per class in :func:`run_tables`' ``by_class``).

    - ``served_work_acc_h``: the requested work of the placed requests at reference speed,
      ``sum accelerators * duration_hours`` (a job counts the same on a fast or a slow pool);
    - ``weighted_value``: the objective summed over the run, ``formulas.objective_milli(problem, plan) / MILLI``
      on the run's timeline (so delay counts from each request's earliest start);
    - ``utilisation_pct``: accelerator-hours occupied over those available, *not* speed-adjusted (see
      :func:`kpis`); ``utilisation_speed_adjusted_pct``: served work at reference speed over the available
      accelerator-hours each weighted by its pool's speed (what the pools could have served);
    - ``sme_share_pct``: SMEs' share of the served work; ``sme_demand_served_pct``: the share of SMEs' requested
      work that is served;
    - ``wait_p50_h``, ``wait_p90_h``, ``sme_wait_p90_h``: percentiles (linear interpolation) over placed
      requests of start minus arrival (:meth:`~scheduler.model.domain.Problem.arrival_time`: the submission,
      else the earliest start), in hours;
    - ``deadline_met_pct``: placed over placed + expired (requests still open at the end, their deadline
      beyond the run, are not counted);
    - ``co2_kg_per_acc_h``: CO2 of the placed requests (kg) per served accelerator-hour at reference speed;
    - ``jain_index``: Jain's index over organisations with requests, of the served share of each one's
      requested work (``fairness_by_org``);
    - subsidy, budget, energy and CO2 as :func:`kpis`; ``solve_time_s`` summed over rounds; ``valid``: no
      violation in any round nor on the whole run.
    """
    tables = tables or run_tables(run)
    problem = run.problem
    figures = kpis(problem, run.plan)
    outcomes = tables["outcomes"]
    placed = tables["placements"]
    served = _served_kpis(
        placed, outcomes, tables["fairness_by_org"], _reference_acc_h(problem, tables["utilisation_by_pool"])
    )
    return {
        "scheduler": run.scheduler,
        "requests": figures["requests"],
        "placed": figures["placed"],
        "expired": int((outcomes["status"] == "expired").sum()),
        "open": int((outcomes["status"] == "open").sum()),
        "served_work_acc_h": served["served_work_acc_h"],
        "weighted_value": served["weighted_value"],
        "utilisation_pct": figures["utilisation_pct"],
        "utilisation_speed_adjusted_pct": served["utilisation_speed_adjusted_pct"],
        "sme_share_pct": figures["sme_share_pct"],
        "sme_demand_served_pct": figures["sme_demand_served_pct"],
        "wait_p50_h": served["wait_p50_h"],
        "wait_p90_h": served["wait_p90_h"],
        "sme_wait_p90_h": _percentile(placed.loc[placed["org_class"] == OrgClass.SME.value, "wait_h"], 90),
        "deadline_met_pct": served["deadline_met_pct"],
        "co2_kg_per_acc_h": served["co2_kg_per_acc_h"],
        "jain_index": served["jain_index"],
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


def best_baseline(frame: pd.DataFrame, baselines: Sequence[str] = BASELINE_SCHEDULERS) -> pd.DataFrame:
    """Per scenario (the index), the best value of each KPI of :data:`KPI_HIGHER_IS_BETTER` among the rows of
    ``frame`` (a :func:`compare_frame`) whose scheduler is one of ``baselines``: the highest, or the lowest for
    waits and CO2. A KPI's best may come from a different baseline than another's."""
    rows = frame[frame["scheduler"].isin(baselines)]
    grouped = rows.groupby("scenario", sort=False)
    columns = [k for k in frame.columns if k in KPI_HIGHER_IS_BETTER]
    best = {k: (grouped[k].max() if KPI_HIGHER_IS_BETTER[k] else grouped[k].min()).astype(float) for k in columns}
    return pd.DataFrame(best, index=pd.Index(rows["scenario"].unique(), name="scenario"))


def ratio_to_best_baseline(frame: pd.DataFrame, baselines: Sequence[str] = BASELINE_SCHEDULERS) -> pd.DataFrame:
    """One row per run of ``frame`` (a :func:`compare_frame`) that is not a baseline: ``scenario``,
    ``scheduler`` and, per KPI of :data:`KPI_HIGHER_IS_BETTER`, its value over the :func:`best_baseline` value on
    the same scenario.

    Above 1 is better where higher is better; below 1 is better for waits and CO2 (lower is better). Where both
    are 0 (say, no wait at all) the ratio is 1; a positive value over a best of 0 is ``inf``; NaN where the
    scenario has no baseline run."""
    best = best_baseline(frame, baselines)
    others = frame[~frame["scheduler"].isin(baselines)].reset_index(drop=True)
    aligned = best.reindex(others["scenario"]).reset_index(drop=True)
    out = others[["scenario", "scheduler"]].copy()
    for column in best.columns:
        value, base = others[column].astype(float), aligned[column]
        out[column] = (value / base).where((value != 0) | (base != 0), 1.0).round(4)
    return out


def side_by_side(frame: pd.DataFrame, baselines: Sequence[str] = BASELINE_SCHEDULERS) -> dict[str, pd.DataFrame]:
    """Per scenario of ``frame`` (a :func:`compare_frame`): its KPIs as rows and its runs as columns (one per
    scheduler), then ``best baseline`` (:func:`best_baseline`) and, for each run that is not a baseline,
    ``<scheduler> / best`` (:func:`ratio_to_best_baseline`); a figure without a best or ratio is left empty."""
    best = best_baseline(frame, baselines)
    ratios = ratio_to_best_baseline(frame, baselines)
    tables = {}
    for scenario, runs in frame.groupby("scenario", sort=False):
        table = runs.drop(columns="scenario").set_index("scheduler").astype(object).T
        if scenario in best.index:
            table["best baseline"] = best.loc[scenario]
            for _, ratio in ratios[ratios["scenario"] == scenario].iterrows():
                table[f"{ratio['scheduler']} / best"] = ratio.drop(["scenario", "scheduler"])
        tables[str(scenario)] = table
    return tables
