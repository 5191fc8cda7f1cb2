"""Hand-made cases where each baseline's right decision is known: exact pool and start, not just validity."""

from __future__ import annotations

from fractions import Fraction

import pytest

from scheduler.model import formulas
from scheduler.model.domain import OrgClass, Placement, Problem
from scheduler.optimise.greedy import greedy_plan
from scheduler.rules.validate import violations
from scheduler.sim.baselines import BASELINES, run_baseline
from scheduler.sim.baselines.easy import easy_plan
from scheduler.sim.baselines.fifo import fifo_plan
from scheduler.sim.baselines.quota import class_shares, nominal_quotas, quota_plan
from tests.factories import (
    KEY,
    LARGE,
    RESEARCH,
    SME,
    make_commitment,
    make_policy,
    make_pool,
    make_problem,
    make_programme,
    make_request,
    make_voucher,
)

HALF_LARGE_HALF_RESEARCH = {OrgClass.LARGE: Fraction(1, 2), OrgClass.RESEARCH: Fraction(1, 2)}


def starts(problem: Problem, plan: tuple[Placement, ...]) -> dict[str, tuple[str, int]]:
    """``request -> (pool, start)`` of a plan, after checking it against every rule."""
    assert violations(problem, plan) == []
    return {p.request_id: (p.pool_id, p.start_slot) for p in plan}


def blocked_head(*extra) -> Problem:
    """A pool of 4 with 2 accelerators booked in [0, 4): a head request for all 4 must wait until slot 4."""
    return make_problem(
        [make_pool(capacity=4)],
        [make_request("big", LARGE, 4, 2, 0, 12), make_request("small", LARGE, 1, 2, 1, 12), *extra],
        commitments=[make_commitment("p1", 0, 4, 2)],
    )


# ---------------------------------------------------------------- FIFO


def test_fifo_blocks_at_the_head() -> None:
    problem = blocked_head()
    # "small" could run at once in the 2 free accelerators, but may not overtake "big", which waits until 4
    assert starts(problem, fifo_plan(problem)) == {"big": ("p1", 4), "small": ("p1", 6)}
    assert starts(problem, greedy_plan(problem))["small"] == ("p1", 1)


def test_fifo_serves_in_arrival_order_whatever_the_class() -> None:
    problem = make_problem(
        [make_pool(capacity=4)],
        [make_request("large", LARGE, 4, 2, 0, 12), make_request("key", KEY, 4, 2, 1, 12)],
        commitments=[make_commitment("p1", 0, 2, 4)],
    )
    assert starts(problem, fifo_plan(problem)) == {"large": ("p1", 2), "key": ("p1", 4)}


def test_fifo_rejects_a_head_that_cannot_meet_its_deadline_without_blocking() -> None:
    problem = make_problem(
        [make_pool(capacity=4)],
        [make_request("doomed", LARGE, 4, 2, 0, 3), make_request("small", LARGE, 1, 2, 0, 12)],
        commitments=[make_commitment("p1", 0, 4, 2)],
    )
    assert starts(problem, fifo_plan(problem)) == {"small": ("p1", 0)}


def test_fifo_takes_the_pool_with_the_earliest_start() -> None:
    problem = make_problem(
        [make_pool("p1", capacity=4), make_pool("p2", capacity=4, price_fen_per_hour=1)],
        [make_request("a", LARGE, 4, 2, 0, 12)],
        commitments=[make_commitment("p1", 0, 12, 4), make_commitment("p2", 0, 3, 1)],
    )
    assert starts(problem, fifo_plan(problem)) == {"a": ("p2", 3)}


# ---------------------------------------------------------------- EASY backfill


def test_easy_backfills_a_short_job_into_the_hole_before_the_reservation() -> None:
    problem = blocked_head()
    assert starts(problem, easy_plan(problem)) == {"big": ("p1", 4), "small": ("p1", 1)}


def test_easy_never_delays_the_head_reservation() -> None:
    # "long" would fit now, but its run [1, 5) overlaps the head's reservation [4, 6), which needs all 4
    problem = blocked_head(make_request("long", LARGE, 1, 4, 1, 12))
    assert starts(problem, easy_plan(problem)) == {"big": ("p1", 4), "small": ("p1", 1), "long": ("p1", 6)}
    # without the reservation, placing "long" first pushes the head back
    no_head = make_problem(problem.pools, [problem.request_by_id["long"]], commitments=problem.commitments)
    assert starts(no_head, easy_plan(no_head)) == {"long": ("p1", 1)}


