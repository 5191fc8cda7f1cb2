"""Problem data: frozen dataclasses, validated on construction, free of any solver.

Units live in field names: money in integer fen (0.01 CNY), times in integer slots of
the problem's :class:`~scheduler.model.horizon.Horizon`, power in W, carbon intensity in g/kWh.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from fractions import Fraction

from scheduler.model.errors import InputError
from scheduler.model.horizon import Horizon

SME_MAX_EMPLOYEES = 300
SME_MAX_REVENUE_CNY = 100_000_000


class OrgClass(StrEnum):
    SME = "sme"
    LARGE = "large"
    RESEARCH = "research"
    KEY_PROJECT = "key_project"

    @classmethod
    def parse(cls, text: str, field_name: str) -> OrgClass:
        try:
            return cls(str(text).strip())
        except ValueError:
            allowed = ", ".join(c.value for c in cls)
            raise InputError(field_name, f"{text!r} is not one of {allowed}") from None


def derive_org_class(employees: int, revenue_cny: int) -> OrgClass:
    """MIIT 2011 rule for software and IT services: an SME has < 300 staff or < CNY 100 M revenue."""
    if employees < SME_MAX_EMPLOYEES or revenue_cny < SME_MAX_REVENUE_CNY:
        return OrgClass.SME
    return OrgClass.LARGE


def _require(ok: bool, field_name: str, rule: str) -> None:
    if not ok:
        raise InputError(field_name, rule)


def _positive_int(value: object, field_name: str) -> None:
    _require(
        isinstance(value, int) and not isinstance(value, bool) and value > 0,
        field_name,
        f"must be a whole number > 0, got {value!r}",
    )


def _non_negative_int(value: object, field_name: str) -> None:
    _require(
        isinstance(value, int) and not isinstance(value, bool) and value >= 0,
        field_name,
        f"must be a whole number >= 0, got {value!r}",
    )


@dataclass(frozen=True)
class Site:
    id: str
    name: str
    region: str
    pue: float
    grid_co2_g_per_kwh: float
    green_share: float = 0.0

    def __post_init__(self) -> None:
        _require(bool(self.id), "site.id", "must not be empty")
        _require(1.0 <= self.pue <= 3.0, f"site {self.id}: pue", f"must lie in [1.0, 3.0], got {self.pue}")
        _require(self.grid_co2_g_per_kwh >= 0, f"site {self.id}: grid_co2_g_per_kwh", "must be >= 0")
        _require(
            0.0 <= self.green_share <= 1.0,
            f"site {self.id}: green_share",
            f"must lie in [0, 1], got {self.green_share}",
        )


@dataclass(frozen=True)
class MaintenanceWindow:
    """``capacity_lost`` accelerators are unavailable in slots ``[start_slot, end_slot)``."""

    start_slot: int
    end_slot: int
    capacity_lost: int

    def __post_init__(self) -> None:
        _require(self.end_slot > self.start_slot, "maintenance.end", "must be after maintenance.start")
        _positive_int(self.capacity_lost, "maintenance.capacity_lost")


@dataclass(frozen=True)
class Pool:
    """One accelerator type at one site.

    ``speed`` is the throughput relative to the reference accelerator: a run of ``H``
    reference hours lasts ``ceil(H / speed)`` hours here.
    """

    id: str
    site_id: str
    accelerator_type: str
    capacity: int
    price_fen_per_hour: int
    speed: Fraction
    power_w: int
    domestic: bool = False
    maintenance: tuple[MaintenanceWindow, ...] = ()

    def __post_init__(self) -> None:
        where = f"pool {self.id}"
        _require(bool(self.id), "pool.id", "must not be empty")
        _require(bool(self.accelerator_type), f"{where}: accelerator_type", "must not be empty")
        _positive_int(self.capacity, f"{where}: capacity")
        _non_negative_int(self.price_fen_per_hour, f"{where}: price_cny_per_hour")
        _require(isinstance(self.speed, Fraction) and self.speed > 0, f"{where}: speed", "must be > 0")
        _positive_int(self.power_w, f"{where}: power_w")
        for window in self.maintenance:
            _require(
                window.capacity_lost <= self.capacity,
                f"{where}: maintenance.capacity_lost",
                f"must not exceed the capacity {self.capacity}",
            )

    def available(self, slot: int) -> int:
        """Capacity in ``slot`` after maintenance."""
        lost = sum(w.capacity_lost for w in self.maintenance if w.start_slot <= slot < w.end_slot)
        return max(0, self.capacity - lost)


@dataclass(frozen=True)
class Org:
    id: str
    name: str
    org_class: OrgClass

    def __post_init__(self) -> None:
        _require(bool(self.id), "org.org_id", "must not be empty")
        _require(isinstance(self.org_class, OrgClass), f"org {self.id}: org_class", "must be an OrgClass")


@dataclass(frozen=True)
class Voucher:
    """A compute voucher: pays ``ratio_pct`` % of a rental that starts in ``[valid_from_slot, valid_until_slot)``."""

    id: str
    org_id: str
    ratio_pct: int
    balance_fen: int
    valid_from_slot: int
    valid_until_slot: int

    def __post_init__(self) -> None:
        where = f"voucher {self.id}"
        _require(bool(self.id), "voucher.voucher_id", "must not be empty")
        _require(
            isinstance(self.ratio_pct, int) and 0 < self.ratio_pct <= 100,
            f"{where}: ratio_pct",
            f"must be a whole number in 1..100, got {self.ratio_pct!r}",
        )
        _non_negative_int(self.balance_fen, f"{where}: balance_cny")
        _require(self.valid_until_slot > self.valid_from_slot, f"{where}: valid_until", "must be after valid_from")

    def valid_at(self, slot: int) -> bool:
        return self.valid_from_slot <= slot < self.valid_until_slot


@dataclass(frozen=True)
class Request:
    """``accelerators`` accelerators for ``duration_hours`` reference hours, starting at or after
    ``earliest_slot`` and ending at or before ``deadline_slot``. ``None`` accepts any type or site. ``submitted_at``
    (with its UTC offset; ``None``: at the earliest start) is when it was submitted, a trace's submit time or the
    API's receipt: it cannot start before then (:class:`Problem` checks) and :meth:`Problem.arrival_slot` is the
    first round that sees it."""

    id: str
    org_id: str
    accelerators: int
    duration_hours: int
    earliest_slot: int
    deadline_slot: int
    accelerator_types: frozenset[str] | None = None
    sites: frozenset[str] | None = None
    max_cost_fen: int | None = None
    voucher_id: str | None = None
    submitted_at: datetime | None = None
    wait_weight_per_slot: float | None = None
    """What a slot of waiting costs this request, as a share of its value, in place of the policy's
    ``delay_weight_per_slot``; the online policy sets it in a round (:mod:`scheduler.sim.online`)."""

    def __post_init__(self) -> None:
        where = f"request {self.id}"
        weight = self.wait_weight_per_slot
        _require(weight is None or 0 <= weight < 1, f"{where}: wait_weight_per_slot", "must lie in [0, 1)")
        _require(bool(self.id), "request.request_id", "must not be empty")
        aware = isinstance(self.submitted_at, datetime) and self.submitted_at.utcoffset() is not None
        rule = f"must be a datetime with a UTC offset, got {self.submitted_at!r}"
        _require(self.submitted_at is None or aware, f"{where}: submitted_at", rule)
        _positive_int(self.accelerators, f"{where}: accelerators")
        _positive_int(self.duration_hours, f"{where}: duration_hours")
        _require(self.deadline_slot > self.earliest_slot, f"{where}: deadline", "must be after earliest_start")
        _require(
            self.accelerator_types is None or len(self.accelerator_types) > 0,
            f"{where}: accelerator_types",
            "must name at least one type, or be *",
        )
        _require(self.sites is None or len(self.sites) > 0, f"{where}: sites", "must name at least one site, or be *")
        if self.max_cost_fen is not None:
            _non_negative_int(self.max_cost_fen, f"{where}: max_cost_cny")


@dataclass(frozen=True)
class Commitment:
    """Capacity already promised before this solve (an earlier round's allocation). ``org_class``: the holder's
    class where known (:meth:`Problem.held` records it; a scenario file's commitment has none), counted against
    that class's quota by :mod:`scheduler.sim.baselines.quota`; ``sme`` must agree with it."""

    pool_id: str
    start_slot: int
    end_slot: int
    accelerators: int
    sme: bool
    org_class: OrgClass | None = None

    def __post_init__(self) -> None:
        _require(self.end_slot > self.start_slot, "commitment.end", "must be after commitment.start")
        _positive_int(self.accelerators, "commitment.accelerators")
        sme_class = self.org_class is None or self.sme == (self.org_class is OrgClass.SME)
        _require(sme_class, "commitment.sme", f"must agree with org_class {self.org_class}")


DEFAULT_CLASS_WEIGHTS: Mapping[OrgClass, float] = {
    OrgClass.KEY_PROJECT: 4.0,
    OrgClass.SME: 3.0,
    OrgClass.RESEARCH: 2.0,
    OrgClass.LARGE: 1.0,
}


def _percent(value: object, field_name: str) -> None:
    _require(
        isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 100,
        field_name,
        f"must be a whole number in 0..100, got {value!r}",
    )


@dataclass(frozen=True)
class ClassQuota:
    """One class's quota of every pool in percent of its capacity, as Kueue's ClusterQueue ``nominalQuota``,
    ``borrowingLimit`` (most it may borrow above nominal) and ``lendingLimit`` (most of its idle quota it lends, at
    most ``nominal_pct``); ``None`` is no limit, Kueue's default. :class:`Policy` checks it, naming the class;
    :mod:`scheduler.sim.baselines.quota` enforces it."""

    nominal_pct: int = 25
    borrowing_limit_pct: int | None = None
    lending_limit_pct: int | None = None


DEFAULT_QUOTAS: Mapping[OrgClass, ClassQuota] = {c: ClassQuota() for c in OrgClass}


@dataclass(frozen=True)
class Policy:
    """The administrator's levers.

    ``sme_reserve_pct`` of every pool is held for SMEs in slots that start at least
    ``reserve_release_hours`` after the horizon start; closer slots are lent to everyone.
    ``delay_weight_per_slot`` is the share of a request's value lost per slot of delay.
    ``quotas`` gives every class its :class:`ClassQuota` (default 25 % each, no limits) for the quota baseline;
    the nominal shares add up to at most 100 %, and what no class is given is nobody's (as in Kueue).
    """

    sme_reserve_pct: int = 20
    reserve_release_hours: int = 24
    class_weights: Mapping[OrgClass, float] = field(default_factory=lambda: dict(DEFAULT_CLASS_WEIGHTS))
    carbon_weight_per_kg: float = 0.2
    delay_weight_per_slot: float = 0.0005
    quotas: Mapping[OrgClass, ClassQuota] = field(default_factory=lambda: dict(DEFAULT_QUOTAS))

    def __post_init__(self) -> None:
        _percent(self.sme_reserve_pct, "policy.sme_reserve_pct")
        _non_negative_int(self.reserve_release_hours, "policy.reserve_release_hours")
        for org_class in OrgClass:
            where = f"policy.quotas.{org_class.value}"
            quota = self.quotas.get(org_class)
            if not isinstance(quota, ClassQuota):
                raise InputError(where, "must be given")
            for name, pct in vars(quota).items():
                if pct is not None or name == "nominal_pct":
                    _percent(pct, f"{where}.{name}")
            lends = quota.lending_limit_pct
            _require(
                lends is None or lends <= quota.nominal_pct, f"{where}.lending_limit_pct", "must not exceed nominal_pct"
            )
        total = sum(self.quotas[c].nominal_pct for c in OrgClass)
        _require(total <= 100, "policy.quotas", f"the classes' nominal_pct must add up to at most 100, got {total}")
        object.__setattr__(self, "quotas", dict(self.quotas))  # a plain dict: problems cross process boundaries
        for org_class in OrgClass:
            weight = self.class_weights.get(org_class)
            _require(
                weight is not None and weight >= 0,
                f"policy.class_weights.{org_class.value}",
                "must be given and be >= 0",
            )
        _require(self.carbon_weight_per_kg >= 0, "policy.carbon_weight_per_kg", "must be >= 0")
        _require(0 <= self.delay_weight_per_slot < 1, "policy.delay_weight_per_slot", "must lie in [0, 1)")

    def non_sme_cap(self, available: int) -> int:
        """The most that non-SME classes may hold of ``available`` accelerators in a reserved slot."""
        return available * (100 - self.sme_reserve_pct) // 100


@dataclass(frozen=True)
class Programme:
    """The voucher programme: a budget for the horizon and reward rules that add bonus points."""

    voucher_budget_fen: int
    domestic_bonus_pct: int = 0
    green_bonus_pct: int = 0
    green_share_threshold: float = 0.5

    def __post_init__(self) -> None:
        _non_negative_int(self.voucher_budget_fen, "programme.voucher_budget_cny")
        _require(
            isinstance(self.domestic_bonus_pct, int) and 0 <= self.domestic_bonus_pct <= 100,
            "programme.domestic_bonus_pct",
            "must be a whole number in 0..100",
        )
        _require(
            isinstance(self.green_bonus_pct, int) and 0 <= self.green_bonus_pct <= 100,
            "programme.green_bonus_pct",
            "must be a whole number in 0..100",
        )
        _require(0 <= self.green_share_threshold <= 1, "programme.green_share_threshold", "must lie in [0, 1]")


def _unique(items: tuple, kind: str) -> dict:
    by_id: dict = {}
    for item in items:
        if item.id in by_id:
            raise InputError(f"{kind} {item.id}", "id is used twice")
        by_id[item.id] = item
    return by_id


@dataclass(frozen=True)
class Problem:
    """Everything one solve needs. Cross-references are checked here, once."""

    horizon: Horizon
    sites: tuple[Site, ...]
    pools: tuple[Pool, ...]
    orgs: tuple[Org, ...]
    vouchers: tuple[Voucher, ...]
    requests: tuple[Request, ...]
    policy: Policy
    programme: Programme
    commitments: tuple[Commitment, ...] = ()
    site_by_id: Mapping[str, Site] = field(init=False, repr=False, compare=False)
    pool_by_id: Mapping[str, Pool] = field(init=False, repr=False, compare=False)
    org_by_id: Mapping[str, Org] = field(init=False, repr=False, compare=False)
    voucher_by_id: Mapping[str, Voucher] = field(init=False, repr=False, compare=False)
    request_by_id: Mapping[str, Request] = field(init=False, repr=False, compare=False)
    commitments_by_pool: Mapping[str, tuple[Commitment, ...]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "site_by_id", _unique(self.sites, "site"))
        set_(self, "pool_by_id", _unique(self.pools, "pool"))
        set_(self, "org_by_id", _unique(self.orgs, "org"))
        set_(self, "voucher_by_id", _unique(self.vouchers, "voucher"))
        set_(self, "request_by_id", _unique(self.requests, "request"))
        for pool in self.pools:
            _require(pool.site_id in self.site_by_id, f"pool {pool.id}: site", f"unknown site {pool.site_id!r}")
        for voucher in self.vouchers:
            _require(
                voucher.org_id in self.org_by_id,
                f"voucher {voucher.id}: org_id",
                f"unknown organisation {voucher.org_id!r}",
            )
        known_types = {p.accelerator_type for p in self.pools}
        for request in self.requests:
            where = f"request {request.id}"
            _require(request.org_id in self.org_by_id, f"{where}: org_id", f"unknown organisation {request.org_id!r}")
            for type_ in request.accelerator_types or ():
                _require(
                    type_ in known_types,
                    f"{where}: accelerator_types",
                    f"unknown accelerator type {type_!r}; known: {', '.join(sorted(known_types))}",
                )
            for site_id in request.sites or ():
                _require(site_id in self.site_by_id, f"{where}: sites", f"unknown site {site_id!r}")
            submitted = request.submitted_at
            if submitted is not None and (earliest := self.horizon.to_datetime(request.earliest_slot)) < submitted:
                first = self.horizon.to_datetime(self.arrival_slot(request)).isoformat()
                rule = f"{earliest.isoformat()} is before submitted_at {submitted.isoformat()}: a request cannot start"
                raise InputError(f"{where}: earliest_start", f"{rule} before it is submitted (first slot: {first})")
            if request.voucher_id is not None:
                owner = self.voucher_by_id.get(request.voucher_id)
                _require(owner is not None, f"{where}: voucher_id", f"unknown voucher {request.voucher_id!r}")
                _require(
                    owner is not None and owner.org_id == request.org_id,
                    f"{where}: voucher_id",
                    f"voucher {request.voucher_id} belongs to another organisation",
                )
        by_pool: dict[str, list[Commitment]] = {pool.id: [] for pool in self.pools}
        for commitment in self.commitments:
            _require(
                commitment.pool_id in self.pool_by_id, "commitment.pool_id", f"unknown pool {commitment.pool_id!r}"
            )
            by_pool[commitment.pool_id].append(commitment)
        set_(self, "commitments_by_pool", {pool_id: tuple(held) for pool_id, held in by_pool.items()})

    def is_sme(self, request: Request) -> bool:
        return self.org_by_id[request.org_id].org_class is OrgClass.SME

    def arrival_time(self, request: Request) -> datetime:
        """When ``request`` became known: its ``submitted_at``, else the instant its earliest start begins."""
        if request.submitted_at is not None:
            return request.submitted_at
        return self.horizon.to_datetime(request.earliest_slot)

    def arrival_slot(self, request: Request) -> int:
        """The first round (a slot of this horizon, negative before it) that may see ``request``: the first slot
        boundary at or after :meth:`arrival_time` (hourly slots: 10:20 -> 11:00, 11:00:00 -> 11:00); never after
        its earliest start."""
        if request.submitted_at is None:
            return request.earliest_slot
        return self.horizon.slot_at_or_after(request.submitted_at, f"request {request.id}: submitted_at")

    def held(self, placement: Placement, shift: int = 0) -> Commitment:
        """The capacity ``placement`` holds, as a commitment of a problem whose horizon starts ``shift`` slots
        later."""
        request = self.request_by_id[placement.request_id]
        return Commitment(
            placement.pool_id,
            placement.start_slot - shift,
            placement.end_slot - shift,
            request.accelerators,
            self.is_sme(request),
            self.org_by_id[request.org_id].org_class,
        )

    def after_spending(self, spent_by_voucher: Mapping[str, int]) -> Problem:
        """This problem with money already spent: each voucher's balance and the programme budget less what
        ``spent_by_voucher`` says was paid from them (never below zero)."""
        vouchers = tuple(
            replace(v, balance_fen=max(0, v.balance_fen - spent_by_voucher.get(v.id, 0))) for v in self.vouchers
        )
        budget = max(0, self.programme.voucher_budget_fen - sum(spent_by_voucher.values()))
        return replace(self, vouchers=vouchers, programme=replace(self.programme, voucher_budget_fen=budget))

    def eligible_pools(self, request: Request) -> list[Pool]:
        """Pools of an accepted type at an accepted site with enough accelerators."""
        return [
            pool
            for pool in self.pools
            if (request.accelerator_types is None or pool.accelerator_type in request.accelerator_types)
            and (request.sites is None or pool.site_id in request.sites)
            and pool.capacity >= request.accelerators
        ]

    @property
    def release_slot(self) -> int:
        """First slot under the SME reserve: slots before it are lent to everyone."""
        return self.horizon.slots_for_hours(self.policy.reserve_release_hours)


@dataclass(frozen=True)
class Placement:
    """One request's allocation: ``accelerators`` of ``pool_id`` in slots ``[start_slot, end_slot)``, its run
    at the pool's speed (the placement rule checks ``end_slot``; :mod:`scheduler.rules.placement`)."""

    request_id: str
    pool_id: str
    start_slot: int
    cost_fen: int
    subsidy_fen: int = 0
    end_slot: int = field(kw_only=True)

    def shifted(self, slots: int) -> Placement:
        """The same placement in a horizon that starts ``slots`` earlier."""
        return replace(self, start_slot=self.start_slot + slots, end_slot=self.end_slot + slots)


Plan = tuple[Placement, ...]
