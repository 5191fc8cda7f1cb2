"""Every formula of a placement, in one place, shared by the optimiser, the greedy start,
the validator and the reports so that none of them can drift from the others.

For request ``r`` of class ``c`` placed on pool ``p`` (site ``s``) at slot ``t``:

- run hours      ``h(r, p) = ceil(duration_hours_r / speed_p)``
- cost (fen)     ``cost = accelerators_r * h * price_fen_per_hour_p`` (the same for everyone, Art. 67)
- subsidy pct    ``ratio_pct_v + domestic_bonus_pct [p domestic] + green_bonus_pct [green_share_s >= threshold]``
- entitlement    ``floor(cost * pct / 100)`` when ``t`` lies in the voucher's validity, else 0
- energy (Wh)    ``accelerators_r * h * power_w_p * pue_s``
- CO2 (g)        ``energy_wh * grid_co2_g_per_kwh_s * (1 - green_share_s) / 1000``
- value (milli)  ``1000 * class_weight_c * accelerators_r * duration_hours_r`` (requested work, so a
  faster pool is not penalised)
- score (milli)  ``value - carbon_weight_per_kg * co2_g - delay(r) * (t - earliest_slot_r)`` with
  ``delay(r) = round(value * delay_weight_per_slot)`` (the request's own ``wait_weight_per_slot`` instead, when
  a round of the online policy set one)

The objective maximised is the sum of the scores of the placed requests.
"""

from __future__ import annotations

from functools import lru_cache
from itertools import accumulate

from scheduler.model.domain import Placement, Pool, Problem, Request

MILLI = 1000


def run_hours(request: Request, pool: Pool) -> int:
    # ceil(duration / (num / den)) in integers: exact, and far faster than Fraction arithmetic
    return -(-request.duration_hours * pool.speed.denominator // pool.speed.numerator)


def run_slots(problem: Problem, request: Request, pool: Pool) -> int:
    return problem.horizon.slots_for_hours(run_hours(request, pool))


def start_range(problem: Problem, request: Request, pool: Pool) -> range:
    """Start slots at which ``request`` fits its window and the horizon on ``pool`` (may be empty)."""
    first = max(request.earliest_slot, 0)
    last = min(request.deadline_slot, problem.horizon.slots) - run_slots(problem, request, pool)
    return range(first, last + 1)


def cost_fen(request: Request, pool: Pool) -> int:
    return request.accelerators * run_hours(request, pool) * pool.price_fen_per_hour


def subsidy_pct(problem: Problem, request: Request, pool: Pool) -> int:
    """Voucher ratio plus the programme's reward bonuses; 0 without a voucher."""
    if request.voucher_id is None:
        return 0
    programme = problem.programme
    pct = problem.voucher_by_id[request.voucher_id].ratio_pct
    if pool.domestic:
        pct += programme.domestic_bonus_pct
    if problem.site_by_id[pool.site_id].green_share >= programme.green_share_threshold:
        pct += programme.green_bonus_pct
    return min(pct, 100)


def entitlement_fen(problem: Problem, request: Request, pool: Pool, start_slot: int) -> int:
    """What the request's voucher owes for this placement, before balance and budget limits."""
    if request.voucher_id is None or not problem.voucher_by_id[request.voucher_id].valid_at(start_slot):
        return 0
    return cost_fen(request, pool) * subsidy_pct(problem, request, pool) // 100


def energy_wh(problem: Problem, request: Request, pool: Pool) -> int:
    site = problem.site_by_id[pool.site_id]
    return round(request.accelerators * run_hours(request, pool) * pool.power_w * site.pue)


def co2_g(problem: Problem, request: Request, pool: Pool) -> int:
    site = problem.site_by_id[pool.site_id]
    return round(energy_wh(problem, request, pool) * site.grid_co2_g_per_kwh * (1 - site.green_share) / 1000)


def value_milli(problem: Problem, request: Request) -> int:
    weight = problem.policy.class_weights[problem.org_by_id[request.org_id].org_class]
    return round(MILLI * weight * request.accelerators * request.duration_hours)


def carbon_penalty_milli(problem: Problem, request: Request, pool: Pool) -> int:
    # weight is per kg and co2 in g: (w * g / 1000) points = w * g milli-points
    return round(problem.policy.carbon_weight_per_kg * co2_g(problem, request, pool))


def delay_penalty_milli_per_slot(problem: Problem, request: Request) -> int:
    weight = request.wait_weight_per_slot
    return round(value_milli(problem, request) * (problem.policy.delay_weight_per_slot if weight is None else weight))


def score_milli(problem: Problem, request: Request, pool: Pool, start_slot: int) -> int:
    return (
        value_milli(problem, request)
        - carbon_penalty_milli(problem, request, pool)
        - delay_penalty_milli_per_slot(problem, request) * (start_slot - request.earliest_slot)
    )


def objective_milli(problem: Problem, plan: tuple[Placement, ...]) -> int:
    """The objective of ``plan``, recomputed from the formulas above."""
    return sum(
        score_milli(problem, problem.request_by_id[p.request_id], problem.pool_by_id[p.pool_id], p.start_slot)
        for p in plan
    )


def _committed(problem: Problem, pool: Pool, non_sme_only: bool) -> list[int]:
    """Accelerators that earlier commitments (all, or non-SME ones) hold on ``pool`` in each slot."""
    slots = problem.horizon.slots
    change = [0] * (slots + 1)  # a difference array: one pass per commitment, not per slot
    for commitment in problem.commitments_by_pool[pool.id]:
        if not (non_sme_only and commitment.sme):
            lo, hi = max(commitment.start_slot, 0), min(commitment.end_slot, slots)
            if lo < hi:
                change[lo] += commitment.accelerators
                change[hi] -= commitment.accelerators
    return list(accumulate(change[:slots]))


@lru_cache(maxsize=4096)
def available(pool: Pool, slots: int) -> tuple[int, ...]:
    """:meth:`Pool.available` in each of the first ``slots`` slots (every room computation asks it again)."""
    return tuple(pool.available(slot) for slot in range(slots))


def room_left(problem: Problem, pool: Pool) -> list[int]:
    """Accelerators free in each slot after maintenance and earlier commitments."""
    used = _committed(problem, pool, non_sme_only=False)
    return [max(0, free - held) for free, held in zip(available(pool, problem.horizon.slots), used, strict=True)]


def non_sme_room_left(problem: Problem, pool: Pool) -> list[int]:
    """Accelerators that non-SME classes may still take in each slot under the SME reserve rule alone
    (the capacity rule limits them too).

    In slots from :attr:`Problem.release_slot` on, non-SME classes together hold at most
    ``floor(available * (100 - sme_reserve_pct) / 100)``, less their earlier commitments; earlier slots
    are lent to everyone, so there the reserve sets no limit below the pool's capacity.
    """
    used = _committed(problem, pool, non_sme_only=True)
    release = problem.release_slot
    cap = problem.policy.non_sme_cap
    return [
        pool.capacity if slot < release else max(0, cap(free) - held)
        for slot, (free, held) in enumerate(zip(available(pool, problem.horizon.slots), used, strict=True))
    ]
