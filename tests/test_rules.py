"""Every rule on tiny hand-built instances.

First the validator: for each rule a feasible plan that :func:`violations` accepts and an infeasible one that
it rejects with that rule's code. Then the optimiser: instances where the rule must change its decision, each
plan checked by the validator. Then the reason given for each kind of unplaced request.
"""

from __future__ import annotations

import dataclasses
from fractions import Fraction

import pytest

from scheduler.model import formulas
from scheduler.model.domain import Placement, Problem
from scheduler.optimise.solve import Result, SolveParams, solve
from scheduler.rules.reasons import explain
from scheduler.rules.validate import objective, violations
from tests.factories import (
    KEY,
    LARGE,
    RESEARCH,
    SME,
    entitlement,
    make_commitment,
    make_policy,
    make_pool,
    make_problem,
    make_programme,
    make_request,
    make_site,
    make_voucher,
    place,
)

PARAMS = SolveParams(time_limit_s=5, num_workers=2, warm_start=False)  # the model itself, not the greedy start


def rules_of(problem: Problem, plan: tuple[Placement, ...]) -> set[str]:
    return {v.rule for v in violations(problem, plan)}


def assert_both_ways(problem: Problem, good: tuple[Placement, ...], bad: tuple[Placement, ...], *rules: str) -> None:
    """``good`` passes every rule; ``bad`` breaks exactly ``rules``."""
    assert violations(problem, good) == []
    assert rules_of(problem, bad) == set(rules), violations(problem, bad)


def run(problem: Problem) -> Result:
    """Solve with CP-SAT from the empty plan, and check the plan with the validator and CP-SAT's own objective
    value against the one recomputed outside the solver."""
    result = solve(problem, PARAMS)
    assert violations(problem, result.plan) == []
    assert result.status == "optimal", result.message
    if result.bound == 0:  # nothing can be placed at a gain: there is nothing for the model to decide
        assert result.plan == ()
    else:
        assert result.solver_status == "OPTIMAL", "the model was never run"
        assert result.solver_objective == objective(problem, result.plan) == result.objective
    assert set(result.reasons) == {r.id for r in problem.requests} - {p.request_id for p in result.plan}
    return result


def by_request(result: Result) -> dict[str, Placement]:
    return {p.request_id: p for p in result.plan}


# --------------------------------------------------------------------------------------------------------------
# validator: placement


def test_unknown_request() -> None:
    problem = make_problem(requests=[make_request("r1", LARGE, 2, 2, 0, 12)])
    good = (place(problem, "r1", "p1", 0),)
    assert_both_ways(problem, good, (*good, Placement("ghost", "p1", 0, 200, end_slot=2)), "unknown_request")


def test_double_booking() -> None:
    problem = make_problem(requests=[make_request("r1", LARGE, 2, 2, 0, 12)])
    good = (place(problem, "r1", "p1", 0),)
    assert_both_ways(problem, good, (*good, place(problem, "r1", "p1", 6)), "double_booked")


def test_ineligible_pool_by_type() -> None:
    pools = [make_pool("p1", accelerator_type="A800"), make_pool("p2", accelerator_type="910B")]
    problem = make_problem(pools, [make_request("r1", LARGE, 2, 2, 0, 12, types={"910B"})])
    assert_both_ways(problem, (place(problem, "r1", "p2", 0),), (place(problem, "r1", "p1", 0),), "ineligible_pool")


def test_ineligible_pool_by_site() -> None:
    pools = [make_pool("p1", site_id="s1"), make_pool("p2", site_id="s2")]
    problem = make_problem(pools, [make_request("r1", LARGE, 2, 2, 0, 12, sites={"s2"})])
    assert_both_ways(problem, (place(problem, "r1", "p2", 0),), (place(problem, "r1", "p1", 0),), "ineligible_pool")


def test_ineligible_pool_by_size() -> None:
    pools = [make_pool("p1", capacity=4), make_pool("p2", capacity=8)]
    problem = make_problem(pools, [make_request("r1", SME, 6, 2, 0, 12)])
    bad = (place(problem, "r1", "p1", 0),)
    # six accelerators on a pool of four also overflows it
    assert_both_ways(problem, (place(problem, "r1", "p2", 0),), bad, "ineligible_pool", "capacity")


def test_unknown_pool() -> None:
    problem = make_problem(requests=[make_request("r1", LARGE, 2, 2, 0, 12)])
    good = (place(problem, "r1", "p1", 0),)
    assert_both_ways(problem, good, (Placement("r1", "nowhere", 0, 400, end_slot=2),), "ineligible_pool")


def test_end_slot_is_the_run_at_the_pool_speed() -> None:
    problem = make_problem(pools=[make_pool(speed=Fraction(1, 2))], requests=[make_request("r1", LARGE, 2, 2, 0, 12)])
    good = place(problem, "r1", "p1", 0)
    assert good.end_slot == 4  # two hours at half speed
    assert_both_ways(problem, (good,), (dataclasses.replace(good, end_slot=2),), "run")


def test_window_before_earliest() -> None:
    problem = make_problem(requests=[make_request("r1", LARGE, 2, 2, 3, 9)])
    bad = (place(problem, "r1", "p1", 2),)
    assert_both_ways(problem, (place(problem, "r1", "p1", 3),), bad, "window")
    assert violations(problem, bad)[0].slot == 2


