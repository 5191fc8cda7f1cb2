"""What-if: the live problem and a variant with an administrator's overrides, solved side by side on copies.

Works on the core's objects only (no database): :mod:`api.whatif_jobs` hands it the live snapshot's problem.
"""

from __future__ import annotations

import dataclasses
from fractions import Fraction
from typing import Any

from api.apart import solve_apart
from scheduler import InputError, MaintenanceWindow, Pool, Problem, SolveParams, parse_datetime, reports


def apply_overrides(problem: Problem, overrides: dict[str, Any]) -> Problem:
    """A copy of ``problem`` with ``overrides`` (the fields of :class:`api.models.WhatIfCreate`) applied.

    Raises
    ------
    InputError
        Naming the override that refers to an unknown pool or site, or breaks a rule of the domain.
    """
    horizon = problem.horizon
    policy, programme = problem.policy, problem.programme
    if overrides.get("sme_reserve_pct") is not None:
        policy = dataclasses.replace(policy, sme_reserve_pct=overrides["sme_reserve_pct"])
    if overrides.get("voucher_budget_fen") is not None:
        programme = dataclasses.replace(programme, voucher_budget_fen=overrides["voucher_budget_fen"])
    vouchers = problem.vouchers
    if overrides.get("voucher_ratio_pct") is not None:
        vouchers = tuple(dataclasses.replace(v, ratio_pct=overrides["voucher_ratio_pct"]) for v in vouchers)
    pools = {p.id: p for p in problem.pools}
    for pool_id, capacity in (overrides.get("pool_capacity") or {}).items():
        if pool_id not in pools:
            raise InputError(f"pool_capacity.{pool_id}", "unknown pool")
        pool = pools[pool_id]
        # a window that takes more than the new capacity takes the whole (smaller) pool
        windows = tuple(dataclasses.replace(w, capacity_lost=min(w.capacity_lost, capacity)) for w in pool.maintenance)
        pools[pool_id] = _build(
            f"pool_capacity.{pool_id}", dataclasses.replace, pool, capacity=capacity, maintenance=windows
        )
    for i, outage in enumerate(overrides.get("outages") or []):
        if outage["pool_id"] not in pools:
            raise InputError(f"outages[{i}].pool_id", f"unknown pool {outage['pool_id']!r}")
        pool = pools[outage["pool_id"]]
        start = horizon.slot_at_or_after(parse_datetime(str(outage["start"]), f"outages[{i}].start"))
        end = horizon.slot_at_or_before(parse_datetime(str(outage["end"]), f"outages[{i}].end"))
        if end <= max(start, 0):
            continue  # the outage ends before the horizon left
        lost = min(outage["capacity_lost"], pool.capacity)
        window = MaintenanceWindow(start, end, lost)
        pools[pool.id] = dataclasses.replace(pool, maintenance=(*pool.maintenance, window))
    for i, new in enumerate(overrides.get("new_pools") or []):
        if new["id"] in pools:
            raise InputError(f"new_pools[{i}].id", f"pool {new['id']!r} already exists")
        if new["site_id"] not in problem.site_by_id:
            raise InputError(f"new_pools[{i}].site_id", f"unknown site {new['site_id']!r}")
        pools[new["id"]] = _build(
            f"new_pools[{i}]",
            Pool,
            id=new["id"],
            site_id=new["site_id"],
            accelerator_type=new["accelerator_type"],
            capacity=new["capacity"],
            price_fen_per_hour=new["price_fen_per_hour"],
            speed=Fraction(str(new["speed"])),
            power_w=new["power_w"],
            domestic=new["domestic"],
        )
    return _build(
        "overrides",
        dataclasses.replace,
        problem,
        pools=tuple(pools.values()),
        vouchers=vouchers,
        policy=policy,
        programme=programme,
    )


def _build(where: str, make: Any, *args: Any, **kwargs: Any) -> Any:
    try:
        return make(*args, **kwargs)
    except InputError as exc:
        raise exc.within(where) from None


def _summary(problem: Problem, time_limit_s: float, workers: int, seed: int) -> dict[str, Any]:
    result = solve_apart(problem, SolveParams(time_limit_s=time_limit_s, seed=seed, num_workers=workers))
    return {
        "status": result.status,
        "objective": result.objective,
        "bound": result.bound,
        "gap": round(result.gap, 6),
        "wall_time_s": round(result.wall_time_s, 3),
        "kpis": reports.kpis(problem, result.plan),
    }


def compare(live: Problem, overrides: dict[str, Any], workers: int = 1, seed: int = 0) -> dict[str, Any]:
    """KPIs of the live policy and of the variant for the same pending demand, side by side."""
    variant = apply_overrides(live, overrides)
    limit = float(overrides.get("time_limit_s") or 10.0) / 2
    return {
        "requests": len(live.requests),
        "live": _summary(live, limit, workers, seed),
        "variant": _summary(variant, limit, workers, seed),
    }
