"""The one bridge between the database rows of :mod:`api.models` and the core's :mod:`scheduler` objects.

Nothing else in ``api/`` turns rows into core objects. Times become slots of a horizon that starts at the later of
the programme's start and the current slot, so that "now" is the horizon start the SME reserve rule counts from.
A request's ``submitted_at`` is when the service received it (its row's ``created_at``), and it cannot start
before then: its earliest slot is the later of the one it asks for and the first slot boundary at or after its
receipt (asked at 10:20 to start at 10:00, it may start at 11:00).
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from fractions import Fraction
from functools import cached_property
from typing import Any

from sqlalchemy import Row, select
from sqlmodel import Session

from api import crud
from api import models as m
from api.catalog import Catalog
from api.catalog import load as load_catalog
from api.db import table
from scheduler import (
    Commitment,
    Horizon,
    InputError,
    MaintenanceWindow,
    Org,
    OrgClass,
    Policy,
    Pool,
    Problem,
    Programme,
    Reason,
    Request,
    Site,
    Voucher,
    parse,
    refusal,
)

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
    policy_version
        Which policy it used.
    catalog
        The catalogue rows it was built from (a later snapshot re-reads only what changed since).
    """

    problem: Problem
    pre_rejected: dict[str, Reason]
    policy_version: int | None
    catalog: Catalog = dataclasses.field(repr=False, compare=False)

    @cached_property
    def inputs_hash(self) -> str:
        """A SHA-256 of the problem (equal inputs, equal hash); computed when asked, as only a round's first
        snapshot records it."""
        return hashlib.sha256(repr(self.problem).encode()).hexdigest()


# ---------------------------------------------------------------- rows -> core objects


def horizon_at(programme: m.Programme, now: datetime) -> Horizon | None:
    """The horizon left at ``now``: from the current slot (or the programme start) to the programme end."""
    step = timedelta(minutes=programme.slot_minutes)
    passed = max(0, math.floor((now - programme.horizon_start) / step))
    slots = programme.horizon_slots - passed
    if slots <= 0:
        return None
    return Horizon(programme.horizon_start + passed * step, programme.slot_minutes, slots)


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


def _programme(session: Session, row: m.Programme) -> Programme:
    return Programme(
        voucher_budget_fen=max(0, row.voucher_budget_fen - crud.subsidy_paid_fen(session)),
        domestic_bonus_pct=row.domestic_bonus_pct,
        green_bonus_pct=row.green_bonus_pct,
        green_share_threshold=row.green_share_threshold,
    )


def _earliest_slot(row: Row[Any] | m.RequestCreate, submitted_at: datetime, horizon: Horizon) -> int:
    """The first slot ``row`` may start in: at or after its ``earliest_start`` and at or after its receipt, and not
    before the horizon's start (the slot "now" is in): a request whose deadline has passed has no window left
    (:func:`_window_left`). The optimiser counts delay from now on in any case
    (:func:`scheduler.sim.online.optimiser_view`)."""
    return max(0, horizon.slot_at_or_after(row.earliest_start), horizon.slot_at_or_after(submitted_at))


def _request(
    row: Row[Any] | m.RequestCreate, request_id: str, org_id: str, submitted_at: datetime, horizon: Horizon
) -> Request:
    """The core request of a stored row (``submitted_at`` its ``created_at``) or of a submission being checked
    (``submitted_at`` the time it is received)."""
    max_cost = getattr(row, "max_cost_fen", None)
    if isinstance(row, m.RequestCreate) and row.max_cost_cny is not None:
        max_cost = parse.cny_to_fen(str(row.max_cost_cny), "max_cost_cny")
    earliest, deadline = _earliest_slot(row, submitted_at, horizon), horizon.slot_at_or_before(row.deadline)
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
        submitted_at=submitted_at,
    )


def _commitments(session: Session, horizon: Horizon) -> tuple[Commitment, ...]:
    allocations = table(m.Allocation)
    live = (m.AllocationStatus.ALLOCATED, m.AllocationStatus.RUNNING)
    rows = session.execute(select(allocations).where(allocations.c.status.in_(live), allocations.c.end > horizon.start))
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