def test_window_after_deadline() -> None:
    problem = make_problem(requests=[make_request("r1", LARGE, 2, 2, 3, 9)])
    bad = (place(problem, "r1", "p1", 8),)
    assert_both_ways(problem, (place(problem, "r1", "p1", 7),), bad, "window")
    assert violations(problem, bad)[0].slot == 10  # where the run ends


def test_window_past_the_horizon() -> None:
    problem = make_problem(requests=[make_request("r1", LARGE, 2, 2, 0, 40)], slots=12)
    assert_both_ways(problem, (place(problem, "r1", "p1", 10),), (place(problem, "r1", "p1", 11),), "window")


def test_window_counts_run_on_slower_pool() -> None:
    # 3 reference hours at speed 1/2 run 6 hours: starting at 4 ends at 10 > deadline 9
    problem = make_problem([make_pool(speed=Fraction(1, 2))], [make_request("r1", LARGE, 1, 3, 0, 9)])
    assert_both_ways(problem, (place(problem, "r1", "p1", 3),), (place(problem, "r1", "p1", 4),), "window")


def test_window_in_half_hour_slots() -> None:
    # 2 hours are 4 half-hour slots
    problem = make_problem(requests=[make_request("r1", LARGE, 1, 2, 0, 10)], slots=12, slot_minutes=30)
    assert_both_ways(problem, (place(problem, "r1", "p1", 6),), (place(problem, "r1", "p1", 7),), "window")


def test_price() -> None:
    problem = make_problem(requests=[make_request("r1", LARGE, 2, 3, 0, 12)])
    assert place(problem, "r1", "p1", 0).cost_fen == 2 * 3 * 100
    bad = (place(problem, "r1", "p1", 0, cost_fen=599),)
    assert_both_ways(problem, (place(problem, "r1", "p1", 0),), bad, "price")


def test_price_uses_run_hours_on_faster_pool() -> None:
    # 3 reference hours at speed 2 run ceil(1.5) = 2 hours: 2 accelerators * 2 h * 100 fen
    problem = make_problem([make_pool(speed=2)], [make_request("r1", LARGE, 2, 3, 0, 12)])
    assert place(problem, "r1", "p1", 0).cost_fen == 400
    bad = (place(problem, "r1", "p1", 0, cost_fen=600),)
    assert_both_ways(problem, (place(problem, "r1", "p1", 0),), bad, "price")


def test_price_is_the_same_for_every_class() -> None:
    requests = [make_request(f"r_{org}", org, 1, 2, 0, 12) for org in (SME, LARGE, RESEARCH, KEY)]
    problem = make_problem([make_pool(capacity=4)], requests)
    plan = tuple(place(problem, r.id, "p1", 0, cost_fen=200) for r in requests)
    assert violations(problem, plan) == []


# --------------------------------------------------------------------------------------------------------------
# validator: capacity (SME requests, so that the SME reserve rule, which also bounds non-SMEs by the room left,
# stays silent)


def test_capacity() -> None:
    requests = [make_request("r1", SME, 3, 2, 0, 12), make_request("r2", SME, 2, 2, 0, 12)]
    problem = make_problem([make_pool(capacity=4)], requests)
    good = (place(problem, "r1", "p1", 0), place(problem, "r2", "p1", 2))
    bad = (place(problem, "r1", "p1", 0), place(problem, "r2", "p1", 1))
    assert_both_ways(problem, good, bad, "capacity")
    assert [(v.pool_id, v.slot) for v in violations(problem, bad)] == [("p1", 1)]


def test_capacity_with_maintenance() -> None:
    pool = make_pool(capacity=4, maintenance=[(2, 4, 2)])
    problem = make_problem([pool], [make_request("r1", SME, 3, 2, 0, 12)])
    bad = (place(problem, "r1", "p1", 1),)
    assert_both_ways(problem, (place(problem, "r1", "p1", 4),), bad, "capacity")
    assert [v.slot for v in violations(problem, bad)] == [2]
    assert violations(problem, (place(problem, "r1", "p1", 0),)) == []  # ends as maintenance begins


def test_capacity_with_overlapping_maintenance() -> None:
    pool = make_pool(capacity=4, maintenance=[(2, 6, 1), (4, 8, 2)])
    problem = make_problem([pool], [make_request("r1", SME, 2, 1, 0, 12)])
    assert_both_ways(problem, (place(problem, "r1", "p1", 3),), (place(problem, "r1", "p1", 4),), "capacity")


def test_capacity_with_commitments() -> None:
    commitments = [make_commitment("p1", 0, 6, 2), make_commitment("p1", 4, 8, 1, sme=True)]
    problem = make_problem([make_pool(capacity=4)], [make_request("r1", SME, 2, 2, 0, 12)], commitments=commitments)
    bad = (place(problem, "r1", "p1", 3),)
    assert_both_ways(problem, (place(problem, "r1", "p1", 8),), bad, "capacity")
    assert [v.slot for v in violations(problem, bad)] == [4]
    assert violations(problem, (place(problem, "r1", "p1", 0),)) == []


