"""Rows from the core's objects: the seeding of an empty database from a scenario file, the rows of an import's
CSV files (orgs, vouchers, requests), and the first administrator's token."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterable, Mapping, Sequence
from fractions import Fraction
from pathlib import Path

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from api import crud
from api import models as m
from api.auth import hash_token, new_token
from api.db import utcnow, write_session
from scheduler import (
    CsvRef,
    Horizon,
    InputError,
    Org,
    Request,
    Scenario,
    Voucher,
    load_scenario,
    parse,
    read_orgs,
    read_requests,
    read_vouchers,
)

log = logging.getLogger("pcs.seed")


def seed_from_scenario(engine: Engine, path: str) -> bool:
    """Load ``path`` into an empty database (no programme yet); returns whether it did."""
    with write_session(engine) as session:
        if session.get(m.Programme, 1) is not None:
            return False
        crud.add_in_order(session, scenario_rows(load_scenario(path)))
        crud.audit(session, "seed", "seed", "programme", 1, {"scenario": str(path)})
    return True


def ensure_admin(engine: Engine, token: str = "", ttl_days: float = 0.0) -> str | None:
    """Make sure user ``admin`` exists: a new one gets ``token`` (``PCS_ADMIN_TOKEN``) or a fresh token, returned
    once. An existing admin keeps its token: a restart never undoes a rotation made through the API (a ``token``
    that differs is ignored, with a warning). Returns ``None`` when the admin already existed."""
    with write_session(engine) as session:
        admin = session.exec(select(m.User).where(m.User.name == "admin")).first()
        if admin is not None:
            if token and admin.token_hash != hash_token(token):
                log.warning("PCS_ADMIN_TOKEN is ignored: user admin exists and has another token (rotated?)")
            return None
        token = token or new_token()
        expires = m.token_expiry(utcnow(), ttl_days)
        session.add(m.User(name="admin", role=m.Role.ADMIN, token_hash=hash_token(token), token_expires_at=expires))
        crud.audit(session, "seed", "create", "user", "admin", {"role": "admin"})
    return token


# ---------------------------------------------------------------- the core's objects -> rows


def _speed_text(speed: Fraction) -> str:
    text = format(float(speed), "g")
    return text if Fraction(text) == speed else f"{speed.numerator}/{speed.denominator}"


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
    offset = horizon.start.utcoffset()
    assert offset is not None  # a horizon's start carries an offset (Horizon checks it)
    rows: list[m.SQLModel] = [
        m.Programme(
            name=scenario.name,
            horizon_start=horizon.start,
            utc_offset_minutes=int(offset.total_seconds() // 60),
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


def csv_rows(session: Session, files: Mapping[str, Path], actor: str) -> list[m.SQLModel]:
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
