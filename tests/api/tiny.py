"""A tiny scenario for the API tests (two sites, two pools, four organisations), starting tomorrow so that
the whole horizon lies ahead of the clock; and helpers that speak to the API."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ADMIN_TOKEN = "pcs_test_admin_token"
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
SLOTS = 48
ROUND_AFTER_THE_HORIZON = 4 * 24 * 60.0
"""Minutes between rounds for most API tests: the next round lies past the tiny horizon's end (it starts tomorrow
and lasts two days), so a round commits every placement it plans, at once, as the tests of money, races, cancels
and reports need. The online policy's own timing (hourly rounds commit only what starts before the next round) is
tested in ``tests/api/test_rounds.py`` with ``round_minutes=60``."""


def horizon_start() -> datetime:
    return (datetime.now(UTC) + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)


def at(hours: float) -> str:
    """The instant ``hours`` after the tiny horizon's start, ISO 8601 with offset."""
    return (horizon_start() + timedelta(hours=hours)).isoformat()


def write_tiny_scenario(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "orgs.csv").write_text(
        "org_id,name,org_class\n"
        "sme-a,Alpha AI,sme\nsme-b,Beta Vision,sme\nbig,Big Cloud,large\nuni,City University,research\n"
    )
    (folder / "vouchers.csv").write_text(
        "voucher_id,org_id,ratio_pct,balance_cny,valid_from,valid_until\n"
        f"v-a,sme-a,30,2000,{at(0)},{at(SLOTS)}\n"
        f"v-b,sme-b,30,500,{at(0)},{at(SLOTS)}\n"
    )
    (folder / "requests.csv").write_text(
        "request_id,org_id,accelerators,duration_hours,earliest_start,deadline,accelerator_types,sites,max_cost_cny,voucher_id\n"
        f"seed-big,big,8,6,{at(0)},{at(24)},*,*,,\n"
        f"seed-b,sme-b,4,5,{at(2)},{at(30)},910B,*,,v-b\n"
    )
    (folder / "scenario.yaml").write_text(
        f"""name: tiny
horizon: {{start: "{at(0)}", slot_minutes: 60, slots: {SLOTS}}}
sites:
  - {{id: s1, name: Shanghai One, region: shanghai, pue: 1.2, grid_co2_g_per_kwh: 584.9, green_share: 0.0}}
  - {{id: s2, name: West Two, region: ningxia, pue: 1.15, grid_co2_g_per_kwh: 642.3, green_share: 0.6}}
pools:
  - {{id: p-a800, site: s1, accelerator_type: A800, capacity: 16, price_cny_per_hour: 5.50, speed: 1.0,
     power_w: 400, domestic: false,
     maintenance: [{{start: "{at(40)}", end: "{at(44)}", capacity_lost: 8}}]}}
  - {{id: p-910b, site: s2, accelerator_type: 910B, capacity: 32, price_cny_per_hour: 3.00, speed: 0.8,
     power_w: 400, domestic: true}}
policy:
  sme_reserve_pct: 20
  reserve_release_hours: 24
  class_weights: {{key_project: 4, sme: 3, research: 2, large: 1}}
  carbon_weight_per_kg: 0.2
programme: {{voucher_budget_cny: 10000, domestic_bonus_pct: 10, green_bonus_pct: 5, green_share_threshold: 0.5}}
orgs: orgs.csv
vouchers: vouchers.csv
requests: requests.csv
"""
    )
    return folder / "scenario.yaml"


def request_body(**changes: Any) -> dict[str, Any]:
    """A valid request of an SME (4 A800 or 910B for 6 h within the first day), with ``changes``."""
    body = {
        "accelerators": 4,
        "duration_hours": 6,
        "earliest_start": at(1),
        "deadline": at(20),
        "accelerator_types": "A800;910B",
        "sites": "*",
    }
    return body | changes


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def make_user(client: Any, name: str, role: str, org_id: str | None = None) -> dict[str, str]:
    """Create a user as the admin; return its auth header."""
    response = client.post("/users", headers=ADMIN, json={"name": name, "role": role, "org_id": org_id})
    assert response.status_code == 201, response.text
    return bearer(response.json()["token"])


def run_round_now(client: Any, timeout_s: float = 120.0) -> dict[str, Any]:
    """Start a round over the API (``POST /rounds`` answers 202 at once) and poll it until it has ended."""
    response = client.post("/rounds", headers=ADMIN)
    assert response.status_code == 202, response.text
    assert response.headers["Location"] == f"/rounds/{response.json()['id']}"
    deadline = time.monotonic() + timeout_s
    while (record := client.get(response.headers["Location"], headers=ADMIN).json())["status"] == "running":
        assert time.monotonic() < deadline, f"round {record['id']} still running after {timeout_s} s"
        time.sleep(0.05)
    return record