def test_easy_backfills_across_the_reservation_into_capacity_it_leaves_free() -> None:
    problem = make_problem(
        [make_pool(capacity=4)],
        [make_request("head", LARGE, 3, 2, 0, 12), make_request("long", LARGE, 1, 6, 1, 12)],
        commitments=[make_commitment("p1", 0, 4, 2)],
    )
    # the head needs 3 of 4 from slot 4: one accelerator stays free, so "long" may run through the reservation
    assert starts(problem, easy_plan(problem)) == {"head": ("p1", 4), "long": ("p1", 1)}


def test_easy_orders_the_queue_by_class_priority() -> None:
    problem = make_problem(
        [make_pool(capacity=4)],
        [make_request("large", LARGE, 4, 2, 0, 12), make_request("key", KEY, 4, 2, 1, 12)],
        commitments=[make_commitment("p1", 0, 2, 4)],
    )
    # the key project arrives later but goes ahead of the waiting large enterprise (FIFO does the opposite)
    assert starts(problem, easy_plan(problem)) == {"key": ("p1", 2), "large": ("p1", 4)}


def test_easy_drops_a_head_that_cannot_meet_its_deadline() -> None:
    problem = make_problem(
        [make_pool(capacity=4)],
        [make_request("doomed", KEY, 4, 2, 0, 3), make_request("small", LARGE, 1, 6, 0, 12)],
        commitments=[make_commitment("p1", 0, 4, 2)],
    )
    assert starts(problem, easy_plan(problem)) == {"small": ("p1", 0)}


def test_easy_backfill_leaves_the_head_the_subsidy_its_price_ceiling_needs() -> None:
    # the head (cost 800, ceiling 400) needs its whole 400 fen of subsidy; the budget holds 400. "small" (SME,
    # voucher) fits now but would take 100 fen of it, so it may not jump ahead: it runs after the head.
    problem = make_problem(
        [make_pool(capacity=4)],
        [
            make_request("head", SME, 4, 2, 0, 12, voucher_id="v1", max_cost_fen=400),
            make_request("small", SME, 1, 2, 1, 12, voucher_id="v1"),
        ],
        vouchers=[make_voucher("v1", SME, 50)],
        programme=make_programme(voucher_budget_fen=400),
        commitments=[make_commitment("p1", 0, 4, 2)],
    )
    plan = easy_plan(problem)
    assert starts(problem, plan) == {"head": ("p1", 4), "small": ("p1", 6)}
    assert {p.request_id: p.subsidy_fen for p in plan} == {"head": 400, "small": 0}


# ---------------------------------------------------------------- quota with borrowing


def test_quota_borrows_the_idle_share_of_another_class() -> None:
    problem = make_problem([make_pool(capacity=4)], [make_request("big", LARGE, 4, 2, 0, 12)])
    assert nominal_quotas(problem, HALF_LARGE_HALF_RESEARCH)[OrgClass.LARGE] == {"p1": 2}
    # research has no demand: large borrows its 2 accelerators and starts at once
    assert starts(problem, quota_plan(problem, HALF_LARGE_HALF_RESEARCH)) == {"big": ("p1", 0)}
    # without borrowing, 4 accelerators never fit a nominal quota of 2
    assert starts(problem, quota_plan(problem, HALF_LARGE_HALF_RESEARCH, borrowing=False)) == {}


def test_quota_returns_borrowed_capacity_to_the_lender_whose_demand_arrives_later() -> None:
    # research's request arrives at slot 1 and must run in [1, 3): borrowing its share at slot 0 for [0, 2)
    # would take it. So large waits until research is done and borrows then.
    problem = make_problem(
        [make_pool(capacity=4)],
        [make_request("big", LARGE, 4, 2, 0, 12), make_request("lender", RESEARCH, 2, 2, 1, 3)],
    )
    assert starts(problem, quota_plan(problem, HALF_LARGE_HALF_RESEARCH)) == {"lender": ("p1", 1), "big": ("p1", 3)}


def test_quota_lends_only_the_slots_the_lender_does_not_need() -> None:
    # the lender needs its share in [6, 8) only: large borrows it in [0, 2)
    problem = make_problem(
        [make_pool(capacity=4)],
        [make_request("big", LARGE, 4, 2, 0, 12), make_request("lender", RESEARCH, 2, 2, 6, 8)],
    )
    assert starts(problem, quota_plan(problem, HALF_LARGE_HALF_RESEARCH)) == {"big": ("p1", 0), "lender": ("p1", 6)}


def test_quota_within_its_share_needs_only_free_capacity() -> None:
    problem = make_problem(
        [make_pool(capacity=4)],
        [make_request("a", LARGE, 2, 2, 0, 12), make_request("b", LARGE, 2, 2, 0, 12)],
        commitments=[make_commitment("p1", 0, 12, 2)],
    )
    # one of 2 free accelerators at a time: the second waits for the first, whichever share is idle
    assert starts(problem, quota_plan(problem, HALF_LARGE_HALF_RESEARCH)) == {"a": ("p1", 0), "b": ("p1", 2)}


