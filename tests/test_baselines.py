"""Hand-made cases where each baseline's right decision is known: exact pool and start, not just validity."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from pathlib import Path

import pytest

from scheduler.io.scenario_writer import write_scenario
from scheduler.io.scenarios import load_scenario
from scheduler.model import formulas
from scheduler.model.domain import ClassQuota, Commitment, OrgClass, Placement, Policy, Problem, Request
from scheduler.model.errors import InputError
from scheduler.optimise.greedy import greedy_plan
from scheduler.rules.validate import violations
from scheduler.sim.baselines import BASELINES, run_baseline
from scheduler.sim.baselines.easy import easy_plan
from scheduler.sim.baselines.fifo import fifo_plan
from scheduler.sim.baselines.quota import PoolQuota, pool_quotas, quota_plan
from tests.factories import (
    HORIZON_START,
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
from tests.test_scenarios import _tiny


def starts(problem: Problem, plan: tuple[Placement, ...]) -> dict[str, tuple[str, int]]:
    """``request -> (pool, start)`` of a plan, after checking it against every rule."""
    assert violations(problem, plan) == []
    return {p.request_id: (p.pool_id, p.start_slot) for p in plan}


def submitted(request: Request, slot: int) -> Request:
    """``request`` submitted at the start of ``slot`` (of the factories' hourly horizon)."""
    return dataclasses.replace(request, submitted_at=HORIZON_START + timedelta(hours=slot))


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


def test_fifo_orders_by_submission_not_by_earliest_start() -> None:
    # "early" was submitted first but may start only at 3; "late" could start at 1 but arrived after it, so it
    # may not start before it (both fit side by side)
    problem = make_problem(
        [make_pool(capacity=4)],
        [
            submitted(make_request("early", LARGE, 2, 2, 3, 12), 0),
            submitted(make_request("late", LARGE, 2, 2, 1, 12), 1),
        ],
    )
    assert starts(problem, fifo_plan(problem)) == {"early": ("p1", 3), "late": ("p1", 3)}
    # without submission times a request arrives at its earliest start: "late" is then first
    unsubmitted = make_problem(problem.pools, [dataclasses.replace(r, submitted_at=None) for r in problem.requests])
    assert starts(unsubmitted, fifo_plan(unsubmitted)) == {"late": ("p1", 1), "early": ("p1", 3)}


def test_fifo_breaks_equal_earliest_starts_by_submission() -> None:
    # both may start at 2 and only one fits at a time: "b" was submitted first
    problem = make_problem(
        [make_pool(capacity=4)],
        [submitted(make_request("a", LARGE, 4, 2, 2, 12), 1), submitted(make_request("b", LARGE, 4, 2, 2, 12), 0)],
    )
    assert starts(problem, fifo_plan(problem)) == {"b": ("p1", 2), "a": ("p1", 4)}


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


def test_easy_breaks_equal_priority_by_submission() -> None:
    # two large enterprises wanting the whole pool from slot 2: the one submitted first goes first
    problem = make_problem(
        [make_pool(capacity=4)],
        [submitted(make_request("a", LARGE, 4, 2, 2, 12), 1), submitted(make_request("b", LARGE, 4, 2, 2, 12), 0)],
    )
    assert starts(problem, easy_plan(problem)) == {"b": ("p1", 2), "a": ("p1", 4)}


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


# ---------------------------------------------------------------- Kueue-style quotas


def quota_policy(**by_class: int | ClassQuota) -> Policy:
    """A policy whose quotas are the given nominal percentages (or whole :class:`ClassQuota`); others get 0."""
    given = {OrgClass(name): q if isinstance(q, ClassQuota) else ClassQuota(q) for name, q in by_class.items()}
    return make_policy(quotas={c: given.get(c, ClassQuota(0)) for c in OrgClass})


HALF_AND_HALF = quota_policy(large=50, research=50)
QUARTER_AND_QUARTER = quota_policy(large=25, research=25)


def test_quota_borrows_the_idle_quota_of_another_class() -> None:
    problem = make_problem([make_pool(capacity=4)], [make_request("big", LARGE, 4, 2, 0, 12)], HALF_AND_HALF)
    assert pool_quotas(problem)[OrgClass.LARGE] == {"p1": PoolQuota(2, None, None)}
    # research has nothing running: large borrows its 2 accelerators and starts at once
    assert starts(problem, quota_plan(problem)) == {"big": ("p1", 0)}


@pytest.mark.parametrize(("borrowing_limit_pct", "placed"), [(None, True), (50, True), (25, False), (0, False)])
def test_quota_borrows_no_more_than_the_borrowing_limit(borrowing_limit_pct: int | None, placed: bool) -> None:
    # 4 accelerators on a nominal quota of 2: the class must borrow 2, so a limit of 1 (25 %) or 0 refuses it
    policy = quota_policy(large=ClassQuota(50, borrowing_limit_pct), research=50)
    problem = make_problem([make_pool(capacity=4)], [make_request("big", LARGE, 4, 2, 0, 12)], policy)
    assert starts(problem, quota_plan(problem)) == ({"big": ("p1", 0)} if placed else {})


def test_quota_lends_no_more_than_the_lending_limit() -> None:
    # on 8 accelerators: large and research hold 4 each, and research lends 2 of its 4 (25 % of 8)
    policy = quota_policy(large=50, research=ClassQuota(50, lending_limit_pct=25))
    problem = make_problem(
        [make_pool(capacity=8)],
        [make_request("four", LARGE, 4, 2, 0, 12), make_request("three", LARGE, 3, 2, 0, 12)],
        policy,
    )
    assert pool_quotas(problem)[OrgClass.RESEARCH] == {"p1": PoolQuota(4, None, 2)}
    # "four" fills large's own quota; "three" would borrow 3 of the 2 lent, so it waits for "four" to end
    assert starts(problem, quota_plan(problem)) == {"four": ("p1", 0), "three": ("p1", 2)}
    # lending all 4, research's idle quota holds both at once
    lends_all = dataclasses.replace(problem, policy=HALF_AND_HALF)
    assert starts(lends_all, quota_plan(lends_all)) == {"four": ("p1", 0), "three": ("p1", 0)}


def test_quota_keeps_what_a_class_does_not_lend_for_it() -> None:
    # 8 accelerators; large and research hold 2 each, the other 4 are in nobody's quota. Large borrows
    # research's 2 at slot 0 for [0, 4); research's request of 1 arrives at slot 1.
    requests = [make_request("big", LARGE, 4, 4, 0, 12), make_request("lender", RESEARCH, 1, 2, 1, 12)]
    problem = make_problem([make_pool(capacity=8)], requests, QUARTER_AND_QUARTER)
    # without a lending limit all of research's quota was lent and nothing is preempted: it waits for "big"
    assert starts(problem, quota_plan(problem)) == {"big": ("p1", 0), "lender": ("p1", 4)}
    # lending 1 of its 2 keeps the other for itself: "big" takes 3 at most, so it may not start; "lender" may
    keeps_one = quota_policy(large=25, research=ClassQuota(25, lending_limit_pct=13))
    guarded = dataclasses.replace(problem, policy=keeps_one)
    assert starts(guarded, quota_plan(guarded)) == {"lender": ("p1", 1)}
    smaller = dataclasses.replace(guarded, requests=(make_request("big", LARGE, 3, 4, 0, 12), requests[1]))
    assert starts(smaller, quota_plan(smaller)) == {"big": ("p1", 0), "lender": ("p1", 1)}


def test_quota_counts_earlier_commitments_of_the_class() -> None:
    # large may not borrow; 2 of its nominal 2 are held by an earlier round until slot 3
    policy = quota_policy(large=ClassQuota(50, borrowing_limit_pct=0), research=50)
    held = Commitment("p1", 0, 3, 2, sme=False, org_class=OrgClass.LARGE)
    problem = make_problem([make_pool(capacity=4)], [make_request("a", LARGE, 2, 2, 0, 12)], policy, commitments=[held])
    assert starts(problem, quota_plan(problem)) == {"a": ("p1", 3)}
    # the same capacity held by research leaves large's quota free; held by no known class, too
    for org_class in (OrgClass.RESEARCH, None):
        other = dataclasses.replace(problem, commitments=(dataclasses.replace(held, org_class=org_class),))
        assert starts(other, quota_plan(other)) == {"a": ("p1", 0)}


# large may not borrow, and 2 of its nominal 2 are committed in [2, 5), after its request could start
FUTURE_COMMITMENT = make_problem(
    [make_pool(capacity=4)],
    [make_request("a", LARGE, 2, 3, 0, 12)],
    quota_policy(large=ClassQuota(50, borrowing_limit_pct=0), research=50),
    commitments=[Commitment("p1", 2, 5, 2, sme=False, org_class=OrgClass.LARGE)],
)


def test_quota_counts_a_commitment_in_every_slot_it_holds() -> None:
    # a run of 3 from slot 0 or 1 would overlap the commitment: the quota is checked in every slot of the run
    assert starts(FUTURE_COMMITMENT, quota_plan(FUTURE_COMMITMENT)) == {"a": ("p1", 5)}


def test_quota_counts_what_an_earlier_round_placed() -> None:
    # Problem.held records the class of what it commits, so the next round's quota sees it
    policy = quota_policy(large=ClassQuota(50, borrowing_limit_pct=0), research=50)
    first = make_problem([make_pool(capacity=4)], [make_request("a", LARGE, 2, 3, 0, 12)], policy)
    (placed,) = quota_plan(first)
    assert first.held(placed).org_class is OrgClass.LARGE
    second = make_problem(
        first.pools, [make_request("b", LARGE, 1, 1, 0, 12)], policy, commitments=[first.held(placed)]
    )
    assert starts(second, quota_plan(second)) == {"b": ("p1", 3)}


def test_quota_admits_the_requests_within_their_quota_before_those_that_borrow() -> None:
    # sme (higher class weight) must borrow 1 for its 3; large's 2 fit its own quota: large goes first, and
    # then the 2 accelerators left do not hold sme's 3
    policy = quota_policy(sme=50, large=50)
    problem = make_problem(
        [make_pool(capacity=4)],
        [make_request("sme_big", SME, 3, 2, 0, 12), make_request("large_small", LARGE, 2, 2, 0, 12)],
        policy,
    )
    assert starts(problem, quota_plan(problem)) == {"large_small": ("p1", 0), "sme_big": ("p1", 2)}


def test_quota_prefers_a_pool_within_its_quota() -> None:
    # the same score on both; p1, listed first, would need borrowing (3 of a quota of 2), p2 holds it (3 of 4)
    problem = make_problem(
        [make_pool("p1", capacity=4), make_pool("p2", capacity=8)],
        [make_request("a", LARGE, 3, 2, 0, 12)],
        HALF_AND_HALF,
    )
    assert starts(problem, quota_plan(problem)) == {"a": ("p2", 0)}


def test_quota_nominal_accelerators_split_each_pool_by_largest_remainder() -> None:
    # 25 % of 10 is 2.5 each: 2 each, and the 2 left go to the highest class weights (key project, then SME)
    problem = make_problem([make_pool(capacity=10)])
    assert {c: q["p1"].nominal for c, q in pool_quotas(problem).items()} == {
        OrgClass.KEY_PROJECT: 3,
        OrgClass.SME: 3,
        OrgClass.RESEARCH: 2,
        OrgClass.LARGE: 2,
    }
    # limits round down: 15 % of 10 is 1
    policy = make_policy(quotas={c: ClassQuota(25, 15, 15) for c in OrgClass})
    limited = make_problem([make_pool(capacity=10)], policy=policy)
    assert pool_quotas(limited)[OrgClass.LARGE] == {"p1": PoolQuota(2, 1, 1)}


@pytest.mark.parametrize(
    ("quotas", "message"),
    [
        (
            {c: ClassQuota(30) for c in OrgClass},
            r"^policy\.quotas: the classes' nominal_pct must add up to at most 100",
        ),
        ({OrgClass.SME: ClassQuota(100)}, r"^policy\.quotas\.large: must be given"),
        ({c: ClassQuota(101 if c is OrgClass.SME else 0) for c in OrgClass}, r"^policy\.quotas\.sme\.nominal_pct: "),
        ({c: ClassQuota(25, borrowing_limit_pct=-1) for c in OrgClass}, r"^policy\.quotas\.sme\.borrowing_limit_pct"),
        (
            {c: ClassQuota(25, lending_limit_pct=26) for c in OrgClass},
            r"^policy\.quotas\.sme\.lending_limit_pct: must not",
        ),
    ],
)
def test_quota_settings_are_checked_and_named(quotas: dict, message: str) -> None:
    with pytest.raises(InputError, match=message):
        Policy(quotas=quotas)


def test_quota_setting_is_read_from_the_scenario_file_and_written_back(tmp_path: Path) -> None:
    block = (
        "  quotas:\n    sme: {nominal_pct: 40, lending_limit_pct: 10}\n"
        "    large: {nominal_pct: 20, borrowing_limit_pct: 5}\n"
        "    research: {nominal_pct: 20}\n    key_project: {nominal_pct: 20}\n"
    )
    weights = "  carbon_weight_per_kg: 0.2\n"
    scenario = load_scenario(_tiny(tmp_path / "in", ("scenario.yaml", weights, weights + block)))
    assert scenario.problem.policy.quotas == {
        OrgClass.SME: ClassQuota(40, None, 10),
        OrgClass.LARGE: ClassQuota(20, 5, None),
        OrgClass.RESEARCH: ClassQuota(20),
        OrgClass.KEY_PROJECT: ClassQuota(20),
    }
    assert load_scenario(write_scenario(scenario, tmp_path / "out")).problem.policy == scenario.problem.policy
    # without a quotas block, the policy's default
    assert load_scenario(_tiny(tmp_path / "default")).problem.policy.quotas == Policy().quotas


@pytest.mark.parametrize(
    ("quotas", "message"),
    [
        (
            "{sme: {nominal_pct: 101}}",
            r"scenario\.yaml: policy\.quotas\.sme\.nominal_pct: must be a whole number in 0\.\.100",
        ),
        ("{sme: {nominal_pct: -1}}", r"scenario\.yaml: policy\.quotas\.sme\.nominal_pct: must be >= 0"),
        ("{sme: {nominal_pc: 10}}", r"scenario\.yaml: policy\.quotas\.sme: unknown key 'nominal_pc'; did you mean"),
        ("{smes: {nominal_pct: 10}}", r"scenario\.yaml: policy\.quotas\.smes: 'smes' is not one of"),
        ("{sme: {nominal_pct: 10}}", r"scenario\.yaml: policy\.quotas\.large: must be given"),
    ],
)
def test_quota_setting_errors_name_the_key(tmp_path: Path, quotas: str, message: str) -> None:
    weights = "  carbon_weight_per_kg: 0.2\n"
    path = _tiny(tmp_path, ("scenario.yaml", weights, f"{weights}  quotas: {quotas}\n"))
    with pytest.raises(InputError, match=message):
        load_scenario(path)


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
        # default quotas (1 of 4 each, no limits): every request must borrow, so class priority decides
        ("quota", {"sme4": ("p1", 0), "large2": ("p1", 2)}),
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
    # all of the pool is the SMEs' quota, so that the quota baseline admits in priority order as the others do
    quota_policy(sme=100),
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