def test_capacity_overflow_by_non_smes_is_reported_as_capacity() -> None:
    requests = [make_request("r1", LARGE, 3, 2, 0, 12), make_request("r2", RESEARCH, 2, 2, 0, 12)]
    problem = make_problem([make_pool(capacity=4)], requests)
    assert "capacity" in rules_of(problem, (place(problem, "r1", "p1", 0), place(problem, "r2", "p1", 1)))


# --------------------------------------------------------------------------------------------------------------
# validator: SME reserve (pool of 4, half reserved, from slot 6 on)

RESERVE = make_policy(sme_reserve_pct=50, reserve_release_hours=6)


def test_sme_reserve_binds_from_the_release_slot() -> None:
    problem = make_problem([make_pool(capacity=4)], [make_request("r1", LARGE, 3, 2, 0, 12)], RESERVE)
    bad = (place(problem, "r1", "p1", 5),)
    assert_both_ways(problem, (place(problem, "r1", "p1", 4),), bad, "sme_reserve")
    assert [(v.pool_id, v.slot) for v in violations(problem, bad)] == [("p1", 6)]


def test_sme_reserve_lent_to_everyone_before_release() -> None:
    requests = [make_request("r1", LARGE, 4, 6, 0, 12)]
    problem = make_problem([make_pool(capacity=4)], requests, RESERVE)
    assert_both_ways(problem, (place(problem, "r1", "p1", 0),), (place(problem, "r1", "p1", 1),), "sme_reserve")


def test_sme_reserve_open_to_smes() -> None:
    requests = [make_request("sme1", SME, 4, 2, 0, 12), make_request("big", KEY, 4, 2, 0, 12)]
    problem = make_problem([make_pool(capacity=4)], requests, RESERVE)
    assert_both_ways(problem, (place(problem, "sme1", "p1", 6),), (place(problem, "big", "p1", 6),), "sme_reserve")


def test_sme_reserve_counts_all_non_sme_classes_together() -> None:
    requests = [
        make_request("large", LARGE, 2, 2, 0, 12),
        make_request("research", RESEARCH, 1, 2, 0, 12),
        make_request("sme1", SME, 2, 2, 0, 12),
    ]
    problem = make_problem([make_pool(capacity=4)], requests, RESERVE)
    good = (place(problem, "large", "p1", 8), place(problem, "sme1", "p1", 8))
    bad = (place(problem, "large", "p1", 8), place(problem, "research", "p1", 8))
    assert_both_ways(problem, good, bad, "sme_reserve")


def test_sme_reserve_of_capacity_after_maintenance() -> None:
    # from slot 6 only 2 are available, of which non-SMEs may hold floor(2 * 50%) = 1
    pool = make_pool(capacity=4, maintenance=[(6, 12, 2)])
    problem = make_problem([pool], [make_request("r1", LARGE, 2, 2, 0, 12)], RESERVE)
    assert_both_ways(problem, (place(problem, "r1", "p1", 4),), (place(problem, "r1", "p1", 6),), "sme_reserve")


def test_sme_reserve_rounds_the_non_sme_share_down() -> None:
    # 30 % of 5 reserved: non-SMEs hold at most floor(5 * 70 / 100) = 3
    policy = make_policy(sme_reserve_pct=30, reserve_release_hours=0)
    requests = [make_request("r3", LARGE, 3, 2, 0, 12), make_request("r4", LARGE, 4, 2, 0, 12)]
    problem = make_problem([make_pool(capacity=5)], requests, policy)
    assert_both_ways(problem, (place(problem, "r3", "p1", 0),), (place(problem, "r4", "p1", 0),), "sme_reserve")


def test_sme_reserve_less_non_sme_commitments() -> None:
    commitments = [make_commitment("p1", 0, 12, 1, sme=False), make_commitment("p1", 0, 12, 1, sme=True)]
    problem = make_problem(
        [make_pool(capacity=4)], [make_request("r1", LARGE, 2, 2, 0, 12)], RESERVE, None, (), commitments
    )
    good = (place(problem, "r1", "p1", 4),)  # before release: 2 of the 2 still free
    assert_both_ways(problem, good, (place(problem, "r1", "p1", 6),), "sme_reserve")
    one = make_request("r1", LARGE, 1, 2, 0, 12)
    problem = make_problem([make_pool(capacity=4)], [one], RESERVE, None, (), commitments)
    assert violations(problem, (place(problem, "r1", "p1", 6),)) == []


def test_sme_reserve_release_rounds_up_to_a_slot_boundary() -> None:
    # 3 hours in 2-hour slots: slot 1 starts 2 h after now (lent), slot 2 at 4 h (reserved)
    policy = make_policy(sme_reserve_pct=50, reserve_release_hours=3)
    problem = make_problem([make_pool(capacity=4)], [make_request("r1", LARGE, 4, 2, 0, 6)], policy, slot_minutes=120)
    assert problem.release_slot == 2
    assert_both_ways(problem, (place(problem, "r1", "p1", 1),), (place(problem, "r1", "p1", 2),), "sme_reserve")


# --------------------------------------------------------------------------------------------------------------
# validator: vouchers (cost 1 accelerator * 4 h * 100 fen = 400 fen unless said otherwise)


def voucher_problem(
    voucher_kw: dict | None = None,
    programme_kw: dict | None = None,
    pools: list | None = None,
    sites: list | None = None,
    requests: list | None = None,
    extra_vouchers: tuple = (),
) -> Problem:
    requests = requests or [make_request("r1", SME, 1, 4, 0, 12, voucher_id="v1")]
    return make_problem(
        pools=pools,
        requests=requests,
        programme=make_programme(**(programme_kw or {})),
        vouchers=(make_voucher("v1", SME, **(voucher_kw or {})), *extra_vouchers),
        sites=sites,
    )