def test_quota_shares_follow_the_class_mix_and_round_by_largest_remainder() -> None:
    problem = make_problem(
        [make_pool(capacity=4)],
        [
            make_request("s", SME, 2, 2, 0, 12),
            make_request("l", LARGE, 1, 4, 0, 12),
            make_request("r", RESEARCH, 4, 1, 0, 12),
        ],
    )
    assert class_shares(problem) == {
        OrgClass.SME: Fraction(1, 3),
        OrgClass.LARGE: Fraction(1, 3),
        OrgClass.RESEARCH: Fraction(1, 3),
        OrgClass.KEY_PROJECT: 0,
    }
    # 4/3 each: one accelerator each, and the one left goes to the highest class weight among equal remainders
    quotas = nominal_quotas(problem)
    assert {c: q["p1"] for c, q in quotas.items()} == {
        OrgClass.SME: 2,
        OrgClass.LARGE: 1,
        OrgClass.RESEARCH: 1,
        OrgClass.KEY_PROJECT: 0,
    }


def test_quota_rejects_shares_that_add_up_to_nothing() -> None:
    with pytest.raises(ValueError, match="shares"):
        nominal_quotas(make_problem(), {OrgClass.SME: 0})


# ---------------------------------------------------------------- the same rules for every baseline

RESERVE_CASE = make_problem(
    [make_pool(capacity=4)],
    [
        make_request("sme4", SME, 4, 2, 0, 12),
        make_request("large3", LARGE, 3, 2, 0, 12),
        make_request("large2", LARGE, 2, 2, 0, 12),
    ],
    make_policy(sme_reserve_pct=50, reserve_release_hours=0),
)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        # strict arrival order (all arrive at 0, so by id): large2 first
        ("fifo", {"large2": ("p1", 0), "sme4": ("p1", 2)}),
        # SMEs have the higher class weight
        ("easy", {"sme4": ("p1", 0), "large2": ("p1", 2)}),
        # nominal quotas sme 2, large 2: large2 fits its quota at once; sme4 borrows once large's share is idle
        ("quota", {"large2": ("p1", 0), "sme4": ("p1", 2)}),
        ("greedy", {"sme4": ("p1", 0), "large2": ("p1", 2)}),
    ],
)
def test_every_baseline_keeps_the_sme_reserve(name: str, expected: dict) -> None:
    # non-SMEs may hold 2 of 4: "large3" never fits
    assert starts(RESERVE_CASE, BASELINES[name](RESERVE_CASE)) == expected


VOUCHER_CASE = make_problem(
    [make_pool(capacity=4, price_fen_per_hour=100)],
    [
        make_request("a", SME, 2, 2, 0, 12, voucher_id="v1"),
        make_request("b", SME, 2, 2, 0, 12, voucher_id="v1"),
        make_request("c", SME, 1, 2, 0, 12, voucher_id="v1", max_cost_fen=100),
    ],
    vouchers=[make_voucher("v1", SME, 50)],
    programme=make_programme(voucher_budget_fen=300),
)


@pytest.mark.parametrize("name", sorted(BASELINES))
def test_every_baseline_pays_vouchers_in_full_until_the_budget_runs_out(name: str) -> None:
    plan = BASELINES[name](VOUCHER_CASE)
    assert starts(VOUCHER_CASE, plan) == {"a": ("p1", 0), "b": ("p1", 0)}
    # a: 400 fen, 200 entitled and paid; b: the 100 left of the budget; c: 200 fen, above its ceiling of 100
    # once the budget is spent
    assert {p.request_id: (p.cost_fen, p.subsidy_fen) for p in plan} == {"a": (400, 200), "b": (400, 100)}


# ---------------------------------------------------------------- run_baseline


@pytest.mark.parametrize("name", sorted(BASELINES))
def test_run_baseline_reports_like_a_solve(name: str) -> None:
    problem = blocked_head(make_request("long", LARGE, 1, 4, 1, 12), make_request("never", LARGE, 5, 1, 0, 12))
    result = run_baseline(name, problem)
    assert result.status == "baseline"
    assert result.plan == BASELINES[name](problem)
    assert result.objective == formulas.objective_milli(problem, result.plan) / formulas.MILLI
    assert result.bound >= result.objective
    assert result.wall_time_s >= 0
    assert set(result.reasons) == {r.id for r in problem.requests} - {p.request_id for p in result.plan}
    assert result.reasons["never"].code == "too_large"


def test_run_baseline_names_the_known_baselines() -> None:
    with pytest.raises(ValueError, match="fifo, easy, quota, greedy"):
        run_baseline("slurm", make_problem())
