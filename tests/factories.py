"""Tiny problems built by hand, with defaults that keep every rule out of the way unless a test asks for it.

Defaults: one site ``s1`` (not green), a horizon of 12 one-hour slots, one organisation of each class
(``sme``, ``large``, ``research``, ``key``), no SME reserve, no voucher budget, a small delay weight (so
the optimiser prefers early starts and its decisions are deterministic) and no carbon weight.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from fractions import Fraction

from scheduler.model import formulas
from scheduler.model.domain import (
    Commitment,
    MaintenanceWindow,
    Org,
    OrgClass,
    Placement,
    Policy,
    Pool,
    Problem,
    Programme,
    Request,
    Site,
    Voucher,
)
from scheduler.model.horizon import Horizon

HORIZON_START = datetime(2026, 12, 7, tzinfo=UTC)

SME, LARGE, RESEARCH, KEY = "sme", "large", "research", "key"
ORGS: tuple[Org, ...] = (
    Org(SME, "Small AI Co", OrgClass.SME),
    Org(LARGE, "Big Cloud Co", OrgClass.LARGE),
    Org(RESEARCH, "City University", OrgClass.RESEARCH),
    Org(KEY, "Key Project", OrgClass.KEY_PROJECT),
)


def make_site(id: str = "s1", green_share: float = 0.0, pue: float = 1.2, grid_co2_g_per_kwh: float = 500.0) -> Site:
    return Site(id, id.upper(), "shanghai", pue, grid_co2_g_per_kwh, green_share)


def make_pool(
    id: str = "p1",
    capacity: int = 4,
    accelerator_type: str = "A800",
    site_id: str = "s1",
    price_fen_per_hour: int = 100,
    speed: Fraction | int = 1,
    power_w: int = 400,
    domestic: bool = False,
    maintenance: Iterable[MaintenanceWindow | tuple[int, int, int]] = (),
) -> Pool:
    """A pool; maintenance may be given as ``(start_slot, end_slot, capacity_lost)`` tuples."""
    windows = tuple(w if isinstance(w, MaintenanceWindow) else MaintenanceWindow(*w) for w in maintenance)
    return Pool(
        id, site_id, accelerator_type, capacity, price_fen_per_hour, Fraction(speed), power_w, domestic, windows
    )


def make_request(
    id: str,
    org_id: str,
    accelerators: int,
    duration_hours: int,
    earliest: int,
    deadline: int,
    *,
    types: Iterable[str] | None = None,
    sites: Iterable[str] | None = None,
    max_cost_fen: int | None = None,
    voucher_id: str | None = None,
) -> Request:
    return Request(
        id,
        org_id,
        accelerators,
        duration_hours,
        earliest,
        deadline,
        accelerator_types=frozenset(types) if types is not None else None,
        sites=frozenset(sites) if sites is not None else None,
        max_cost_fen=max_cost_fen,
        voucher_id=voucher_id,
    )


def make_voucher(
    id: str = "v1",
    org_id: str = SME,
    ratio_pct: int = 50,
    balance_fen: int = 1_000_000,
    valid_from: int = 0,
    valid_until: int = 1000,
) -> Voucher:
    return Voucher(id, org_id, ratio_pct, balance_fen, valid_from, valid_until)


def make_policy(
    sme_reserve_pct: int = 0,
    reserve_release_hours: int = 0,
    carbon_weight_per_kg: float = 0.0,
    delay_weight_per_slot: float = 0.01,
    **kw: object,
) -> Policy:
    return Policy(
        sme_reserve_pct=sme_reserve_pct,
        reserve_release_hours=reserve_release_hours,
        carbon_weight_per_kg=carbon_weight_per_kg,
        delay_weight_per_slot=delay_weight_per_slot,
        **kw,  # type: ignore[arg-type]
    )


def make_programme(
    voucher_budget_fen: int = 10_000_000,
    domestic_bonus_pct: int = 0,
    green_bonus_pct: int = 0,
    green_share_threshold: float = 0.5,
) -> Programme:
    return Programme(voucher_budget_fen, domestic_bonus_pct, green_bonus_pct, green_share_threshold)


def make_commitment(pool_id: str, start: int, end: int, accelerators: int, sme: bool = False) -> Commitment:
    return Commitment(pool_id, start, end, accelerators, sme)


def make_problem(
    pools: Iterable[Pool] | None = None,
    requests: Iterable[Request] = (),
    policy: Policy | None = None,
    programme: Programme | None = None,
    vouchers: Iterable[Voucher] = (),
    commitments: Iterable[Commitment] = (),
    sites: Iterable[Site] | None = None,
    orgs: Iterable[Org] = ORGS,
    slots: int = 12,
    slot_minutes: int = 60,
) -> Problem:
    pools = tuple(pools) if pools is not None else (make_pool(),)
    if sites is None:
        site_ids = sorted({p.site_id for p in pools} | {"s1"})
        sites = tuple(make_site(s) for s in site_ids)
    return Problem(
        horizon=Horizon(HORIZON_START, slot_minutes, slots),
        sites=tuple(sites),
        pools=pools,
        orgs=tuple(orgs),
        vouchers=tuple(vouchers),
        requests=tuple(requests),
        policy=policy if policy is not None else make_policy(),
        programme=programme if programme is not None else make_programme(),
        commitments=tuple(commitments),
    )


def entitlement(problem: Problem, request_id: str, pool_id: str, start: int) -> int:
    """What the request's voucher owes for this placement (the formula, before balance and budget)."""
    request = problem.request_by_id[request_id]
    return formulas.entitlement_fen(problem, request, problem.pool_by_id[pool_id], start)


def place(
    problem: Problem,
    request_id: str,
    pool_id: str,
    start: int,
    subsidy_fen: int | None = None,
    cost_fen: int | None = None,
) -> Placement:
    """A placement at the list price; ``subsidy_fen`` defaults to the full entitlement at that start."""
    request = problem.request_by_id[request_id]
    pool = problem.pool_by_id[pool_id]
    if cost_fen is None:
        cost_fen = formulas.cost_fen(request, pool)
    if subsidy_fen is None:
        subsidy_fen = formulas.entitlement_fen(problem, request, pool, start)
    return Placement(
        request_id, pool_id, start, cost_fen, subsidy_fen, end_slot=start + formulas.run_slots(problem, request, pool)
    )
