"""Seeded synthetic demand: organisations, vouchers and requests for scenario files.

Each function takes the parameters of one ``{generator: {...}}`` block of a scenario file. The
same parameters and seed always give the same output: every draw comes from one private
``random.Random(seed)`` and nothing iterates over a set (string hashing varies between processes).
Unknown or malformed parameters raise :class:`~scheduler.model.errors.InputError` naming ``generator.<param>``.
"""

from __future__ import annotations

import dataclasses
import math
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, TypeVar

from scheduler.model import formulas
from scheduler.model.domain import Org, OrgClass, Pool, Request, Site, Voucher
from scheduler.model.errors import InputError
from scheduler.model.horizon import Horizon

T = TypeVar("T")

DEFAULT_ORG_COUNTS = {OrgClass.SME: 60, OrgClass.LARGE: 12, OrgClass.RESEARCH: 15, OrgClass.KEY_PROJECT: 5}
CLASS_LABELS = {
    OrgClass.SME: "SME",
    OrgClass.LARGE: "Large",
    OrgClass.RESEARCH: "Research",
    OrgClass.KEY_PROJECT: "Key project",
}
DEFAULT_VOUCHER_SHARE = {OrgClass.SME: 0.8, OrgClass.LARGE: 0.0, OrgClass.RESEARCH: 0.5, OrgClass.KEY_PROJECT: 0.0}
DEFAULT_CLASS_MIX = {OrgClass.SME: 0.35, OrgClass.LARGE: 0.35, OrgClass.RESEARCH: 0.15, OrgClass.KEY_PROJECT: 0.15}
# Sizes are whole 8-card server nodes. The weights lean towards the larger sizes so that the default
# scenario stays near 700 requests: demand_factor fixes the total work, so smaller jobs would
# multiply the count, and the solve time with it.
DEFAULT_SIZES = {
    OrgClass.SME: {8: 0.04, 16: 0.08, 32: 0.13, 64: 0.25, 128: 0.50},
    OrgClass.LARGE: {64: 0.15, 128: 0.30, 256: 0.35, 512: 0.20},
    OrgClass.RESEARCH: {16: 0.10, 32: 0.20, 64: 0.30, 128: 0.25, 256: 0.15},
    OrgClass.KEY_PROJECT: {256: 0.30, 512: 0.45, 1024: 0.25},
}
DEFAULT_DURATIONS = {
    OrgClass.SME: (4, 48),
    OrgClass.LARGE: (12, 96),
    OrgClass.RESEARCH: (8, 72),
    OrgClass.KEY_PROJECT: (24, 120),
}


class _Params:
    """The parameters of one generator block: defaults, type checks and typo protection."""

    def __init__(self, params: Mapping[str, Any] | None, defaults: Mapping[str, Any]) -> None:
        params = {} if params is None else params
        if not isinstance(params, Mapping):
            raise InputError("generator", "must be a mapping of parameters")
        for key in params:
            if key not in defaults:
                raise InputError(f"generator.{key}", f"unknown parameter; allowed: {', '.join(defaults)}")
        self._values = {**defaults, **params}

    def int(self, key: str, lo: int) -> int:
        value = self._values[key]
        if not isinstance(value, int) or isinstance(value, bool) or value < lo:
            raise InputError(f"generator.{key}", f"must be a whole number >= {lo}, got {value!r}")
        return value

    def number(self, key: str, lo: float, hi: float = math.inf) -> float:
        value = self._values[key]
        return _number(value, f"generator.{key}", lo, hi)

    def per_class(self, key: str, convert: Callable[[Any, str], T]) -> dict[OrgClass, T]:
        """A mapping class -> value; classes not named keep their defaults."""
        value = self._values[key]
        if not isinstance(value, Mapping):
            raise InputError(f"generator.{key}", "must be a mapping of organisation class to value")
        out: dict[OrgClass, Any] = {}
        for name, item in value.items():
            where = f"generator.{key}.{name}"
            out[OrgClass.parse(name, where)] = convert(item, where)
        return out


def _number(value: object, where: str, lo: float = 0.0, hi: float = math.inf) -> float:
    if not isinstance(value, int | float) or isinstance(value, bool) or not lo <= value <= hi:
        bounds = f"in [{lo}, {hi}]" if hi < math.inf else f">= {lo}"
        raise InputError(where, f"must be a number {bounds}, got {value!r}")
    return float(value)


def _share(value: object, where: str) -> float:
    return _number(value, where, 0.0, 1.0)


