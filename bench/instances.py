"""Benchmark instances: the default scenario's sites and pools, cloned to 10-25 pools and scaled so
that the demand (synthetic, or from a real trace) holds about the wanted number of requests.

Pools: pool ``k`` copies default pool ``k mod 9`` at a copy of its site (``lingang-2`` ...), with
capacity scaled by a factor found by bisection on the request count (rounded to whole 8-card nodes,
at least 16). Below 1,000 requests the request sizes shrink 8-fold so that pools stay larger than
requests. Organisations scale with the request count (about 8 requests each) and the voucher budget
with the capacity-hours, from the default scenario's 1.5 M CNY per 13,056 cards x 168 h.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from scheduler.io import generator
from scheduler.io.scenarios import load_scenario
from scheduler.io.traces import TraceBlock, trace_requests
from scheduler.model.domain import Pool, Problem, Site
from scheduler.model.horizon import Horizon

ROOT = Path(__file__).resolve().parents[1]
DEFAULT = ROOT / "scenarios" / "shanghai-default" / "scenario.yaml"
TRACES = ROOT.parent / "shared" / "data" / "traces"
TRACE_FILES = {"itp": ("itp_2021_jobs.csv", 1_814_400), "philly": ("philly_vc_gavel_jobs.csv", 0)}


@dataclass(frozen=True)
class Instance:
    source: str
    """``synthetic``, or a trace: ``itp`` or ``philly``."""
    num_requests: int
    num_pools: int
    slots: int
    demand_factor: float
    seed: int = 1

    @property
    def name(self) -> str:
        return f"{self.source}-{self.num_requests}r-{self.num_pools}p-{self.slots}h-{self.demand_factor:g}x"


def _pools(base: Problem, num_pools: int, factor: float) -> tuple[tuple[Site, ...], tuple[Pool, ...]]:
    sites: dict[str, Site] = {}
    pools = []
    for k in range(num_pools):
        template = base.pools[k % len(base.pools)]
        copy = k // len(base.pools)
        site = base.site_by_id[template.site_id]
        site_id = site.id if copy == 0 else f"{site.id}-{copy + 1}"
        sites.setdefault(site_id, dataclasses.replace(site, id=site_id, name=f"{site.name} {copy + 1}"))
        capacity = max(16, round(template.capacity * factor / 8) * 8)
        pools.append(
            dataclasses.replace(
                template, id=f"{template.id}-{copy + 1}", site_id=site_id, capacity=capacity, maintenance=()
            )
        )
    return tuple(sites.values()), tuple(pools)


def _problem(spec: Instance, base: Problem, factor: float, sample: float) -> Problem:
    horizon = Horizon(base.horizon.start, base.horizon.slot_minutes, spec.slots)
    sites, pools = _pools(base, spec.num_pools, factor)
    scale = max(1.0, spec.num_requests / 760)
    counts = {c.value: max(1, round(n * scale)) for c, n in generator.DEFAULT_ORG_COUNTS.items()}
    orgs = generator.generate_orgs({"seed": spec.seed, "counts": counts})
    vouchers = generator.generate_vouchers(orgs, horizon, {"seed": spec.seed + 1})
    if spec.source == "synthetic":
        params: dict = {"seed": spec.seed + 2, "demand_factor": spec.demand_factor}
        if spec.num_requests < 1000:
            params["sizes"] = {
                c.value: {max(1, s // 8): w for s, w in sizes.items()} for c, sizes in generator.DEFAULT_SIZES.items()
            }
        requests = generator.generate_requests(orgs, vouchers, pools, sites, horizon, params)
    else:
        file, start_s = TRACE_FILES[spec.source]
        block = TraceBlock(
            {
                "file": file,
                "start_s": start_s,
                "seed": spec.seed + 2,
                "demand_factor": spec.demand_factor,
                "sample": sample,
                "max_accelerators": 1024,
            },
            TRACES,
        )
        requests = trace_requests(orgs, vouchers, pools, sites, horizon, block)
    capacity_hours = sum(p.capacity for p in pools) * spec.slots
    programme = dataclasses.replace(
        base.programme, voucher_budget_fen=round(150_000_000 * capacity_hours / (13_056 * 168))
    )
    return dataclasses.replace(
        base,
        horizon=horizon,
        sites=sites,
        pools=pools,
        orgs=orgs,
        vouchers=vouchers,
        requests=requests,
        programme=programme,
        commitments=(),
    )


def build(spec: Instance) -> Problem:
    """The instance, its scale found by bisection so that it holds ``num_requests`` requests (±10 %).

    Synthetic demand: the scale is the pools' capacity factor (demand follows capacity). Trace demand:
    the trace's sizes are fitted to the capacity by its own rule, so the scale is the share of trace
    jobs sampled and capacity follows the request count.
    """
    base = load_scenario(DEFAULT).problem
    factor = spec.num_requests / 760 * 9 / spec.num_pools * 168 / spec.slots
    synthetic = spec.source == "synthetic"
    knob, lo, hi = (factor, 1e-3, 64.0) if synthetic else (1.0, 1e-3, 1.0)

    def make(value: float) -> Problem:
        return _problem(spec, base, value, 1.0) if synthetic else _problem(spec, base, factor, value)

    best = make(knob)
    for _ in range(12):
        count = len(best.requests)
        if abs(count - spec.num_requests) <= 0.1 * spec.num_requests or (
            not synthetic and knob >= 1.0 and count < spec.num_requests
        ):
            break
        lo, hi = (knob, hi) if count < spec.num_requests else (lo, knob)
        knob = (lo * hi) ** 0.5 if synthetic else (lo + hi) / 2
        best = make(knob)
    return best