def test_voucher_entitlement_only_when_valid_at_the_start() -> None:
    problem = voucher_problem({"ratio_pct": 50, "valid_from": 2, "valid_until": 5})
    assert entitlement(problem, "r1", "p1", 4) == 200  # runs past the validity: the start is what counts
    assert entitlement(problem, "r1", "p1", 5) == 0
    assert entitlement(problem, "r1", "p1", 1) == 0
    good = (place(problem, "r1", "p1", 4, 200),)
    assert_both_ways(problem, good, (place(problem, "r1", "p1", 5, 200),), "voucher_entitlement")
    assert_both_ways(problem, good, (place(problem, "r1", "p1", 1, 200),), "voucher_entitlement")
    assert violations(problem, (place(problem, "r1", "p1", 5, 0),)) == []


def test_voucher_entitlement_above_the_ratio_or_negative() -> None:
    problem = voucher_problem({"ratio_pct": 50})
    good = (place(problem, "r1", "p1", 0, 200),)
    assert_both_ways(problem, good, (place(problem, "r1", "p1", 0, 201),), "voucher_entitlement")
    assert_both_ways(problem, good, (place(problem, "r1", "p1", 0, -1),), "voucher_entitlement")


def test_voucher_entitlement_without_voucher() -> None:
    problem = voucher_problem(requests=[make_request("r1", SME, 1, 4, 0, 12)])
    good = (place(problem, "r1", "p1", 0, 0),)
    assert_both_ways(problem, good, (place(problem, "r1", "p1", 0, 1),), "voucher_entitlement")


def test_voucher_entitlement_rounds_down() -> None:
    # 1 accelerator * 3 h * 333 fen = 999 fen at 50 %: 499 fen
    problem = voucher_problem(
        {"ratio_pct": 50},
        pools=[make_pool(price_fen_per_hour=333)],
        requests=[make_request("r1", SME, 1, 3, 0, 12, voucher_id="v1")],
    )
    assert entitlement(problem, "r1", "p1", 0) == 499
    good = (place(problem, "r1", "p1", 0, 499),)
    assert_both_ways(problem, good, (place(problem, "r1", "p1", 0, 500),), "voucher_entitlement")


def test_voucher_domestic_bonus() -> None:
    pools = [make_pool("dom", domestic=True, accelerator_type="910B"), make_pool("imp", domestic=False)]
    problem = voucher_problem({"ratio_pct": 30}, {"domestic_bonus_pct": 10}, pools=pools)
    assert entitlement(problem, "r1", "dom", 0) == 160
    assert entitlement(problem, "r1", "imp", 0) == 120
    good = (place(problem, "r1", "dom", 0, 160),)
    assert_both_ways(problem, good, (place(problem, "r1", "dom", 0, 161),), "voucher_entitlement")
    assert_both_ways(problem, good, (place(problem, "r1", "dom", 0, 120),), "voucher_paid_in_full")
    good = (place(problem, "r1", "imp", 0, 120),)
    assert_both_ways(problem, good, (place(problem, "r1", "imp", 0, 160),), "voucher_entitlement")


def test_voucher_green_bonus() -> None:
    sites = [make_site("s1", green_share=0.49), make_site("s2", green_share=0.5)]
    pools = [make_pool("grey", site_id="s1"), make_pool("green", site_id="s2")]
    problem = voucher_problem({"ratio_pct": 30}, {"green_bonus_pct": 20}, pools=pools, sites=sites)
    assert entitlement(problem, "r1", "green", 0) == 200  # at the threshold counts as green
    assert entitlement(problem, "r1", "grey", 0) == 120
    good = (place(problem, "r1", "green", 0, 200),)
    assert_both_ways(problem, good, (place(problem, "r1", "green", 0, 201),), "voucher_entitlement")
    good = (place(problem, "r1", "grey", 0, 120),)
    assert_both_ways(problem, good, (place(problem, "r1", "grey", 0, 200),), "voucher_entitlement")


def test_voucher_bonuses_add_up_and_cap_at_100_pct() -> None:
    sites = [make_site("s1", green_share=0.9)]
    pools = [make_pool("dom", domestic=True)]
    problem = voucher_problem({"ratio_pct": 90}, {"domestic_bonus_pct": 20, "green_bonus_pct": 20}, pools, sites)
    assert entitlement(problem, "r1", "dom", 0) == 400
    good = (place(problem, "r1", "dom", 0, 400),)
    assert_both_ways(problem, good, (place(problem, "r1", "dom", 0, 401),), "voucher_entitlement")


def test_voucher_balance() -> None:
    requests = [make_request(r, SME, 1, 4, 0, 12, voucher_id="v1") for r in ("r1", "r2")]
    problem = voucher_problem({"ratio_pct": 50, "balance_fen": 300}, requests=requests)
    good = (place(problem, "r1", "p1", 0, 200), place(problem, "r2", "p1", 0, 100))
    bad = (place(problem, "r1", "p1", 0, 200), place(problem, "r2", "p1", 0, 200))
    assert_both_ways(problem, good, bad, "voucher_balance")


