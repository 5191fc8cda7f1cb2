"""Hypothesis strategies: random small valid problems.

Every request is optional, so the empty plan is always feasible. Sizes stay tiny (1-2 sites, 1-3 pools of
1-8 accelerators, 6-12 slots, 1-8 requests) so that the optimiser proves optimality in well under a second.
"""

from __future__ import annotations

from fractions import Fraction

from hypothesis import strategies as st

from scheduler.model.domain import Commitment, MaintenanceWindow, Pool, Problem, Request, Voucher
from tests.factories import ORGS, make_policy, make_problem, make_programme, make_site

ACCELERATOR_TYPES = ("A800", "910B", "H20")
SPEEDS = (Fraction(1), Fraction(1, 2), Fraction(4, 5), Fraction(3, 2), Fraction(2))


@st.composite
def maintenance_windows(draw: st.DrawFn, capacity: int, slots: int) -> tuple[MaintenanceWindow, ...]:
    windows = []
    for _ in range(draw(st.integers(0, 2))):
        start = draw(st.integers(-1, slots - 1))
        end = draw(st.integers(start + 1, slots + 1))
        windows.append(MaintenanceWindow(start, end, draw(st.integers(1, capacity))))
    return tuple(windows)


@st.composite
def pools(draw: st.DrawFn, site_ids: list[str], slots: int) -> tuple[Pool, ...]:
    result = []
    for idx in range(draw(st.integers(1, 3))):
        capacity = draw(st.integers(4, 8) | st.integers(1, 8))
        result.append(
            Pool(
                id=f"p{idx}",
                site_id=draw(st.sampled_from(site_ids)),
                accelerator_type=draw(st.sampled_from(ACCELERATOR_TYPES)),
                capacity=capacity,
                price_fen_per_hour=draw(st.integers(0, 300)),
                speed=draw(st.sampled_from(SPEEDS)),
                power_w=draw(st.integers(100, 700)),
                domestic=draw(st.booleans()),
                maintenance=draw(maintenance_windows(capacity, slots)),
            )
        )
    return tuple(result)


@st.composite
def vouchers(draw: st.DrawFn, slots: int) -> tuple[Voucher, ...]:
    result = []
    for idx in range(draw(st.integers(0, 4))):
        valid_from = draw(st.integers(-2, slots - 1))
        result.append(
            Voucher(
                id=f"v{idx}",
                org_id=draw(st.sampled_from([o.id for o in ORGS])),
                ratio_pct=draw(st.integers(1, 100)),
                balance_fen=draw(st.integers(0, 3000)),
                valid_from_slot=valid_from,
                valid_until_slot=draw(st.integers(valid_from + 1, slots + 2)),
            )
        )
    return tuple(result)


@st.composite
def requests(
    draw: st.DrawFn, slots: int, site_ids: list[str], types: list[str], voucher_list: tuple[Voucher, ...]
) -> tuple[Request, ...]:
    result = []
    for idx in range(draw(st.integers(1, 8))):
        org_id = draw(st.sampled_from([o.id for o in ORGS]))
        earliest = draw(st.integers(-2, slots // 3) | st.integers(-2, slots - 1))
        deadline = draw(st.integers(earliest + 1, slots + 2) | st.just(slots))
        own_vouchers = [v.id for v in voucher_list if v.org_id == org_id]
        result.append(
            Request(
                id=f"r{idx}",
                org_id=org_id,
                accelerators=draw(st.integers(1, 3) | st.integers(1, 8)),
                duration_hours=draw(st.integers(1, 3) | st.integers(1, 8)),
                earliest_slot=earliest,
                deadline_slot=deadline,
                accelerator_types=draw(st.none() | st.frozensets(st.sampled_from(types), min_size=1)),
                sites=draw(st.none() | st.frozensets(st.sampled_from(site_ids), min_size=1)),
                max_cost_fen=draw(st.one_of(st.none(), st.none(), st.integers(0, 3000))),
                voucher_id=draw(st.one_of(st.none(), st.sampled_from(own_vouchers), st.sampled_from(own_vouchers)))
                if own_vouchers
                else None,
            )
        )
    return tuple(result)


@st.composite
def commitments(draw: st.DrawFn, pool_list: tuple[Pool, ...], slots: int) -> tuple[Commitment, ...]:
    result = []
    for _ in range(draw(st.integers(0, 2))):
        pool = draw(st.sampled_from(pool_list))
        start = draw(st.integers(-1, slots - 1))
        result.append(
            Commitment(
                pool_id=pool.id,
                start_slot=start,
                end_slot=draw(st.integers(start + 1, slots + 1)),
                accelerators=draw(st.integers(1, pool.capacity)),
                sme=draw(st.booleans()),
            )
        )
    return tuple(result)


@st.composite
def problems(draw: st.DrawFn) -> Problem:
    slot_minutes = draw(st.sampled_from((60, 60, 30, 120)))
    slots = draw(st.integers(6, 12))
    sites = tuple(
        make_site(f"s{idx}", green_share=draw(st.sampled_from((0.0, 0.3, 0.5, 0.9))))
        for idx in range(draw(st.integers(1, 2)))
    )
    site_ids = [s.id for s in sites]
    pool_list = draw(pools(site_ids, slots))
    types = sorted({p.accelerator_type for p in pool_list})
    voucher_list = draw(vouchers(slots))
    policy = make_policy(
        sme_reserve_pct=draw(st.integers(0, 100)),
        reserve_release_hours=draw(st.integers(0, 12)),
        carbon_weight_per_kg=draw(st.sampled_from((0.0, 0.2, 5.0))),
        delay_weight_per_slot=draw(st.sampled_from((0.0, 0.0005, 0.01, 0.1))),
    )
    programme = make_programme(
        voucher_budget_fen=draw(st.integers(0, 5000)),
        domestic_bonus_pct=draw(st.integers(0, 30)),
        green_bonus_pct=draw(st.integers(0, 30)),
        green_share_threshold=draw(st.sampled_from((0.3, 0.5, 1.0))),
    )
    return make_problem(
        pools=pool_list,
        requests=draw(requests(slots, site_ids, types, voucher_list)),
        policy=policy,
        programme=programme,
        vouchers=voucher_list,
        commitments=draw(commitments(pool_list, slots)),
        sites=sites,
        slots=slots,
        slot_minutes=slot_minutes,
    )