def snapshot(session: Session, now: datetime, since: Snapshot | None = None) -> Snapshot | None:
    """The live state at ``now`` as a :class:`Problem` over every pending request.

    It reads the catalogue (its version row first, then the rows), the pending requests, the live allocations
    that end after the horizon start and the subsidy paid so far. Given ``since``, an earlier snapshot at the
    same ``now``, it reads only what may have changed after it, and the state is the same as a full read: the
    catalogue tables whose counters moved; and when none moved, the ids of the pending requests and the rows of
    those it does not know (a request's row never changes while it is pending, and its core object depends on
    the row, the catalogue and the horizon only).

    Returns ``None`` when the programme has no horizon left (or no programme or policy exists yet).
    """
    catalog = load_catalog(session, None if since is None else since.catalog)
    programme, policy = catalog.programme, catalog.policy
    if programme is None or policy is None:
        return None
    horizon = horizon_at(programme, now)
    if horizon is None:
        return None
    sites, pools, core_policy = catalog_core(catalog, horizon)
    vouchers = tuple(_voucher(v, horizon) for v in catalog.vouchers.values())
    if since is not None and (since.catalog.version, since.problem.horizon) != (catalog.version, horizon):
        since = None
    kept, pre_rejected = _pending(session, horizon, sites, pools, vouchers, since)
    problem = Problem(
        horizon=horizon,
        sites=sites,
        pools=pools,
        orgs=tuple(Org(o.id, o.name, OrgClass(o.org_class)) for o in catalog.orgs.values()),
        vouchers=vouchers,
        requests=kept,
        policy=core_policy,
        programme=_programme(session, programme),
        commitments=_commitments(session, horizon),
    )
    return Snapshot(problem, pre_rejected, policy.id, catalog)


def _pending(
    session: Session,
    horizon: Horizon,
    sites: Sequence[Site],
    pools: Sequence[Pool],
    vouchers: Sequence[Voucher],
    since: Snapshot | None,
) -> tuple[tuple[Request, ...], dict[str, Reason]]:
    """The pending requests in order of submission, as core requests or as reasons they cannot be placed any
    more; those ``since`` holds are taken from it."""
    requests = table(m.ComputeRequest)
    pending, order = requests.c.status == m.RequestStatus.PENDING, (requests.c.created_at, requests.c.id)
    # plain rows, not ORM objects: several times faster
    if since is None:
        rows: dict[str, Row[Any]] = {
            row.id: row for row in session.execute(select(requests).where(pending).order_by(*order))
        }
        ids: Sequence[str] = list(rows)
    else:
        ids = session.execute(select(requests.c.id).where(pending).order_by(*order)).scalars().all()
        new = [i for i in ids if i not in since.problem.request_by_id and i not in since.pre_rejected]
        rows = {}
        for start in range(0, len(new), crud.ID_CHUNK):
            chunk = select(requests).where(requests.c.id.in_(new[start : start + crud.ID_CHUNK]))
            rows |= {row.id: row for row in session.execute(chunk).all()}
    types, site_ids = {p.accelerator_type for p in pools}, {s.id for s in sites}
    owner = {v.id: v.org_id for v in vouchers}
    kept, pre_rejected = [], {}
    for request_id in ids:
        if since is not None and request_id not in rows:
            if request_id in since.pre_rejected:
                pre_rejected[request_id] = since.pre_rejected[request_id]
            else:
                kept.append(since.problem.request_by_id[request_id])
            continue
        row = rows[request_id]
        request = _request(row, row.id, row.org_id, row.created_at, horizon) if _window_left(row, horizon) else None
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
    return tuple(kept), pre_rejected


def _window_left(row: Row[Any], horizon: Horizon) -> bool:
    return horizon.slot_at_or_before(row.deadline) > _earliest_slot(row, row.created_at, horizon)


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
    breaks: an unknown type or site, a voucher of another organisation, or a refusal of the core
    (:func:`scheduler.refusal`: no eligible pool, more accelerators than any has, a window shorter than the run).

    Checks read only the cached ``catalog``; a quote passes ``live``, a session to read the committed capacity
    and the budget left from (a submission's checks need neither). ``now`` is when the submission is received,
    the request's ``submitted_at`` (its row's ``created_at``).
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
        request = _request(create, request_id, org_id, now, horizon)
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
    refused = refusal(problem, request)
    if refused is not None:
        assert refused.field is not None  # a refusal always names the field to change
        raise InputError(refused.field, refused.sentence)
    return problem