def test_programme_budget() -> None:
    requests = [
        make_request("r1", SME, 1, 4, 0, 12, voucher_id="v1"),
        make_request("r2", RESEARCH, 1, 4, 0, 12, voucher_id="v2"),
    ]
    problem = voucher_problem(
        {"ratio_pct": 50},
        {"voucher_budget_fen": 300},
        requests=requests,
        extra_vouchers=(make_voucher("v2", RESEARCH),),
    )
    good = (place(problem, "r1", "p1", 0, 200), place(problem, "r2", "p1", 0, 100))
    bad = (place(problem, "r1", "p1", 0, 200), place(problem, "r2", "p1", 0, 200))
    assert_both_ways(problem, good, bad, "programme_budget")


def test_paid_in_full_unless_voucher_exhausted() -> None:
    requests = [make_request(r, SME, 1, 4, 0, 12, voucher_id="v1") for r in ("r1", "r2")]
    problem = voucher_problem({"ratio_pct": 50, "balance_fen": 300}, requests=requests)
    good = (place(problem, "r1", "p1", 0, 150), place(problem, "r2", "p1", 0, 150))  # spent to the fen
    bad = (place(problem, "r1", "p1", 0, 150), place(problem, "r2", "p1", 0, 149))
    assert_both_ways(problem, good, bad, "voucher_paid_in_full")


def test_paid_in_full_unless_budget_exhausted() -> None:
    problem = voucher_problem({"ratio_pct": 50}, {"voucher_budget_fen": 150})
    assert_both_ways(
        problem, (place(problem, "r1", "p1", 0, 150),), (place(problem, "r1", "p1", 0, 149),), "voucher_paid_in_full"
    )


def test_paid_in_full_when_money_is_left() -> None:
    problem = voucher_problem({"ratio_pct": 50})
    assert_both_ways(
        problem, (place(problem, "r1", "p1", 0, 200),), (place(problem, "r1", "p1", 0, 0),), "voucher_paid_in_full"
    )


# --------------------------------------------------------------------------------------------------------------
# validator: max_cost, after the subsidy


def test_max_cost_without_voucher() -> None:
    requests = [
        make_request("ok", LARGE, 1, 4, 0, 12, max_cost_fen=400),
        make_request("no", LARGE, 1, 4, 0, 12, max_cost_fen=399),
    ]
    problem = make_problem(requests=requests)
    assert_both_ways(problem, (place(problem, "ok", "p1", 0),), (place(problem, "no", "p1", 0),), "max_cost")


def test_max_cost_after_subsidy() -> None:
    requests = [make_request("r1", SME, 1, 4, 0, 12, max_cost_fen=250, voucher_id="v1")]
    problem = voucher_problem({"ratio_pct": 50, "valid_from": 0, "valid_until": 4}, requests=requests)
    good = (place(problem, "r1", "p1", 3),)  # pays 400 - 200
    assert_both_ways(problem, good, (place(problem, "r1", "p1", 4),), "max_cost")  # no voucher at 4: pays 400


def test_max_cost_when_the_voucher_runs_dry() -> None:
    # the balance of 100 fen is spent: the request pays 400 - 100 = 300 fen
    def problem_with(max_cost_fen: int) -> Problem:
        request = make_request("r1", SME, 1, 4, 0, 12, max_cost_fen=max_cost_fen, voucher_id="v1")
        return voucher_problem({"ratio_pct": 50, "balance_fen": 100}, requests=[request])

    ok, too_low = problem_with(300), problem_with(250)
    assert violations(ok, (place(ok, "r1", "p1", 0, 100),)) == []
    assert rules_of(too_low, (place(too_low, "r1", "p1", 0, 100),)) == {"max_cost"}


def test_empty_plan_is_valid() -> None:
    requests = [make_request("r1", SME, 1, 4, 0, 12, max_cost_fen=1, voucher_id="v1")]
    assert violations(voucher_problem(requests=requests), ()) == []


# --------------------------------------------------------------------------------------------------------------
# optimiser: each rule changes the decision


def test_solver_places_only_one_of_two_that_each_need_most_of_the_pool() -> None:
    requests = [make_request("large", LARGE, 3, 12, 0, 12), make_request("research", RESEARCH, 3, 12, 0, 12)]
    result = run(make_problem([make_pool(capacity=4)], requests))
    assert [p.request_id for p in result.plan] == ["research"]  # the higher class weight wins
    assert result.reasons["large"].code == "outranked"


def test_solver_places_both_when_capacity_allows_in_sequence() -> None:
    requests = [make_request("a", LARGE, 3, 6, 0, 12), make_request("b", LARGE, 3, 6, 0, 12)]
    result = run(make_problem([make_pool(capacity=4)], requests))
    assert sorted(p.start_slot for p in result.plan) == [0, 6]


def test_solver_waits_for_maintenance_to_end() -> None:
    pool = make_pool(capacity=4, maintenance=[(0, 3, 2)])
    result = run(make_problem([pool], [make_request("r1", LARGE, 3, 3, 0, 12)]))
    assert by_request(result)["r1"].start_slot == 3


def test_solver_waits_for_commitments_to_end() -> None:
    commitments = [make_commitment("p1", 0, 5, 2)]
    result = run(make_problem([make_pool(capacity=4)], [make_request("r1", SME, 3, 3, 0, 12)], commitments=commitments))
    assert by_request(result)["r1"].start_slot == 5


