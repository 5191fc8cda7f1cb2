"""Writes a scenario back to files: ``scenario.yaml`` with ``orgs.csv``, ``vouchers.csv`` and ``requests.csv``."""

from __future__ import annotations

import csv
from dataclasses import asdict
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

import yaml

from scheduler.io.parse import fen_to_cny, names_text
from scheduler.io.scenario_tables import REQUEST_COLUMNS, VOUCHER_COLUMNS
from scheduler.io.scenarios import Scenario
from scheduler.model.domain import OrgClass


class _Dumper(yaml.SafeDumper):
    """A SafeDumper of our own, so the representer below does not change yaml.SafeDumper for everyone."""


class _Decimal(str):
    """A number written as its exact decimal text (money with 2 decimals, an exact speed)."""


_Dumper.add_representer(_Decimal, lambda dumper, text: dumper.represent_scalar("tag:yaml.org,2002:float", text))


def _speed(value: Fraction) -> str:
    """Exact decimal text when there is one (``0.55``), else ``2/3``: both load back to ``value``."""
    for digits in range(1, 19):
        scaled = value * 10**digits
        if scaled.denominator == 1:
            return _Decimal(f"{Decimal(scaled.numerator).scaleb(-digits):f}")
    return f"{value.numerator}/{value.denominator}"


def _write_csv(path: Path, header: list[str], rows: list[list[Any]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)


def write_scenario(scenario: Scenario, out_dir: Path) -> Path:
    """Write ``scenario`` as ``out_dir/scenario.yaml`` with ``orgs.csv``, ``vouchers.csv`` and ``requests.csv``.

    ``load_scenario`` of the written file gives a problem equal to ``scenario.problem``. Times are
    written as ISO 8601 with the horizon's offset (a request's ``submitted_at`` with its own), money as CNY
    with 2 decimals.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    problem = scenario.problem
    horizon = problem.horizon
    when = lambda slot: horizon.to_datetime(slot).isoformat()  # noqa: E731
    pools = []
    for pool in problem.pools:
        item: dict[str, Any] = {
            "id": pool.id,
            "site": pool.site_id,
            "accelerator_type": pool.accelerator_type,
            "capacity": pool.capacity,
            "price_cny_per_hour": _Decimal(fen_to_cny(pool.price_fen_per_hour)),
            "speed": _speed(pool.speed),
            "power_w": pool.power_w,
            "domestic": pool.domestic,
        }
        if pool.maintenance:
            item["maintenance"] = [
                {"start": when(w.start_slot), "end": when(w.end_slot), "capacity_lost": w.capacity_lost}
                for w in pool.maintenance
            ]
        pools.append(item)
    policy, programme = problem.policy, problem.programme
    doc: dict[str, Any] = {
        "name": scenario.name,
        "horizon": {"start": horizon.start.isoformat(), "slot_minutes": horizon.slot_minutes, "slots": horizon.slots},
        "sites": [
            {
                "id": site.id,
                "name": site.name,
                "region": site.region,
                "pue": site.pue,
                "grid_co2_g_per_kwh": site.grid_co2_g_per_kwh,
                "green_share": site.green_share,
            }
            for site in problem.sites
        ],
        "pools": pools,
        "policy": {
            "sme_reserve_pct": policy.sme_reserve_pct,
            "reserve_release_hours": policy.reserve_release_hours,
            "class_weights": {c.value: policy.class_weights[c] for c in OrgClass if c in policy.class_weights},
            "carbon_weight_per_kg": policy.carbon_weight_per_kg,
            "delay_weight_per_slot": policy.delay_weight_per_slot,
            # a limit left out is no limit
            "quotas": {
                c.value: {key: value for key, value in asdict(policy.quotas[c]).items() if value is not None}
                for c in OrgClass
            },
        },
        "programme": {
            "voucher_budget_cny": _Decimal(fen_to_cny(programme.voucher_budget_fen)),
            "domestic_bonus_pct": programme.domestic_bonus_pct,
            "green_bonus_pct": programme.green_bonus_pct,
            "green_share_threshold": programme.green_share_threshold,
        },
        "orgs": "orgs.csv",
        "vouchers": "vouchers.csv",
        "requests": "requests.csv",
    }
    if problem.commitments:
        doc["commitments"] = [
            {"pool": c.pool_id, "start": when(c.start_slot), "end": when(c.end_slot), "accelerators": c.accelerators}
            | {"sme": c.sme}
            for c in problem.commitments
        ]
    path = out_dir / "scenario.yaml"
    text = yaml.dump(doc, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=120)
    path.write_text(f"# Written by scheduler.io.scenarios.write_scenario.\n{text}", encoding="utf-8")
    _write_csv(
        out_dir / "orgs.csv", ["org_id", "name", "org_class"], [[o.id, o.name, o.org_class.value] for o in problem.orgs]
    )
    _write_csv(
        out_dir / "vouchers.csv",
        list(VOUCHER_COLUMNS),
        [
            [v.id, v.org_id, v.ratio_pct, fen_to_cny(v.balance_fen), when(v.valid_from_slot), when(v.valid_until_slot)]
            for v in problem.vouchers
        ],
    )
    # the optional submitted_at column only when some request knows its submission: other files stay as they were
    submitted = any(r.submitted_at is not None for r in problem.requests)
    _write_csv(
        out_dir / "requests.csv",
        [name for name in REQUEST_COLUMNS if submitted or name != "submitted_at"],
        [
            [
                r.id,
                r.org_id,
                r.accelerators,
                r.duration_hours,
                when(r.earliest_slot),
                when(r.deadline_slot),
                names_text(r.accelerator_types),
                names_text(r.sites),
                "" if r.max_cost_fen is None else fen_to_cny(r.max_cost_fen),
                r.voucher_id or "",
            ]
            + (["" if r.submitted_at is None else r.submitted_at.isoformat()] if submitted else [])
            for r in problem.requests
        ],
    )
    return path