def _count(value: object, where: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise InputError(where, f"must be a whole number >= 0, got {value!r}")
    return value


def _size_weights(value: object, where: str) -> dict[int, float]:
    if not isinstance(value, Mapping) or not value:
        raise InputError(where, "must be a mapping of size (accelerators) to weight")
    out = {}
    for size, weight in value.items():
        if not isinstance(size, int) or isinstance(size, bool) or size <= 0:
            raise InputError(where, f"size {size!r} must be a whole number > 0")
        out[size] = _number(weight, f"{where}.{size}")
    if not sum(out.values()) > 0:
        raise InputError(where, "needs at least one weight > 0")
    return out


def _hour_range(value: object, where: str) -> tuple[int, int]:
    if isinstance(value, Sequence) and len(value) == 2:
        shortest, longest = value
        if isinstance(shortest, int) and isinstance(longest, int) and 1 <= shortest <= longest:
            return int(shortest), int(longest)
    raise InputError(where, f"must be [shortest, longest] whole hours with 1 <= shortest <= longest, got {value!r}")


def generate_orgs(params: Mapping[str, Any] | None) -> tuple[Org, ...]:
    """Organisations named by class and number: ``Org("sme-017", "SME 017", OrgClass.SME)``.

    Parameters
    ----------
    params
        ``seed`` (int, default 0): accepted so that every generator block has one; names and
        ids are deterministic by construction.
        ``counts`` (mapping class -> int, default ``{sme: 60, large: 12, research: 15, key_project: 5}``):
        how many organisations of each class; classes not named keep their default.
    """
    p = _Params(params, {"seed": 0, "counts": {}})
    p.int("seed", 0)
    counts = {**DEFAULT_ORG_COUNTS, **p.per_class("counts", _count)}
    return tuple(
        Org(
            id=f"{org_class.value.replace('_', '-')}-{n:03d}",
            name=f"{CLASS_LABELS[org_class]} {n:03d}",
            org_class=org_class,
        )
        for org_class in OrgClass
        for n in range(1, counts[org_class] + 1)
    )


def generate_vouchers(orgs: Sequence[Org], horizon: Horizon, params: Mapping[str, Any] | None) -> tuple[Voucher, ...]:
    """At most one voucher per organisation, id ``v-<org id>``, valid from the horizon start.

    Parameters
    ----------
    params
        ``seed`` (int, default 0).
        ``share`` (mapping class -> fraction, default ``{sme: 0.8, research: 0.5}``, others 0): the
        share of each class's organisations that hold a voucher (rounded to whole organisations).
        ``ratio_pct`` (int, default 30): the share of a rental the voucher pays.
        ``balance_cny_min`` / ``balance_cny_max`` (int, default 20000 / 200000): the balance is drawn
        uniformly in whole CNY from this range.
        ``expiring_share`` (fraction, default 0.15): the chance that a voucher expires mid-horizon (at a
        slot drawn uniformly from the middle half) instead of at the horizon end.
    """
    p = _Params(
        params,
        {
            "seed": 0,
            "share": {},
            "ratio_pct": 30,
            "balance_cny_min": 20_000,
            "balance_cny_max": 200_000,
            "expiring_share": 0.15,
        },
    )
    rng = random.Random(p.int("seed", 0))
    share = {**DEFAULT_VOUCHER_SHARE, **p.per_class("share", _share)}
    ratio_pct = p.int("ratio_pct", 1)
    lo, hi = p.int("balance_cny_min", 0), p.int("balance_cny_max", 0)
    if hi < lo:
        raise InputError("generator.balance_cny_max", f"must be >= balance_cny_min ({lo})")
    expiring = p.number("expiring_share", 0.0, 1.0)

    holders: set[str] = set()
    for org_class in OrgClass:
        members = [org.id for org in orgs if org.org_class is org_class]
        holders.update(rng.sample(members, round(share[org_class] * len(members))))
    vouchers = []
    for org in orgs:
        if org.id not in holders:
            continue
        balance_fen = rng.randint(lo, hi) * 100
        until = horizon.slots
        if rng.random() < expiring:
            until = rng.randint(max(1, horizon.slots // 4), max(1, 3 * horizon.slots // 4))
        vouchers.append(Voucher(f"v-{org.id}", org.id, ratio_pct, balance_fen, 0, until))
    return tuple(vouchers)


def _fitting_pools(request: Request, pools: Sequence[Pool], horizon: Horizon) -> list[Pool]:
    """Pools that accept ``request`` and whose run at their speed fits its window."""
    end = min(request.deadline_slot, horizon.slots)
    return [
        pool
        for pool in pools
        if (request.accelerator_types is None or pool.accelerator_type in request.accelerator_types)
        and (request.sites is None or pool.site_id in request.sites)
        and pool.capacity >= request.accelerators
        and request.earliest_slot + horizon.slots_for_hours(formulas.run_hours(request, pool)) <= end
    ]


@dataclass(frozen=True)
class Eligibility:
    """The drawn attributes a request gets besides its size and window, shared by synthetic and trace demand:
    accepted types and sites, a price ceiling for some SMEs, and the organisation's voucher (rules in
    :func:`generate_requests`)."""

    training_share: float
    all_types_share: float
    local_share: float
    max_cost_share: float
    factor_lo: float
    factor_hi: float
    pools: tuple[Pool, ...]
    all_types: list[str]
    fast_types: list[str]
    local_sites: frozenset[str] | None
    voucher_of: dict[str, str]

    @classmethod
    def from_params(
        cls, p: _Params, pools: Sequence[Pool], sites: Sequence[Site], vouchers: Sequence[Voucher]
    ) -> Eligibility:
        training_min_speed = Fraction(str(p.number("training_min_speed", 0.0)))
        voucher_of: dict[str, str] = {}
        for voucher in vouchers:
            voucher_of.setdefault(voucher.org_id, voucher.id)
        return cls(
            training_share=p.number("training_share", 0.0, 1.0),
            all_types_share=p.number("all_types_share", 0.0, 1.0),
            local_share=p.number("local_share", 0.0, 1.0),
            max_cost_share=p.number("sme_max_cost_share", 0.0, 1.0),
            factor_lo=p.number("max_cost_factor_min", 0.0),
            factor_hi=p.number("max_cost_factor_max", 0.0),
            pools=tuple(pools),
            all_types=sorted({pool.accelerator_type for pool in pools}),
            fast_types=sorted({pool.accelerator_type for pool in pools if pool.speed >= training_min_speed}),
            local_sites=frozenset(s.id for s in sites if s.region == sites[0].region) if sites else None,
            voucher_of=voucher_of,
        )

    def _restrict(self, names: Sequence[str]) -> frozenset[str] | None:
        return None if not names or len(names) == len(self.all_types) else frozenset(names)

    def draw(self, rng: random.Random, request: Request, org_class: OrgClass, fit_horizon: Horizon) -> Request:
        """``request`` (size and window drawn) with its types, sites, price ceiling and voucher drawn."""
        if rng.random() < self.training_share:
            types = self._restrict(self.fast_types)
        elif rng.random() < self.all_types_share:
            types = None
        else:
            count = rng.randint(min(2, len(self.all_types)), len(self.all_types))
            types = self._restrict(rng.sample(self.all_types, count))
        local = self.local_sites if rng.random() < self.local_share else None
        request = dataclasses.replace(request, accelerator_types=types, sites=local)
        fitting = _fitting_pools(request, self.pools, fit_horizon)
        if not fitting:
            request = dataclasses.replace(request, accelerator_types=None)
            fitting = _fitting_pools(request, self.pools, fit_horizon)
        if not fitting:
            request = dataclasses.replace(request, sites=None)
            fitting = _fitting_pools(request, self.pools, fit_horizon)
        max_cost_fen = None
        if org_class is OrgClass.SME and rng.random() < self.max_cost_share and fitting:
            cheapest = min(formulas.cost_fen(request, pool) for pool in fitting)
            max_cost_fen = round(cheapest * rng.uniform(self.factor_lo, self.factor_hi) / 100) * 100
        return dataclasses.replace(request, max_cost_fen=max_cost_fen, voucher_id=self.voucher_of.get(request.org_id))


def generate_requests(
    orgs: Sequence[Org],
    vouchers: Sequence[Voucher],
    pools: Sequence[Pool],
    sites: Sequence[Site],
    horizon: Horizon,
    params: Mapping[str, Any] | None,
) -> tuple[Request, ...]:
    """Requests ``r00001``, ``r00002``, ... until the requested work reaches the demand target.

    The target is ``demand_factor * sum(pool capacity) * horizon hours`` accelerator-hours of
    requested work (``accelerators * duration_hours``, at reference speed). Each request goes to
    the class whose share of the work so far lies furthest below its target share, and then to an
    organisation of that class drawn uniformly. Requests of an organisation with a voucher name it.

    Parameters
    ----------
    params
        ``seed`` (int, default 0).
        ``demand_factor`` (number, default 1.3): requested work over the capacity of the horizon.
        ``class_mix`` (mapping class -> share of work, default sme 0.35, large 0.35, research 0.15,
        key_project 0.15; normalised to sum 1; classes without organisations are skipped).
        ``sizes`` (mapping class -> {accelerators: weight}, default sme {8: .04, 16: .08, 32: .13,
        64: .25, 128: .50}, large {64: .15, 128: .30, 256: .35, 512: .20}, research {16: .10,
        32: .20, 64: .30, 128: .25, 256: .15}, key_project {256: .30, 512: .45, 1024: .25}).
        ``durations`` (mapping class -> [shortest, longest] whole hours, default sme [4, 48],
        large [12, 96], research [8, 72], key_project [24, 120]).
        ``duration_skew`` (number >= 1, default 1.3): a duration is ``shortest + floor((longest -
        shortest + 1) * u ** duration_skew)`` with ``u`` uniform in [0, 1), so larger values favour
        short runs.
        ``slack_min`` / ``slack_max`` (default 1.5 / 3.0): the deadline is ``earliest + duration *
        slack`` with slack uniform in this range, clipped to the horizon end but never below
        ``earliest + duration``. The earliest start is uniform over the slots that leave room for
        the run at reference speed.
        ``training_share`` (default 0.6): the chance of a training request, which accepts the types
        whose speed is at least ``training_min_speed`` (default 0.8); other requests accept all
        types with chance ``all_types_share`` (default 0.5), else a random subset of at least 2.
        ``local_share`` (default 0.2): the chance that a request accepts only the sites of the first
        site's region; the others accept every site.
        ``sme_max_cost_share`` (default 0.3): the chance that an SME request sets a price cap of
        ``max_cost_factor_min`` .. ``max_cost_factor_max`` (default 0.8 .. 1.2, uniform) times its
        cost at the cheapest pool where it fits, rounded to whole CNY.

        A request whose accepted types and sites leave no pool where it fits first drops its type
        restriction, then its site restriction.
    """
    p = _Params(
        params,
        {
            "seed": 0,
            "demand_factor": 1.3,
            "class_mix": {},
            "sizes": {},
            "durations": {},
            "duration_skew": 1.3,
            "slack_min": 1.5,
            "slack_max": 3.0,
            "training_share": 0.6,
            "training_min_speed": 0.8,
            "all_types_share": 0.5,
            "local_share": 0.2,
            "sme_max_cost_share": 0.3,
            "max_cost_factor_min": 0.8,
            "max_cost_factor_max": 1.2,
        },
    )
    rng = random.Random(p.int("seed", 0))
    demand_factor = p.number("demand_factor", 0.0)
    if demand_factor <= 0:
        raise InputError("generator.demand_factor", "must be > 0")
    mix = {**DEFAULT_CLASS_MIX, **p.per_class("class_mix", _number)}
    sizes = {**DEFAULT_SIZES, **p.per_class("sizes", _size_weights)}
    durations = {**DEFAULT_DURATIONS, **p.per_class("durations", _hour_range)}
    skew = p.number("duration_skew", 1.0)
    slack_min, slack_max = p.number("slack_min", 1.0), p.number("slack_max", 1.0)
    if slack_max < slack_min:
        raise InputError("generator.slack_max", f"must be >= slack_min ({slack_min})")
    eligibility = Eligibility.from_params(p, pools, sites, vouchers)

    members = {c: [org for org in orgs if org.org_class is c] for c in OrgClass}
    mix = {c: share for c, share in mix.items() if share > 0 and members[c]}
    if not mix or not pools:
        return ()
    mix_total = sum(mix.values())
    target = {c: share / mix_total for c, share in mix.items()}
    horizon_hours = horizon.slots * horizon.slot_hours
    goal = demand_factor * sum(pool.capacity for pool in pools) * float(horizon_hours)

    work = dict.fromkeys(target, 0)
    total = 0
    requests: list[Request] = []
    while total < goal:
        org_class = max(target, key=lambda c: target[c] - (work[c] / total if total else 0.0))
        org = rng.choice(members[org_class])
        size_weights = sizes[org_class]
        accelerators = rng.choices(list(size_weights), weights=list(size_weights.values()))[0]
        shortest, longest = durations[org_class]
        duration = shortest + math.floor((longest - shortest + 1) * rng.random() ** skew)
        duration = max(1, min(duration, longest, math.floor(horizon_hours)))
        run = horizon.slots_for_hours(duration)
        earliest = rng.randint(0, max(0, horizon.slots - run))
        deadline = min(earliest + math.ceil(run * rng.uniform(slack_min, slack_max)), horizon.slots)
        deadline = max(deadline, earliest + run)
        request = Request(f"r{len(requests) + 1:05d}", org.id, accelerators, duration, earliest, deadline)
        request = eligibility.draw(rng, request, org_class, horizon)
        requests.append(request)
        work[org_class] += accelerators * duration
        total += accelerators * duration
    return tuple(requests)
