"""The rule state's faces against the validator: over generated problems that exercise every rule, the state
admits a placement if and only if the validator finds nothing wrong with the plan so far and it together; and
giving a placement back restores the state exactly."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scheduler.model import formulas
from scheduler.model.domain import Placement, Problem
from scheduler.rules.state import RuleState, state_of
from scheduler.rules.validate import violations
from tests.factories import (
    LARGE,
    SME,
    make_policy,
    make_pool,
    make_problem,
    make_programme,
    make_request,
    make_voucher,
    place,
)
from tests.strategies import problems

STATE = settings(max_examples=settings().max_examples // 3, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def candidate(problem: Problem, state: RuleState, data: st.DataObject) -> Placement:
    """A placement to offer: mostly a plausible one (an option of the request, a start in its range, the list
    price and its run, the subsidy the state would pay, the entitlement, part of it or none), else one with any
    pool, start, end, price or subsidy, valid or not."""
    with_voucher = [r for r in problem.requests if r.voucher_id is not None]
    if with_voucher and data.draw(st.booleans(), label="one with a voucher"):
        request = data.draw(st.sampled_from(with_voucher), label="request")
    else:
        request = data.draw(st.sampled_from(problem.requests), label="request")
    choices = state.options(request)
    plausible = bool(choices) and data.draw(st.integers(0, 4), label="plausible") > 0
    if plausible:
        option = data.draw(st.sampled_from(choices), label="option")
        pool, start = option.pool, data.draw(st.sampled_from(option.starts), label="start")
    else:
        pool = data.draw(st.sampled_from(problem.pools), label="pool")
        start = data.draw(st.integers(-1, problem.horizon.slots), label="start")
    run = formulas.run_slots(problem, request, pool)
    cost = formulas.cost_fen(request, pool)
    owed = formulas.entitlement_fen(problem, request, pool, start)
    subsidies = [state.subsidy_fen(request, pool, start), owed, 0, owed // 2]
    if request.voucher_id is not None:  # what the voucher alone allows, the budget aside
        subsidies.append(min(owed, state.purse.voucher_left[request.voucher_id]))
    if request.max_cost_fen is not None and 0 <= cost - request.max_cost_fen <= owed:
        subsidies.append(cost - request.max_cost_fen)  # exactly at the price ceiling
    if not plausible:
        subsidies.append(owed + 1)
        cost = data.draw(st.sampled_from([cost, cost + 1]), label="cost")
        run = data.draw(st.sampled_from([run, run + 1, run - 1]), label="run")
    paid = data.draw(st.sampled_from(subsidies), label="subsidy")
    return Placement(request.id, pool.id, start, cost, paid, end_slot=start + run)


def snapshot(state: RuleState) -> tuple:
    return (
        {k: v.tolist() for k, v in state.room.free.items()},
        {k: v.tolist() for k, v in state.share.free.items()},
        dict(state.purse.voucher_left),
        state.purse.budget_left,
        dict(state.purse.partial),
        set(state.placed.placed),
        list(state.plan),
    )


@STATE
@given(problems(), st.data())
def test_the_state_admits_exactly_what_the_validator_accepts(problem: Problem, data: st.DataObject) -> None:
    state = RuleState(problem)
    plan: list[Placement] = []
    for _ in range(data.draw(st.integers(1, 24), label="offers")):
        offered = candidate(problem, state, data)
        found = violations(problem, (*plan, offered))
        assert state.admits(offered) == (found == []), found
        if not found:
            before = snapshot(state)
            state.take(offered)
            state.release(offered)
            assert snapshot(state) == before, "release does not undo take"
            state.take(offered)
            plan.append(offered)
    assert snapshot(state) == snapshot(state_of(problem, plan))


@STATE
@given(problems(), st.data())
def test_every_offer_of_the_state_is_admitted_and_valid(problem: Problem, data: st.DataObject) -> None:
    # offers are what the greedy pass and the baselines place: each must keep the whole plan valid
    state = RuleState(problem)
    for request in data.draw(st.permutations(problem.requests), label="order"):
        offered = state.best_offer(request, data.draw(st.integers(0, problem.horizon.slots), label="not before"))
        if offered is None:
            continue
        assert state.admits(offered)
        state.take(offered)
        assert violations(problem, tuple(state.plan)) == []


def test_an_sme_placement_takes_capacity_but_not_the_non_sme_share() -> None:
    problem = make_problem(
        pools=[make_pool(capacity=8)],
        requests=[make_request("s", SME, 2, 2, 0, 12), make_request("l", LARGE, 2, 2, 0, 12)],
        policy=make_policy(sme_reserve_pct=50, reserve_release_hours=0),
    )
    state = RuleState(problem)
    assert state.share.free["p1"][:2].tolist() == [4, 4]
    state.take(place(problem, "s", "p1", 0))
    assert (state.room.free["p1"][:2].tolist(), state.share.free["p1"][:2].tolist()) == ([6, 6], [4, 4])
    state.take(place(problem, "l", "p1", 0))
    assert (state.room.free["p1"][:2].tolist(), state.share.free["p1"][:2].tolist()) == ([4, 4], [2, 2])
    assert state.free(problem.request_by_id["l"], problem.pools[0])[:2].tolist() == [2, 2]
    assert state.free(problem.request_by_id["s"], problem.pools[0])[:2].tolist() == [4, 4]


def agrees(problem: Problem, plan: tuple[Placement, ...], offered: Placement) -> bool:
    """Whether the state after ``plan`` admits ``offered``, after checking that the validator says the same."""
    admitted = state_of(problem, plan).admits(offered)
    assert admitted == (violations(problem, (*plan, offered)) == [])
    return admitted


def test_the_price_ceiling_is_inclusive() -> None:
    # 2 accelerators x 2 h at 100 fen/h: 400 fen, half paid by the voucher
    problem = make_problem(
        requests=[make_request("a", SME, 2, 2, 0, 12, voucher_id="v1", max_cost_fen=250)], vouchers=[make_voucher()]
    )
    assert agrees(problem, (), place(problem, "a", "p1", 0, 200))
    assert agrees(problem, (), place(problem, "a", "p1", 0, 150)) is False  # pays 250... but in part: refused
    capped = make_problem(
        requests=[make_request("a", SME, 2, 2, 0, 12, voucher_id="v1", max_cost_fen=250)],
        vouchers=[make_voucher(balance_fen=150)],
    )
    assert agrees(capped, (), place(capped, "a", "p1", 0, 150))  # 400 - 150 = 250: at the ceiling
    tighter = make_problem(
        requests=[make_request("a", SME, 2, 2, 0, 12, voucher_id="v1", max_cost_fen=249)],
        vouchers=[make_voucher(balance_fen=150)],
    )
    assert agrees(tighter, (), place(tighter, "a", "p1", 0, 150)) is False


def test_the_budget_limits_what_a_voucher_with_money_left_pays() -> None:
    problem = make_problem(
        requests=[make_request("a", SME, 2, 2, 0, 12, voucher_id="v1")],
        vouchers=[make_voucher(balance_fen=1000)],
        programme=make_programme(voucher_budget_fen=120),
    )
    assert agrees(problem, (), place(problem, "a", "p1", 0, 120))  # spends the budget to the fen
    assert agrees(problem, (), place(problem, "a", "p1", 0, 121)) is False  # beyond the budget
    assert agrees(problem, (), place(problem, "a", "p1", 0, 200)) is False  # in full, but beyond the budget
    assert agrees(problem, (), place(problem, "a", "p1", 0, 119)) is False  # in part while money is left


def test_a_voucher_spent_to_the_fen_justifies_a_partial_payment_of_the_next() -> None:
    problem = make_problem(
        requests=[make_request(r, SME, 2, 2, 0, 12, voucher_id="v1") for r in ("a", "b")],
        vouchers=[make_voucher(balance_fen=300)],
    )
    first = place(problem, "a", "p1", 0, 200)
    assert agrees(problem, (first,), place(problem, "b", "p1", 2, 100))  # the voucher's last 100 fen
    assert agrees(problem, (first,), place(problem, "b", "p1", 2, 99)) is False
    assert agrees(problem, (first,), place(problem, "b", "p1", 2, 101)) is False  # beyond the balance
    assert agrees(problem, (first,), place(problem, "b", "p1", 2, 200)) is False  # in full, beyond the balance


def test_capacity_counts_every_slot_of_the_run() -> None:
    problem = make_problem(
        pools=[make_pool(capacity=4)],
        requests=[make_request("a", SME, 3, 2, 0, 12), make_request("b", SME, 2, 2, 0, 12)],
    )
    first = place(problem, "a", "p1", 2)
    assert agrees(problem, (first,), place(problem, "b", "p1", 0))  # ends as the first starts
    assert agrees(problem, (first,), place(problem, "b", "p1", 1)) is False  # one slot of overlap
    assert agrees(problem, (first,), place(problem, "b", "p1", 4))