def test_solver_respects_type_site_and_size() -> None:
    pools = [
        make_pool("a800_s1", capacity=8, accelerator_type="A800", site_id="s1"),
        make_pool("910b_s1", capacity=8, accelerator_type="910B", site_id="s1"),
        make_pool("910b_s2_small", capacity=4, accelerator_type="910B", site_id="s2"),
        make_pool("910b_s2_big", capacity=8, accelerator_type="910B", site_id="s2", maintenance=[(0, 4, 8)]),
    ]
    requests = [
        make_request("by_type", LARGE, 2, 2, 0, 12, types={"910B"}, sites={"s1"}),
        make_request("by_site", LARGE, 2, 2, 0, 12, sites={"s2"}),
        make_request("by_size", LARGE, 6, 2, 0, 12, types={"910B"}, sites={"s2"}),
    ]
    placed = by_request(run(make_problem(pools, requests)))
    assert placed["by_type"].pool_id == "910b_s1"
    assert placed["by_site"].pool_id in {"910b_s2_small", "910b_s2_big"}
    assert (placed["by_size"].pool_id, placed["by_size"].start_slot) == ("910b_s2_big", 4)


def test_solver_respects_the_window() -> None:
    requests = [
        make_request("late", LARGE, 4, 2, 5, 12),
        make_request("tight", RESEARCH, 4, 3, 0, 3),
        make_request("after", KEY, 4, 2, 0, 7),
    ]
    placed = by_request(run(make_problem([make_pool(capacity=4)], requests)))
    assert placed["tight"].start_slot == 0
    assert placed["after"].start_slot == 3
    assert placed["late"].start_slot == 5


def test_solver_charges_the_list_price() -> None:
    pools = [make_pool("fast", speed=2, price_fen_per_hour=300, accelerator_type="H20")]
    result = run(make_problem(pools, [make_request("r1", LARGE, 2, 5, 0, 12)]))
    assert by_request(result)["r1"].cost_fen == 2 * 3 * 300


@pytest.mark.parametrize(("release_hours", "placed"), [(12, True), (6, False)])
def test_solver_lends_the_reserve_only_before_release(release_hours: int, placed: bool) -> None:
    policy = make_policy(sme_reserve_pct=50, reserve_release_hours=release_hours)
    problem = make_problem([make_pool(capacity=4)], [make_request("r1", LARGE, 3, 2, 6, 12)], policy)
    result = run(problem)
    if placed:
        assert by_request(result)["r1"].start_slot == 6
    else:
        assert result.plan == ()
        assert result.reasons["r1"].code == "reserve_only"


def test_solver_fits_non_sme_before_the_release_slot() -> None:
    policy = make_policy(sme_reserve_pct=50, reserve_release_hours=6)
    problem = make_problem([make_pool(capacity=4)], [make_request("r1", LARGE, 3, 2, 4, 12)], policy)
    assert by_request(run(problem))["r1"].start_slot == 4  # ends exactly at the release slot


def reserve_contest(sme_reserve_pct: int) -> Problem:
    # 4 accelerators for 2 slots: the key project (value 4 * 3 * 2 = 24) outweighs the SME (3 * 2 * 2 = 12)
    policy = make_policy(sme_reserve_pct=sme_reserve_pct, reserve_release_hours=0)
    requests = [make_request("sme1", SME, 2, 2, 0, 2), make_request("big", KEY, 3, 2, 0, 2)]
    return make_problem([make_pool(capacity=4)], requests, policy)


def test_solver_gives_the_reserve_to_smes() -> None:
    assert [p.request_id for p in run(reserve_contest(0)).plan] == ["big"]
    # with half reserved the key project may hold only 2 of the 4
    assert [p.request_id for p in run(reserve_contest(50)).plan] == ["sme1"]


def test_reason_reserve_only_when_smes_hold_the_rest() -> None:
    # "big" never fits the non-SME share of 2, whatever the SME does: the reserve refuses it, not a
    # request of higher value (the SME's value is lower)
    result = run(reserve_contest(50))
    assert result.reasons["big"].code == "reserve_only"


def test_solver_starts_inside_voucher_validity_to_meet_max_cost() -> None:
    # cost 2 h * 100 fen = 200 fen; only with the 50 % voucher, valid from slot 5 to 8, is it within 100 fen
    requests = [make_request("r1", SME, 1, 2, 0, 12, max_cost_fen=100, voucher_id="v1")]
    problem = voucher_problem({"ratio_pct": 50, "valid_from": 5, "valid_until": 8}, requests=requests)
    placement = by_request(run(problem))["r1"]
    assert (placement.start_slot, placement.subsidy_fen) == (5, 100)


def test_solver_uses_domestic_bonus_to_meet_max_cost() -> None:
    # the imported pool is free at 0, the domestic one only from 4; only the domestic bonus meets max_cost
    pools = [make_pool("imp"), make_pool("dom", accelerator_type="910B", domestic=True, maintenance=[(0, 4, 4)])]
    requests = [make_request("r1", SME, 1, 4, 0, 12, max_cost_fen=200, voucher_id="v1")]
    problem = voucher_problem({"ratio_pct": 30}, {"domestic_bonus_pct": 20}, pools=pools, requests=requests)
    placement = by_request(run(problem))["r1"]
    assert (placement.pool_id, placement.start_slot, placement.subsidy_fen) == ("dom", 4, 200)
    # without max_cost the earlier start wins
    free = voucher_problem({"ratio_pct": 30}, {"domestic_bonus_pct": 20}, pools=pools)
    assert by_request(run(free))["r1"].pool_id == "imp"


