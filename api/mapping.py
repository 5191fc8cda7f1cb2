"""The one bridge between the database rows of :mod:`api.models` and the core's :mod:`scheduler` objects.

Nothing else in ``api/`` imports both. Times become slots of a horizon that starts at the later of the
programme's start and the current slot, so that "now" is the horizon start the SME reserve rule counts from.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from fractions import Fraction
from typing import Any

from sqlalchemy import Row
from sqlmodel import Session, func, select

from api import models as m
from api.apart import solve_apart
from api.catalog import Catalog
from api.catalog import load as load_catalog
from scheduler.io import parse
from scheduler.io.scenario_tables import CsvRef, read_orgs, read_requests, read_vouchers
from scheduler.io.scenarios import Scenario
from scheduler.io.scenarios import load_scenario as load_scenario  # re-exported for api.seed
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
from scheduler.model.errors import InputError
from scheduler.model.horizon import Horizon
from scheduler.optimise.solve import Result, SolveParams
from scheduler.report import reports
from scheduler.rules.reasons import Reason
from scheduler.rules.validate import violations

NEVER = (-2, -1)  # voucher validity slots that no placement can start in


@dataclass(frozen=True)
class Snapshot:
    """The state a round (or a quote, or a what-if) solves: the core's problem plus what it could not take.

    Attributes
    ----------
    problem
        Pending requests and the capacity that committed allocations leave.
    pre_rejected
        Requests that cannot enter the problem any more (their pool type was removed, their window ended).
    policy_version, inputs_hash
        Which policy it used, and a SHA-256 of the problem (equal inputs, equal hash).
    """

    problem: Problem
    pre_rejected: dict[str, Reason]
    policy_version: int | None
    inputs_hash: str


# ---------------------------------------------------------------- rows -> core objects


def horizon_at(programme: m.Programme, now: datetime) -> Horizon | None:
    """The horizon left at ``now``: from the current slot (or the programme start) to the programme end."""
    step = timedelta(minutes=programme.slot_minutes)
    passed = max(0, math.floor((now - programme.horizon_start) / step))
    slots = programme.horizon_slots - passed
    if slots <= 0:
        return None
    return Horizon(programme.horizon_start + passed * step, programme.slot_minutes, slots)


def _speed_text(speed: Fraction) -> str:
    text = format(float(speed), "g")
    return text if Fraction(text) == speed else f"{speed.numerator}/{speed.denominator}"


def _site(row: m.Site) -> Site:
    return Site(row.id, row.name, row.region, row.pue, row.grid_co2_g_per_kwh, row.green_share)


def _pool(row: m.Pool, windows: Iterable[m.Maintenance], horizon: Horizon) -> Pool:
    maintenance = []
    for w in windows:
        start, end = horizon.slot_at_or_after(w.start), horizon.slot_at_or_before(w.end)
        if end > start and end > 0 and start < horizon.slots:
            maintenance.append(MaintenanceWindow(start, end, min(w.capacity_lost, row.capacity)))
    return Pool(
        row.id,
        row.site_id,
        row.accelerator_type,
        row.capacity,
        row.price_fen_per_hour,
        Fraction(row.speed),
        row.power_w,
        row.domestic,
        tuple(maintenance),
    )


def _voucher(row: m.Voucher, horizon: Horizon) -> Voucher:
    start, until = horizon.slot_at_or_after(row.valid_from), horizon.slot_at_or_after(row.valid_until)
    if until <= start:
        start, until = NEVER
    return Voucher(row.id, row.org_id, row.ratio_pct, row.balance_fen, start, until)


def _policy(row: m.PolicyVersion) -> Policy:
    return Policy(
        sme_reserve_pct=row.sme_reserve_pct,
        reserve_release_hours=row.reserve_release_hours,
        class_weights={OrgClass(k): float(v) for k, v in row.class_weights.items()},
        carbon_weight_per_kg=row.carbon_weight_per_kg,
        delay_weight_per_slot=row.delay_weight_per_slot,
    )


def subsidy_paid_fen(session: Session) -> int:
    """What the programme has paid out, net of refunds."""
    kinds = (m.EntryKind.SUBSIDY, m.EntryKind.REFUND)
    total = session.exec(select(func.sum(m.VoucherEntry.amount_fen)).where(m.VoucherEntry.kind.in_(kinds))).one()
    return -int(total or 0)


def _programme(session: Session, row: m.Programme) -> Programme:
    return Programme(
        voucher_budget_fen=max(0, row.voucher_budget_fen - subsidy_paid_fen(session)),
        domestic_bonus_pct=row.domestic_bonus_pct,
        green_bonus_pct=row.green_bonus_pct,
        green_share_threshold=row.green_share_threshold,
    )


def _request(row: Row | m.RequestCreate, request_id: str, org_id: str, horizon: Horizon) -> Request:
    max_cost = getattr(row, "max_cost_fen", None)
    if isinstance(row, m.RequestCreate) and row.max_cost_cny is not None:
        max_cost = parse.cny_to_fen(str(row.max_cost_cny), "max_cost_cny")
    earliest, deadline = horizon.slot_at_or_after(row.earliest_start), horizon.slot_at_or_before(row.deadline)
    if deadline <= earliest:
        raise InputError("deadline", "must be after earliest_start by at least one whole slot")
    return Request(
        id=request_id,
        org_id=org_id,
        accelerators=row.accelerators,
        duration_hours=row.duration_hours,
        earliest_slot=earliest,
        deadline_slot=deadline,
        accelerator_types=parse.names(row.accelerator_types),
        sites=parse.names(row.sites),
        max_cost_fen=max_cost,
        voucher_id=row.voucher_id,
    )


def _commitments(session: Session, horizon: Horizon) -> tuple[Commitment, ...]:
    live = (m.AllocationStatus.ALLOCATED, m.AllocationStatus.RUNNING)
    rows = session.exec(select(m.Allocation).where(m.Allocation.status.in_(live), m.Allocation.end > horizon.start))
    return tuple(
        Commitment(
            a.pool_id,
            horizon.slot_at_or_before(a.start),
            horizon.slot_at_or_after(a.end),
            a.accelerators,
            a.org_class == OrgClass.SME.value,
        )
        for a in rows
    )


def snapshot(session: Session, now: datetime) -> Snapshot | None:
    """The live state at ``now`` as a :class:`Problem` over every pending request.

    Returns ``None`` when the programme has no horizon left (or no programme or policy exists yet).
    """
    catalog = load_catalog(session)
    programme, policy = catalog.programme, catalog.policy
    if programme is None or policy is None:
        return None
    horizon = horizon_at(programme, now)
    if horizon is None:
        return None
    sites, pools, core_policy = catalog_core(catalog, horizon)
    orgs = tuple(Org(o.id, o.name, OrgClass(o.org_class)) for o in catalog.orgs.values())
    vouchers = tuple(_voucher(v, horizon) for v in catalog.vouchers.values())
    # plain rows, not ORM objects (several times faster): a round reads them twice, the second time under the lock
    table = m.ComputeRequest.__table__
    pending = select(table).where(table.c.status == m.RequestStatus.PENDING).order_by(table.c.created_at, table.c.id)
    requests = session.execute(pending).all()
    types, site_ids = {p.accelerator_type for p in pools}, {s.id for s in sites}
    owner = {v.id: v.org_id for v in vouchers}
    kept, pre_rejected = [], {}
    for row in requests:
        request = _request(row, row.id, row.org_id, horizon) if _window_left(row, horizon) else None
        if request is None:
            pre_rejected[row.id] = Reason("window_too_short", "Its deadline is too close: no whole slot is left.")
            continue
        accepted_types = None if request.accelerator_types is None else request.accelerator_types & types
        accepted_sites = None if request.sites is None else request.sites & site_ids
        if accepted_types == frozenset() or accepted_sites == frozenset():
            pre_rejected[row.id] = Reason("no_eligible_pool", "No pool offers an accepted type at an accepted site.")
            continue
        voucher = request.voucher_id if owner.get(request.voucher_id or "") == request.org_id else None
        kept.append(
            dataclasses.replace(request, accelerator_types=accepted_types, sites=accepted_sites, voucher_id=voucher)
        )
    problem = Problem(
        horizon=horizon,
        sites=sites,
        pools=pools,
        orgs=orgs,
        vouchers=vouchers,
        requests=tuple(kept),
        policy=core_policy,
        programme=_programme(session, programme),
        commitments=_commitments(session, horizon),
    )
    digest = hashlib.sha256(repr(problem).encode()).hexdigest()
    return Snapshot(problem, pre_rejected, policy.id, digest)


def _window_left(row: Row, horizon: Horizon) -> bool:
    return horizon.slot_at_or_before(row.deadline) > horizon.slot_at_or_after(row.earliest_start)


# ---------------------------------------------------------------- requests: checks and quotes


def catalog_core(catalog: Catalog, horizon: Horizon) -> tuple[tuple[Site, ...], tuple[Pool, ...], Policy]:
    """The catalogue's sites, pools (maintenance in slots of ``horizon``) and policy as core objects, built once
    per catalogue and horizon."""
    if horizon.start not in catalog.derived:
        assert catalog.policy is not None
        pools = tuple(_pool(p, catalog.maintenance.get(p.id, ()), horizon) for p in catalog.pools)
        catalog.derived[horizon.start] = (tuple(_site(s) for s in catalog.sites), pools, _policy(catalog.policy))
    return catalog.derived[horizon.start]


def check_request(
    catalog: Catalog, create: m.RequestCreate, org_id: str, request_id: str, now: datetime, live: Session | None = None
) -> Problem:
    """A problem holding only ``create``, or the :class:`InputError` that names the field and the rule it
    breaks: an unknown type or site, a voucher of another organisation, more accelerators than any eligible
    pool has, a window shorter than the run on every eligible pool.

    Checks read only the cached ``catalog``; a quote passes ``live``, a session to read the committed capacity
    and the budget left from (a submission's checks need neither).
    """
    programme = catalog.programme
    if programme is None or catalog.policy is None:
        raise InputError("programme", "no programme is configured yet")
    horizon = horizon_at(programme, now)
    if horizon is None:
        raise InputError("earliest_start", "the programme's horizon has ended")
    org = catalog.orgs.get(org_id)
    if org is None:
        raise InputError("org_id", f"unknown organisation {org_id!r}")
    vouchers: tuple[Voucher, ...] = ()
    if create.voucher_id is not None:
        voucher = catalog.vouchers.get(create.voucher_id)
        if voucher is None or voucher.org_id != org_id:  # one answer for both: nobody learns another's ids
            raise InputError("voucher_id", f"no voucher {create.voucher_id!r} of organisation {org_id}")
        vouchers = (_voucher(voucher, horizon),)
    sites, pools, policy = catalog_core(catalog, horizon)
    try:
        request = _request(create, request_id, org_id, horizon)
        problem = Problem(
            horizon=horizon,
            sites=sites,
            pools=pools,
            orgs=(Org(org.id, org.name, OrgClass(org.org_class)),),
            vouchers=vouchers,
            requests=(request,),
            policy=policy,
            programme=Programme(programme.voucher_budget_fen) if live is None else _programme(live, programme),
            commitments=() if live is None else _commitments(live, horizon),
        )
    except InputError as exc:
        raise InputError(exc.field.rsplit(": ", 1)[-1], exc.rule) from None
    matching = [
        p
        for p in pools
        if (request.accelerator_types is None or p.accelerator_type in request.accelerator_types)
        and (request.sites is None or p.site_id in request.sites)
    ]
    if not matching:
        raise InputError("sites", "no pool offers an accepted accelerator type at an accepted site")
    largest = max(p.capacity for p in matching)
    if request.accelerators > largest:
        raise InputError("accelerators", f"more than any eligible pool has (the largest has {largest})")
    if not any(formulas.start_range(problem, request, p) for p in problem.eligible_pools(request)):
        raise InputError(
            "deadline",
            f"the window from earliest_start to deadline (within the programme horizon ending "
            f"{horizon.end.isoformat()}) is shorter than the run on every eligible pool",
        )
    return problem


# ---------------------------------------------------------------- a round's plan -> rows


def allocation_rows(snap: Snapshot, plan: Sequence[Placement], round_id: int) -> list[dict[str, Any]]:
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


def plan_kpis(snap: Snapshot, plan: Sequence[Placement]) -> dict[str, Any]:
    """The core's KPIs of ``plan`` (JSON-ready)."""
    return reports.kpis(snap.problem, tuple(plan))


def solve_snapshot(snap: Snapshot, time_limit_s: float, seed: int, workers: int) -> Result:
    """``scheduler.solve`` on the snapshot's problem (its commitments included, so they never move), in a process of
    its own (:mod:`api.apart`)."""
    return solve_apart(snap.problem, SolveParams(time_limit_s=time_limit_s, seed=seed, num_workers=workers))


def plan_violations(snap: Snapshot, plan: Sequence[Placement]) -> list[str]:
    """Every rule ``plan`` breaks on ``snap`` (empty when it may be committed)."""
    return [f"{v.rule}: {v.message}" for v in violations(snap.problem, tuple(plan))]


def rebase(snap: Snapshot, fresh: Snapshot, plan: Sequence[Placement]) -> tuple[Snapshot, tuple[Placement, ...]]:
    """``plan`` (solved on ``snap``) moved onto ``fresh``, the state re-read under the commit lock: same
    horizon start, so slots keep their meaning; placements of requests no longer pending are dropped."""
    if fresh.problem.horizon.start != snap.problem.horizon.start:
        raise InputError("round", "the horizon moved on while the round solved")
    kept = tuple(p for p in plan if p.request_id in fresh.problem.request_by_id)
    placed = {p.request_id for p in kept}
    requests = tuple(r for r in fresh.problem.requests if r.id in placed)
    # validate against the fresh state restricted to the placed requests: the others stay pending
    problem = dataclasses.replace(fresh.problem, requests=requests)
    return dataclasses.replace(fresh, problem=problem), kept


# ---------------------------------------------------------------- scenarios and CSV files -> rows


def _request_rows(requests: Iterable[Request], horizon: Horizon, actor: str) -> list[m.ComputeRequest]:
    return [
        m.ComputeRequest(
            id=r.id,
            org_id=r.org_id,
            accelerators=r.accelerators,
            duration_hours=r.duration_hours,
            earliest_start=horizon.to_datetime(r.earliest_slot),
            deadline=horizon.to_datetime(r.deadline_slot),
            accelerator_types=parse.names_text(r.accelerator_types),
            sites=parse.names_text(r.sites),
            max_cost_fen=r.max_cost_fen,
            voucher_id=r.voucher_id,
            submitted_by=actor,
        )
        for r in requests
    ]


def _voucher_rows(vouchers: Sequence[Voucher], horizon: Horizon, actor: str) -> list[m.SQLModel]:
    """The vouchers, then their opening ledger entries (so that the ledger sums to the balance)."""
    rows: list[m.SQLModel] = [
        m.Voucher(
            id=v.id,
            org_id=v.org_id,
            ratio_pct=v.ratio_pct,
            balance_fen=v.balance_fen,
            valid_from=horizon.to_datetime(v.valid_from_slot),
            valid_until=horizon.to_datetime(v.valid_until_slot),
        )
        for v in vouchers
    ]
    issue = m.EntryKind.ISSUE
    return rows + [m.VoucherEntry(voucher_id=v.id, amount_fen=v.balance_fen, kind=issue, actor=actor) for v in vouchers]


def _org_rows(orgs: Iterable[Org]) -> list[m.Org]:
    return [m.Org(id=o.id, name=o.name, org_class=m.OrgClassName(o.org_class.value)) for o in orgs]


def scenario_rows(scenario: Scenario, actor: str = "seed") -> list[m.SQLModel]:
    """Every row that seeds an empty database from ``scenario``: catalog, programme, policy version 1,
    vouchers with their opening ledger entries, and its requests as pending."""
    problem = scenario.problem
    horizon = problem.horizon
    rows: list[m.SQLModel] = [
        m.Programme(
            name=scenario.name,
            horizon_start=horizon.start,
            utc_offset_minutes=int(horizon.start.utcoffset().total_seconds() // 60),
            slot_minutes=horizon.slot_minutes,
            horizon_slots=horizon.slots,
            voucher_budget_fen=problem.programme.voucher_budget_fen,
            domestic_bonus_pct=problem.programme.domestic_bonus_pct,
            green_bonus_pct=problem.programme.green_bonus_pct,
            green_share_threshold=problem.programme.green_share_threshold,
        ),
        m.PolicyVersion(
            sme_reserve_pct=problem.policy.sme_reserve_pct,
            reserve_release_hours=problem.policy.reserve_release_hours,
            class_weights={c.value: w for c, w in problem.policy.class_weights.items()},
            carbon_weight_per_kg=problem.policy.carbon_weight_per_kg,
            delay_weight_per_slot=problem.policy.delay_weight_per_slot,
            created_by=actor,
        ),
    ]
    rows += [m.Site(**dataclasses.asdict(s)) for s in problem.sites]
    for pool in problem.pools:
        rows.append(
            m.Pool(
                id=pool.id,
                site_id=pool.site_id,
                accelerator_type=pool.accelerator_type,
                capacity=pool.capacity,
                price_fen_per_hour=pool.price_fen_per_hour,
                speed=_speed_text(pool.speed),
                power_w=pool.power_w,
                domestic=pool.domestic,
            )
        )
        rows += [
            m.Maintenance(
                pool_id=pool.id,
                start=horizon.to_datetime(w.start_slot),
                end=horizon.to_datetime(w.end_slot),
                capacity_lost=w.capacity_lost,
            )
            for w in pool.maintenance
        ]
    rows += _org_rows(problem.orgs)
    rows += _voucher_rows(problem.vouchers, horizon, actor)
    rows += _request_rows(problem.requests, horizon, actor)
    return rows


def csv_rows(session: Session, files: dict[str, Any], actor: str) -> list[m.SQLModel]:
    """Rows for uploaded ``orgs.csv``, ``vouchers.csv`` and ``requests.csv`` (any of them), read by the
    core's own readers against the programme horizon and what the database (plus the upload) already knows.
    Errors name the file, the row and the rule."""
    programme = session.get(m.Programme, 1)
    if programme is None:
        raise InputError("programme", "no programme is configured yet")
    horizon = Horizon(programme.horizon_start, programme.slot_minutes, programme.horizon_slots)
    rows: list[m.SQLModel] = []
    org_ids = set(session.exec(select(m.Org.id)))
    if "orgs" in files:
        orgs = read_orgs(CsvRef("orgs.csv", files["orgs"]), "orgs", "orgs.csv")
        rows += _org_rows(orgs)
        org_ids |= {o.id for o in orgs}
    owner = dict(session.exec(select(m.Voucher.id, m.Voucher.org_id)).all())
    if "vouchers" in files:
        vouchers = read_vouchers(
            CsvRef("vouchers.csv", files["vouchers"]), "vouchers", "vouchers.csv", org_ids, horizon
        )
        rows += _voucher_rows(vouchers, horizon, actor)
        owner |= {v.id: v.org_id for v in vouchers}
    if "requests" in files:
        known = {
            "horizon": horizon,
            "org_ids": org_ids,
            "voucher_owner": owner,
            "types": set(session.exec(select(m.Pool.accelerator_type))),
            "site_ids": set(session.exec(select(m.Site.id))),
        }
        requests = read_requests(CsvRef("requests.csv", files["requests"]), "requests", "requests.csv", known)
        rows += _request_rows(requests, horizon, actor)
    return rows
