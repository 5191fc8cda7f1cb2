"""The rolling-horizon simulation: arrivals, commitments, expiry, money across rounds, the whole-run check,
and every scheduler's plans through the validator on a cut of the default scenario."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from scheduler.model import formulas
from scheduler.model.domain import Commitment, Voucher
from scheduler.model.errors import InputError
from scheduler.optimise.solve import SolveParams
from scheduler.rules.validate import violations
from scheduler.sim.online import decide_round, optimiser_view, repaid
from scheduler.sim.simulate import (
    Arrival,
    Demand,
    SimulationParams,
    demand_from_problem,
    load_for_days,
    round_problem,
    run_violations,
    scheduler_names,
    simulate,
)
from tests.factories import (
    LARGE,
    SME,
    make_policy,
    make_pool,
    make_problem,
    make_programme,
    make_request,
    make_site,
    place,
)

ROOT = Path(__file__).resolve().parents[1]
DEFAULT = ROOT / "scenarios" / "shanghai-default" / "scenario.yaml"
FAST = {"time_limit_s": 2.0, "num_workers": 2, "progress": False}


def params(scheduler: str) -> SimulationParams:
    return SimulationParams(scheduler=scheduler, **FAST)  # type: ignore[arg-type]


@pytest.mark.parametrize("scheduler", ["greedy", "optimiser"])
def test_a_request_waits_for_its_arrival_and_for_committed_work(scheduler: str) -> None:
    # pool of 4; A (4 x 3 h) arrives at 0; B (4 x 2 h) arrives at 1 and must wait for A to finish at 3
    a = make_request("a", LARGE, 4, 3, 0, 12)
    b = make_request("b", LARGE, 4, 2, 1, 12)
    problem = make_problem(requests=[a, b])
    demand = Demand((Arrival(0, a), Arrival(1, b)))
    run = simulate(problem, demand, params(scheduler))
    starts = {p.request_id: p.start_slot for p in run.plan}
    assert starts == {"a": 0, "b": 3}
    assert run.decided == {"a": 0, "b": 3}  # committed by the round in which it starts, decided again until then
    outcome = {o.request_id: o for o in run.outcomes}
    assert outcome["b"].start_slot - outcome["b"].arrival_slot == 2
    assert all(o.deadline_met for o in run.outcomes)
    assert run.valid
    assert [r.slot for r in run.rounds] == [0, 1, 2, 3]  # no round without pending requests
    assert [r.pending for r in run.rounds] == [1, 1, 1, 1]


@pytest.mark.parametrize("scheduler", ["greedy", "optimiser", "easy", "fifo", "quota"])
def test_a_round_commits_only_what_starts_before_the_next_round(scheduler: str) -> None:
    # both arrive at 0 on a pool of 4; one must wait 2 or 3 h for the other; with 2-hour rounds a start at 1
    # would be committed at 0, one at 2 or 3 by the round at 2
    a = make_request("a", LARGE, 4, 3, 0, 12)
    b = make_request("b", LARGE, 4, 2, 0, 12)
    problem = make_problem(requests=[a, b])
    demand = Demand((Arrival(0, a), Arrival(0, b)))
    run = simulate(problem, demand, params(scheduler))
    starts = {p.request_id: p.start_slot for p in run.plan}
    assert run.decided == starts  # each committed in the round it starts, decided again until then
    assert sorted(starts.values()) in ([0, 2], [0, 3])
    assert sum(r.placed for r in run.rounds) == 2 and run.valid
    two_hourly = simulate(problem, demand, dataclasses.replace(params(scheduler), round_hours=2))
    assert all(
        two_hourly.decided[p.request_id] <= p.start_slot < two_hourly.decided[p.request_id] + 2 for p in two_hourly.plan
    )
    assert len(two_hourly.plan) == 2 and two_hourly.valid


def test_the_optimiser_values_waiting_in_a_round_more_than_the_policy_does() -> None:
    # a green pool frees up at slot 3; now only a pool on a 100 g/kWh grid: 192 g CO2 cost 38 milli-points at 0.2
    # per kg; three slots of waiting cost 3 x 2 under the policy's 0.05 %, more than 3 x 20 in a round
    sites = [make_site("grey", grid_co2_g_per_kwh=100.0), make_site("green", green_share=1.0)]
    pools = [make_pool("now", site_id="grey"), make_pool("later", site_id="green", maintenance=[(0, 3, 4)])]
    a = make_request("a", LARGE, 2, 2, 0, 12)
    policy = make_policy(carbon_weight_per_kg=0.2, delay_weight_per_slot=0.0005)
    problem = make_problem(pools=pools, sites=sites, requests=[a], policy=policy)
    solve_params = SolveParams(time_limit_s=1.0, num_workers=1, deterministic=True)
    patient = decide_round(problem, "optimiser", 1, solve_params, 0.0, 0.0)
    assert patient.committed == () and not patient.violations  # the policy alone waits for the green pool
    eager = decide_round(problem, "optimiser", 1, solve_params)
    assert [(p.request_id, p.pool_id, p.start_slot) for p in eager.committed] == [("a", "now", 0)]
    assert eager.objective == formulas.objective_milli(problem, eager.committed) / formulas.MILLI  # the policy's


def test_an_optimiser_run_is_repeatable() -> None:
    problem = load_for_days(DEFAULT, 1).problem
    demand = demand_from_problem(problem, lead_hours=6, seed=1)
    runs = [
        simulate(problem, demand, SimulationParams(scheduler="optimiser", time_limit_s=0.5, progress=False))
        for _ in "ab"
    ]
    assert runs[0].plan == runs[1].plan and runs[0].decided == runs[1].decided
    assert runs[0].valid and len(runs[0].plan) > 20


def test_a_request_that_cannot_finish_by_its_deadline_expires_and_one_beyond_the_run_stays_open() -> None:
    a = make_request("a", LARGE, 4, 6, 0, 12)
    late = make_request("late", LARGE, 4, 2, 1, 5)  # needs the pool in [1, 5): A holds it until 6
    beyond = make_request("beyond", LARGE, 4, 8, 2, 30)  # deadline after the 12-slot run, cannot fit in it
    problem = make_problem(requests=[a, late, beyond])
    demand = Demand((Arrival(0, a), Arrival(1, late), Arrival(2, beyond)))
    run = simulate(problem, demand, params("greedy"))
    status = {o.request_id: o.status for o in run.outcomes}
    assert status == {"a": "placed", "late": "expired", "beyond": "open"}
    assert {o.request_id: o.deadline_met for o in run.outcomes} == {"a": True, "late": False, "beyond": None}
    assert run.valid


def test_arrival_after_earliest_start_is_rejected() -> None:
    with pytest.raises(InputError, match="arrival"):
        Demand((Arrival(3, make_request("a", LARGE, 1, 1, 2, 8)),))


def test_demand_from_problem_leads_are_seeded_and_never_after_the_earliest_start() -> None:
    problem = load_for_days(DEFAULT, 1).problem
    first = demand_from_problem(problem, lead_hours=12, seed=5)
    assert first == demand_from_problem(problem, lead_hours=12, seed=5)
    assert first != demand_from_problem(problem, lead_hours=12, seed=6)
    assert all(0 <= a.slot <= a.request.earliest_slot for a in first.arrivals)
    assert [a.slot for a in demand_from_problem(problem).arrivals] == sorted(r.earliest_slot for r in problem.requests)


def test_vouchers_and_budget_carry_over_between_rounds() -> None:
    voucher = Voucher("v", SME, 50, 1_000, 0, 12)
    a = make_request("a", SME, 2, 2, 0, 12, voucher_id="v")  # cost 2*2*100 = 400, entitled 200
    b = make_request("b", SME, 2, 2, 3, 12, voucher_id="v")
    c = make_request("c", SME, 2, 2, 6, 12, voucher_id="v")
    problem = make_problem(requests=[a, b, c], vouchers=[voucher], programme=make_programme(voucher_budget_fen=500))
    demand = Demand((Arrival(0, a), Arrival(3, b), Arrival(6, c)))
    run = simulate(problem, demand, params("optimiser"))
    paid = {p.request_id: p.subsidy_fen for p in run.plan}
    assert paid == {"a": 200, "b": 200, "c": 100}  # the budget of 500 runs out on the third
    assert run.valid

    # the third round's problem sees what is left, with the voucher's window shifted to "now"
    spent = {"v": 400}
    shifted = round_problem(problem, 6, 12, [c], run.plan[:2], spent)
    assert shifted.programme.voucher_budget_fen == 100
    assert shifted.voucher_by_id["v"].balance_fen == 600
    assert (shifted.voucher_by_id["v"].valid_from_slot, shifted.voucher_by_id["v"].valid_until_slot) == (-6, 6)
    assert shifted.horizon.slots == 6
    assert shifted.horizon.start == problem.horizon.to_datetime(6)


def test_round_problem_turns_earlier_placements_into_commitments_and_shifts_maintenance() -> None:
    pool = make_pool(capacity=4, maintenance=[(8, 10, 2)])
    a = make_request("a", SME, 3, 4, 0, 12)
    b = make_request("b", LARGE, 1, 1, 0, 12)
    problem = make_problem(pools=[pool], requests=[a, b])
    earlier = (place(problem, "a", "p1", 1), place(problem, "b", "p1", 0))  # b ended at 1, a runs 1..5
    shifted = round_problem(problem, 2, 12, [], earlier, {})
    assert [(c.start_slot, c.end_slot, c.accelerators, c.sme) for c in shifted.commitments] == [(-1, 3, 3, True)]
    assert [(w.start_slot, w.end_slot) for w in shifted.pools[0].maintenance] == [(6, 8)]


def test_the_optimiser_counts_delay_from_now_and_prices_each_request_s_wait() -> None:
    a = make_request("a", LARGE, 1, 1, 2, 12)  # 1 accelerator-hour, arrived 3 h before the round
    b = make_request("b", LARGE, 4, 5, 5, 12)  # 20 accelerator-hours
    problem = make_problem(requests=[a, b], policy=make_policy(delay_weight_per_slot=0.0005))
    round_ = round_problem(problem, 5, 12, [a, b], (), {})
    assert [r.earliest_slot for r in round_.requests] == [-3, 0]  # the baselines' queues see the arrival order
    seen = optimiser_view(round_, wait_weight_per_slot=0.01, per_request_acc_h=2).requests
    assert [r.earliest_slot for r in seen] == [0, 0]  # the optimiser's delay counts from now
    assert [r.wait_weight_per_slot for r in seen] == [0.5, pytest.approx(0.01 + 2 / 20)]  # 0.01 + 2/1 capped
    assert [r.wait_weight_per_slot for r in optimiser_view(round_, 0.0, 0).requests] == [0.0005, 0.0005]
    # the score prices it: a slot of b's wait costs 11 % of its value
    assert formulas.delay_penalty_milli_per_slot(round_, seen[1]) == round(formulas.value_milli(round_, b) * 0.11)


def test_whole_run_check_knows_when_the_sme_reserve_was_lent() -> None:
    # reserve 50 % from 2 h after "now"; a non-SME request holding the whole pool in slots 4..6
    problem = make_problem(
        requests=[make_request("x", LARGE, 4, 2, 0, 12)],
        policy=make_policy(sme_reserve_pct=50, reserve_release_hours=2),
    )
    plan = (place(problem, "x", "p1", 4),)
    assert run_violations(problem, plan, {"x": 4}, {"x": 0}) == []  # decided at 4: slots 4, 5 were lent
    lent_one = run_violations(problem, plan, {"x": 3}, {"x": 0})  # decided at 3: slot 5 was reserved
    assert {(v.rule, v.slot) for v in lent_one} == {("sme_reserve", 5)}
    broken = run_violations(problem, plan, {"x": 0}, {"x": 0})  # decided at 0: slots >= 2 were reserved
    assert {(v.rule, v.slot) for v in broken} == {("sme_reserve", 4), ("sme_reserve", 5)}
    late = run_violations(problem, (place(problem, "x", "p1", 1),), {"x": 2}, {"x": 0})
    assert [v.rule for v in late] == ["causality"]


def test_whole_run_check_catches_capacity_and_budget_across_rounds() -> None:
    voucher = Voucher("v", SME, 50, 10_000, 0, 12)
    a = make_request("a", SME, 3, 2, 0, 12, voucher_id="v")
    b = make_request("b", SME, 3, 2, 0, 12, voucher_id="v")
    problem = make_problem(requests=[a, b], vouchers=[voucher], programme=make_programme(voucher_budget_fen=400))
    plan = (place(problem, "a", "p1", 0, 300), place(problem, "b", "p1", 1, 300))
    rules = {v.rule for v in run_violations(problem, plan, {"a": 0, "b": 1}, {"a": 0, "b": 0})}
    assert {"capacity", "programme_budget"} <= rules


@pytest.fixture(scope="module")
def day() -> object:
    return load_for_days(DEFAULT, 1).problem


@pytest.mark.parametrize("scheduler", scheduler_names())
def test_every_scheduler_passes_the_validator_every_round_and_on_the_whole_run(day, scheduler: str) -> None:
    run = simulate(day, params=SimulationParams(scheduler=scheduler, time_limit_s=1.0, progress=False))
    assert run.round_violations == ()
    assert run.final_violations == ()
    assert run.plan, "nothing placed"
    assert len(run.outcomes) == len(day.requests)
    assert all(r.violations == 0 for r in run.rounds)
    # independently of the simulation's own checks: the validator on the whole timeline (the reserve aside,
    # which depends on when each placement was decided and is checked by run_violations)
    assert [v for v in violations(run.problem, run.plan) if v.rule != "sme_reserve"] == []
    by_id = {o.request_id: o for o in run.outcomes}
    for p in run.plan:
        assert by_id[p.request_id].arrival_slot <= run.decided[p.request_id] <= p.start_slot


@pytest.mark.parametrize("scheduler", [s for s in scheduler_names() if s != "optimiser"])
def test_baselines_are_deterministic(day, scheduler: str) -> None:
    first = simulate(day, params=params(scheduler))
    assert first.plan == simulate(day, params=params(scheduler)).plan


def test_load_for_days_cuts_the_horizon_and_rejects_nonsense() -> None:
    assert load_for_days(DEFAULT, 2).problem.horizon.slots == 48
    assert load_for_days(DEFAULT).problem.horizon.slots == 168
    with pytest.raises(InputError, match="days"):
        load_for_days(DEFAULT, 0)


def test_what_a_round_commits_is_paid_as_if_it_were_the_whole_plan() -> None:
    # budget 300; a starts now, b later; a plan that gave b 200 and a 100 commits a alone: a is paid in full again
    voucher = Voucher("v", SME, 50, 1_000, 0, 12)
    a = make_request("a", SME, 2, 2, 0, 12, voucher_id="v")  # cost 400, entitled 200
    b = make_request("b", SME, 2, 2, 0, 12, voucher_id="v")
    problem = make_problem(requests=[a, b], vouchers=[voucher], programme=make_programme(voucher_budget_fen=300))
    plan = [place(problem, "b", "p1", 4, subsidy_fen=200), place(problem, "a", "p1", 0, subsidy_fen=100)]
    assert not violations(problem, tuple(plan))
    assert violations(problem, (plan[1],))  # committed alone, a would be paid less than in full
    again = repaid(problem, [plan[1]])
    assert [(p.request_id, p.subsidy_fen) for p in again] == [("a", 200)] and not violations(problem, again)


@pytest.mark.parametrize("scheduler", ["optimiser", "easy"])
def test_commitments_made_before_the_run_hold_their_capacity_in_every_round(scheduler: str) -> None:
    # the whole pool of 4 is held in slots 0..3 before the run starts: a request arriving at 1 starts at 4
    a = make_request("a", LARGE, 4, 2, 1, 12)
    problem = make_problem(requests=[a], commitments=[Commitment("p1", 0, 4, 4, False)])
    run = simulate(problem, Demand((Arrival(1, a),)), params(scheduler))
    assert [(p.request_id, p.start_slot) for p in run.plan] == [("a", 4)] and run.valid


def test_topping_up_what_a_round_commits_never_lowers_a_subsidy() -> None:
    # budget 300: a (price ceiling 250: needs at least 150 of its 200) was paid 200 and b 100; paid again in order
    # of start, b (at 0) would take 200 and leave a (at 2) 100, above its ceiling; topped up, nobody loses
    voucher = Voucher("v", SME, 50, 1_000, 0, 12)
    a = make_request("a", SME, 2, 2, 0, 12, voucher_id="v", max_cost_fen=250)
    b = make_request("b", SME, 2, 2, 0, 12, voucher_id="v")
    problem = make_problem(requests=[a, b], vouchers=[voucher], programme=make_programme(voucher_budget_fen=300))
    plan = [place(problem, "a", "p1", 2, subsidy_fen=200), place(problem, "b", "p1", 0, subsidy_fen=100)]
    assert not violations(problem, tuple(plan))
    assert repaid(problem, plan) == tuple(plan)