def test_solver_uses_green_bonus_to_meet_max_cost() -> None:
    sites = [make_site("s1", green_share=0.0), make_site("s2", green_share=0.8)]
    pools = [make_pool("grey", site_id="s1"), make_pool("green", site_id="s2", maintenance=[(0, 4, 4)])]
    requests = [make_request("r1", SME, 1, 4, 0, 12, max_cost_fen=200, voucher_id="v1")]
    problem = voucher_problem({"ratio_pct": 30}, {"green_bonus_pct": 20}, pools, sites, requests)
    placement = by_request(run(problem))["r1"]
    assert (placement.pool_id, placement.start_slot, placement.subsidy_fen) == ("green", 4, 200)


def test_solver_pays_in_full_when_money_is_left() -> None:
    requests = [make_request(f"r{i}", SME, 1, 4, 0, 12, voucher_id="v1") for i in range(3)]
    problem = voucher_problem({"ratio_pct": 50, "balance_fen": 600}, {"voucher_budget_fen": 10_000}, requests=requests)
    assert [p.subsidy_fen for p in run(problem).plan] == [200, 200, 200]


def test_solver_outside_validity_pays_nothing() -> None:
    requests = [make_request("r1", SME, 1, 4, 3, 12, voucher_id="v1")]
    problem = voucher_problem({"ratio_pct": 50, "valid_from": 0, "valid_until": 3}, requests=requests)
    assert by_request(run(problem))["r1"].subsidy_fen == 0


def test_solver_voucher_balance_binds() -> None:
    requests = [make_request(r, SME, 1, 4, 0, 12, voucher_id="v1") for r in ("r1", "r2")]
    problem = voucher_problem({"ratio_pct": 50, "balance_fen": 300}, requests=requests)
    result = run(problem)
    assert len(result.plan) == 2
    assert sum(p.subsidy_fen for p in result.plan) == 300


def test_solver_programme_budget_pays_in_full_until_exhausted_then_partially() -> None:
    requests = [
        make_request("r1", SME, 1, 4, 0, 12, voucher_id="v1"),
        make_request("r2", RESEARCH, 1, 4, 0, 12, voucher_id="v2"),
        make_request("r3", SME, 1, 4, 0, 12, voucher_id="v1"),
    ]
    vouchers = (make_voucher("v2", RESEARCH, ratio_pct=50),)
    problem = voucher_problem(
        {"ratio_pct": 50}, {"voucher_budget_fen": 500}, requests=requests, extra_vouchers=vouchers
    )
    result = run(problem)
    assert len(result.plan) == 3
    paid = sorted(p.subsidy_fen for p in result.plan)
    assert sum(paid) == 500  # the budget is spent to the fen
    assert all(0 <= s <= 200 for s in paid)


def test_solver_programme_budget_goes_where_max_cost_needs_it() -> None:
    # budget 300 for two entitlements of 200: "needy" only fits its max_cost with all of its 200
    requests = [
        make_request("easy", SME, 1, 4, 0, 12, voucher_id="v1"),
        make_request("needy", RESEARCH, 1, 4, 0, 12, max_cost_fen=200, voucher_id="v2"),
    ]
    vouchers = (make_voucher("v2", RESEARCH, ratio_pct=50),)
    problem = voucher_problem(
        {"ratio_pct": 50}, {"voucher_budget_fen": 300}, requests=requests, extra_vouchers=vouchers
    )
    placed = by_request(run(problem))
    assert (placed["needy"].subsidy_fen, placed["easy"].subsidy_fen) == (200, 100)


def test_solver_max_cost_picks_the_cheaper_pool() -> None:
    pools = [
        make_pool("dear", price_fen_per_hour=300),
        make_pool("cheap", accelerator_type="910B", maintenance=[(0, 4, 4)]),
    ]
    requests = [make_request("r1", LARGE, 1, 1, 0, 12, max_cost_fen=250)]
    placement = by_request(run(make_problem(pools, requests)))["r1"]
    assert (placement.pool_id, placement.start_slot) == ("cheap", 4)


def test_solver_weighs_carbon_against_delay() -> None:
    # the greener site is busy for 2 slots: waiting there costs 2 slots of delay and saves half the CO2
    sites = [make_site("grey"), make_site("green", green_share=0.5)]
    pools = [make_pool("p-grey", site_id="grey"), make_pool("p-green", site_id="green", maintenance=[(0, 2, 4)])]
    requests = [make_request("r1", LARGE, 4, 2, 0, 12)]
    for carbon, expected in ((0.0, ("p-grey", 0)), (1.0, ("p-green", 2))):
        policy = make_policy(carbon_weight_per_kg=carbon, delay_weight_per_slot=0.01)
        placement = by_request(run(make_problem(pools, requests, sites=sites, policy=policy)))["r1"]
        assert (placement.pool_id, placement.start_slot) == expected


# --------------------------------------------------------------------------------------------------------------
# reasons


def reason_of(problem: Problem, request_id: str) -> str:
    result = run(problem)
    assert request_id not in by_request(result)
    return result.reasons[request_id].code


def test_reason_no_eligible_pool() -> None:
    pools = [
        make_pool("p1", accelerator_type="910B", site_id="s1"),
        make_pool("p2", accelerator_type="A800", site_id="s2"),
    ]
    problem = make_problem(pools, [make_request("r1", LARGE, 1, 1, 0, 12, types={"910B"}, sites={"s2"})])
    assert reason_of(problem, "r1") == "no_eligible_pool"


def test_reason_too_large() -> None:
    problem = make_problem(
        [make_pool(capacity=4), make_pool("p2", capacity=6)], [make_request("r1", LARGE, 7, 1, 0, 12)]
    )
    assert reason_of(problem, "r1") == "too_large"


def test_reason_window_too_short() -> None:
    problem = make_problem([make_pool(speed=Fraction(1, 2))], [make_request("r1", LARGE, 1, 3, 0, 5)])
    assert reason_of(problem, "r1") == "window_too_short"


def test_reason_window_beyond_the_horizon() -> None:
    problem = make_problem(requests=[make_request("r1", LARGE, 1, 3, 10, 20)], slots=12)
    assert reason_of(problem, "r1") == "window_too_short"


def test_reason_cost_above_max() -> None:
    requests = [make_request("r1", SME, 1, 4, 0, 12, max_cost_fen=150, voucher_id="v1")]
    assert reason_of(voucher_problem({"ratio_pct": 50}, requests=requests), "r1") == "cost_above_max"
    problem = make_problem(requests=[make_request("r1", LARGE, 1, 4, 0, 12, max_cost_fen=399)])
    assert reason_of(problem, "r1") == "cost_above_max"


def test_reason_capacity_full() -> None:
    commitments = [make_commitment("p1", 0, 12, 3)]
    problem = make_problem([make_pool(capacity=4)], [make_request("r1", SME, 2, 1, 0, 12)], commitments=commitments)
    assert reason_of(problem, "r1") == "capacity_full"
    pool = make_pool(capacity=4, maintenance=[(0, 6, 4)])
    assert reason_of(make_problem([pool], [make_request("r1", SME, 2, 1, 0, 6)]), "r1") == "capacity_full"


def test_reason_reserve_only() -> None:
    policy = make_policy(sme_reserve_pct=50, reserve_release_hours=0)
    problem = make_problem([make_pool(capacity=4)], [make_request("r1", LARGE, 3, 1, 0, 12)], policy)
    assert reason_of(problem, "r1") == "reserve_only"


def test_reason_outranked() -> None:
    requests = [make_request("key", KEY, 4, 6, 0, 6), make_request("large", LARGE, 1, 6, 0, 6)]
    assert reason_of(make_problem([make_pool(capacity=4)], requests), "large") == "outranked"


def test_reason_voucher_exhausted() -> None:
    # each needs its full 200 fen subsidy to meet max_cost; the voucher holds 200 fen for both
    requests = [make_request(r, SME, 1, 4, 0, 12, max_cost_fen=200, voucher_id="v1") for r in ("r1", "r2")]
    result = run(voucher_problem({"ratio_pct": 50, "balance_fen": 200}, requests=requests))
    assert len(result.plan) == 1
    assert [r.code for r in result.reasons.values()] == ["voucher_exhausted"]


def test_reason_budget_exhausted() -> None:
    requests = [
        make_request("r1", SME, 1, 4, 0, 12, max_cost_fen=200, voucher_id="v1"),
        make_request("r2", RESEARCH, 1, 4, 0, 12, max_cost_fen=200, voucher_id="v2"),
    ]
    vouchers = (make_voucher("v2", RESEARCH, ratio_pct=50),)
    problem = voucher_problem(
        {"ratio_pct": 50}, {"voucher_budget_fen": 250}, requests=requests, extra_vouchers=vouchers
    )
    result = run(problem)
    assert len(result.plan) == 1
    assert [r.code for r in result.reasons.values()] == ["budget_exhausted"]


def test_reason_not_selected() -> None:
    problem = make_problem(requests=[make_request("r1", LARGE, 1, 1, 0, 12)])
    assert explain(problem, ())["r1"].code == "not_selected"


def test_reasons_only_for_unplaced_requests() -> None:
    requests = [make_request("a", LARGE, 3, 12, 0, 12), make_request("b", RESEARCH, 3, 12, 0, 12)]
    problem = make_problem([make_pool(capacity=4)], requests)
    plan = (place(problem, "a", "p1", 0),)
    assert set(explain(problem, plan)) == {"b"}
    assert explain(problem, plan)["b"].code == "outranked"
    assert explain(problem, plan)["b"].sentence


def test_objective_formula_on_a_hand_plan() -> None:
    # value 1000 * weight 2 * 2 accelerators * 3 h = 12000 milli; delay round(12000 * 0.01) = 120 per slot
    problem = make_problem(requests=[make_request("r1", RESEARCH, 2, 3, 1, 12)])
    plan = (place(problem, "r1", "p1", 4),)
    assert formulas.objective_milli(problem, plan) == 12000 - 3 * 120
    assert objective(problem, plan) == 11.64
