"""Scenario files: the default scenario, exact round trips, ``base:`` variants, the generator, bad input."""

from __future__ import annotations

import dataclasses
import pickle
from collections import Counter
from datetime import UTC, datetime, timedelta, timezone
from fractions import Fraction
from pathlib import Path

import pytest

from scheduler.io import generator
from scheduler.io.scenario_writer import write_scenario
from scheduler.io.scenarios import load_scenario
from scheduler.model.domain import OrgClass, Problem
from scheduler.model.errors import InputError

DEFAULT = Path(__file__).resolve().parent.parent / "scenarios" / "shanghai-default" / "scenario.yaml"

TINY = {
    "scenario.yaml": """\
name: tiny
horizon: {start: "2026-12-07T00:00:00+08:00", slot_minutes: 60, slots: 24}
sites:
  - {id: east, name: East, region: shanghai, pue: 1.2, grid_co2_g_per_kwh: 584.9}
  - {id: west, name: West, region: gansu, pue: 1.15, grid_co2_g_per_kwh: 477.2, green_share: 0.65}
pools:
  - {id: east-a800, site: east, accelerator_type: A800, capacity: 64, price_cny_per_hour: 5.5, speed: 1,
     power_w: 400}
  - id: west-910b
    site: west
    accelerator_type: 910B
    capacity: 128
    price_cny_per_hour: 2.98
    speed: 0.8
    power_w: 400
    domestic: true
    maintenance:
      - {start: "2026-12-07T10:30:00+08:00", end: "2026-12-07T14:00:00+08:00", capacity_lost: 32}
  - {id: east-h20, site: east, accelerator_type: H20, capacity: 32, price_cny_per_hour: 8, speed: 2/3, power_w: 400}
policy:
  sme_reserve_pct: 20
  reserve_release_hours: 6
  class_weights: {key_project: 4, sme: 3, research: 2, large: 1}
  carbon_weight_per_kg: 0.2
programme:
  voucher_budget_cny: 10000.50
  domestic_bonus_pct: 10
orgs: orgs.csv
vouchers: data/vouchers.csv
requests: requests.csv
commitments:
  - {pool: east-a800, start: "2026-12-07T00:00:00+08:00", end: "2026-12-07T03:00:00+08:00", accelerators: 8,
     sme: false}
""",
    "orgs.csv": """\
org_id,name,org_class,employees,revenue_cny
o1,Alpha AI,sme,,
o2,"Beta, Inc.",,5000,900000000
o3,Gamma Lab,research,,
""",
    "data/vouchers.csv": """\
voucher_id,org_id,ratio_pct,balance_cny,valid_from,valid_until
v1,o1,30,1000.50,2026-12-07T00:00:00+08:00,2026-12-08T00:00:00+08:00
v3,o3,30,500,2026-12-07T00:00:00+08:00,2026-12-07T12:00:00+08:00
""",
    "requests.csv": """\
request_id,org_id,accelerators,duration_hours,earliest_start,deadline,accelerator_types,sites,max_cost_cny,voucher_id
r1,o1,8,4,2026-12-07T01:30:00+08:00,2026-12-07T12:45:00+08:00,A800;910B,*,200.5,v1
r2,o2,16,6,2026-12-07T00:00:00+08:00,2026-12-08T00:00:00+08:00,*,east,,
r3,o3,8,2,2026-12-06T20:00:00+08:00,2026-12-07T04:00:00+08:00,*,*,,
""",
}


def _tiny(root: Path, *edits: tuple[str, str, str]) -> Path:
    """Write the tiny scenario under ``root`` after the edits ``(file, old, new)``; return its YAML path."""
    files = dict(TINY)
    for name, old, new in edits:
        assert old in files[name], (name, old)
        files[name] = files[name].replace(old, new)
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text, encoding="utf-8")
    return root / "scenario.yaml"


@pytest.fixture(scope="module")
def default_problem() -> Problem:
    return load_scenario(DEFAULT).problem


# ---------------------------------------------------------------- the default scenario


def test_default_scenario_loads(default_problem: Problem) -> None:
    scenario = load_scenario(DEFAULT)
    assert scenario.name == "shanghai-default"
    assert scenario.path == DEFAULT
    assert len(default_problem.sites) == 6
    assert len(default_problem.pools) == 9
    assert sum(pool.capacity for pool in default_problem.pools) == 13_056
    assert 500 <= len(default_problem.requests) <= 900
    assert default_problem.pool_by_id["zhongwei-910b"].price_fen_per_hour == 298
    assert default_problem.pool_by_id["qingpu-h20"].speed == Fraction(11, 20)
    assert default_problem.programme.voucher_budget_fen == 150_000_000


def test_default_scenario_is_deterministic(default_problem: Problem) -> None:
    assert load_scenario(DEFAULT).problem == default_problem


def test_default_scenario_round_trip_is_exact(tmp_path: Path) -> None:
    scenario = load_scenario(DEFAULT)
    written = write_scenario(scenario, tmp_path / "out")
    assert written == tmp_path / "out" / "scenario.yaml"
    again = load_scenario(written)
    assert again.problem == scenario.problem
    assert again.name == scenario.name


# ---------------------------------------------------------------- a hand-written scenario


def test_tiny_scenario_converts_units_and_times(tmp_path: Path) -> None:
    problem = load_scenario(_tiny(tmp_path)).problem
    pools = problem.pool_by_id
    assert pools["west-910b"].price_fen_per_hour == 298
    assert pools["east-a800"].price_fen_per_hour == 550
    assert pools["west-910b"].speed == Fraction(4, 5)
    assert pools["east-h20"].speed == Fraction(2, 3)
    window = pools["west-910b"].maintenance[0]
    assert (window.start_slot, window.end_slot, window.capacity_lost) == (11, 14, 32)  # 10:30 rounds up
    assert problem.org_by_id["o2"].org_class is OrgClass.LARGE  # derived from employees and revenue
    assert problem.voucher_by_id["v1"].balance_fen == 100_050
    assert problem.programme.voucher_budget_fen == 1_000_050
    r1, r2, r3 = problem.requests
    assert (r1.earliest_slot, r1.deadline_slot) == (2, 12)  # 01:30 rounds up, 12:45 rounds down
    assert r1.accelerator_types == frozenset({"A800", "910B"}) and r1.sites is None
    assert (r1.max_cost_fen, r1.voucher_id) == (20_050, "v1")
    assert r2.accelerator_types is None and r2.sites == frozenset({"east"}) and r2.max_cost_fen is None
    assert r3.earliest_slot == -4  # before the horizon: the core clips
    assert problem.commitments[0].end_slot == 3


def test_tiny_scenario_round_trip_is_exact(tmp_path: Path) -> None:
    scenario = load_scenario(_tiny(tmp_path / "in"))
    again = load_scenario(write_scenario(scenario, tmp_path / "out"))
    assert again.problem == scenario.problem
    assert (tmp_path / "out" / "requests.csv").read_text().splitlines()[1].endswith(",200.50,v1")


# r1 submitted 10 minutes before its earliest start, r2 unknown, r3 in another time zone (12:00 UTC is 20:00 +08:00)
SUBMITTED = (
    ("requests.csv", "max_cost_cny,voucher_id\n", "max_cost_cny,voucher_id,submitted_at\n"),
    ("requests.csv", "200.5,v1\n", "200.5,v1,2026-12-07T01:20:05+08:00\n"),
    ("requests.csv", "*,east,,\n", "*,east,,,\n"),
    ("requests.csv", "*,*,,\n", "*,*,,,2026-12-06T11:59:59+00:00\n"),
)


def test_submitted_at_is_read_and_written_back(tmp_path: Path) -> None:
    scenario = load_scenario(_tiny(tmp_path / "in", *SUBMITTED))
    problem = scenario.problem
    r1, r2, r3 = problem.requests
    beijing = timezone(timedelta(hours=8))
    assert r1.submitted_at == datetime(2026, 12, 7, 1, 20, 5, tzinfo=beijing)
    assert (problem.arrival_slot(r1), r1.earliest_slot) == (2, 2)  # 01:20:05 -> the 02:00 round
    assert r2.submitted_at is None and problem.arrival_slot(r2) == r2.earliest_slot == 0
    assert r3.submitted_at == datetime(2026, 12, 6, 11, 59, 59, tzinfo=UTC)
    assert problem.arrival_slot(r3) == -4  # 19:59:59 +08:00 -> the 20:00 slot, 4 before the horizon
    again = load_scenario(write_scenario(scenario, tmp_path / "out"))
    assert again.problem == problem
    lines = (tmp_path / "out" / "requests.csv").read_text().splitlines()
    assert lines[0].endswith(",voucher_id,submitted_at") and lines[1].endswith(",v1,2026-12-07T01:20:05+08:00")
    assert lines[2].endswith(",east,,,")


def test_an_earliest_start_before_submitted_at_is_refused(tmp_path: Path) -> None:
    path = _tiny(tmp_path, *SUBMITTED[:2], ("requests.csv", "01:20:05+08:00", "01:30:01+08:00"))
    with pytest.raises(
        InputError,
        match=r"requests\.csv row 1 \(request r1\): earliest_start: 2026-12-07T01:30:00\+08:00 is before submitted_at "
        r"2026-12-07T01:30:01\+08:00: a request cannot start before it is submitted",
    ):
        load_scenario(path)


def test_a_submitted_at_without_offset_is_refused(tmp_path: Path) -> None:
    path = _tiny(tmp_path, *SUBMITTED[:2], ("requests.csv", "01:20:05+08:00", "01:20:05"))
    with pytest.raises(
        InputError, match=r"requests\.csv row 1 \(request r1\): submitted_at: .* must carry a UTC offset"
    ):
        load_scenario(path)
    path = _tiny(tmp_path, ("requests.csv", "max_cost_cny,voucher_id\n", "max_cost_cny,voucher_id,submitted\n"))
    with pytest.raises(InputError, match=r"requests\.csv: unknown column 'submitted'"):
        load_scenario(path)


# ---------------------------------------------------------------- base: variants


def test_base_override_changes_only_what_it_sets(tmp_path: Path, default_problem: Problem) -> None:
    variant = tmp_path / "variant.yaml"
    variant.write_text(f"base: {DEFAULT}\nname: sme-40\npolicy: {{sme_reserve_pct: 40}}\n", encoding="utf-8")
    scenario = load_scenario(variant)
    assert scenario.name == "sme-40"
    expected_policy = dataclasses.replace(default_problem.policy, sme_reserve_pct=40)
    assert scenario.problem == dataclasses.replace(default_problem, policy=expected_policy)


def test_base_resolves_csv_paths_against_the_declaring_file(tmp_path: Path) -> None:
    base = _tiny(tmp_path / "base")
    (tmp_path / "what-if").mkdir()
    variant = tmp_path / "what-if" / "scenario.yaml"
    variant.write_text(
        "base: ../base/scenario.yaml\npolicy: {class_weights: {sme: 5}}\nprogramme: {voucher_budget_cny: 0}\n",
        encoding="utf-8",
    )
    original = load_scenario(base).problem
    problem = load_scenario(variant).problem
    assert problem.requests == original.requests and problem.vouchers == original.vouchers
    assert problem.policy.class_weights[OrgClass.SME] == 5
    assert problem.policy.class_weights[OrgClass.LARGE] == 1
    assert problem.programme == dataclasses.replace(original.programme, voucher_budget_fen=0)


def test_base_merges_generator_parameters(tmp_path: Path, default_problem: Problem) -> None:
    variant = tmp_path / "variant.yaml"
    variant.write_text(f"base: {DEFAULT}\nrequests: {{generator: {{demand_factor: 0.5}}}}\n", encoding="utf-8")
    problem = load_scenario(variant).problem
    assert 0.3 * len(default_problem.requests) < len(problem.requests) < 0.5 * len(default_problem.requests)
    assert problem.orgs == default_problem.orgs


# ---------------------------------------------------------------- the generator


def test_generator_meets_class_mix_and_demand(default_problem: Problem) -> None:
    org_class = {org.id: org.org_class for org in default_problem.orgs}
    work: Counter[OrgClass] = Counter()
    for request in default_problem.requests:
        work[org_class[request.org_id]] += request.accelerators * request.duration_hours
    total = sum(work.values())
    for cls, target in generator.DEFAULT_CLASS_MIX.items():
        assert abs(work[cls] / total - target) <= 0.03, cls
    capacity_hours = sum(pool.capacity for pool in default_problem.pools) * default_problem.horizon.slots
    assert abs(total / capacity_hours / 1.3 - 1) <= 0.05


def test_generator_shape(default_problem: Problem) -> None:
    counts = Counter(org.org_class for org in default_problem.orgs)
    assert counts == {OrgClass.SME: 60, OrgClass.LARGE: 12, OrgClass.RESEARCH: 15, OrgClass.KEY_PROJECT: 5}
    assert default_problem.org_by_id["sme-017"].name == "SME 017"
    holders = Counter(default_problem.org_by_id[v.org_id].org_class for v in default_problem.vouchers)
    assert holders == {OrgClass.SME: 48, OrgClass.RESEARCH: 8}
    horizon = default_problem.horizon
    for request in default_problem.requests:
        assert request.accelerators % 8 == 0
        assert 0 <= request.earliest_slot < request.deadline_slot <= horizon.slots
        assert request.deadline_slot - request.earliest_slot >= request.duration_hours
        voucher = next((v for v in default_problem.vouchers if v.org_id == request.org_id), None)
        assert request.voucher_id == (voucher.id if voucher else None)


def test_generator_seed_changes_the_requests(default_problem: Problem) -> None:
    p = default_problem
    other = generator.generate_requests(p.orgs, p.vouchers, p.pools, p.sites, p.horizon, {"seed": 4})
    assert other != p.requests
    assert other == generator.generate_requests(p.orgs, p.vouchers, p.pools, p.sites, p.horizon, {"seed": 4})


def test_generator_rejects_unknown_parameter(tmp_path: Path) -> None:
    variant = tmp_path / "variant.yaml"
    variant.write_text(f"base: {DEFAULT}\nrequests: {{generator: {{demand_factr: 1.0}}}}\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"variant\.yaml: requests: generator\.demand_factr: unknown parameter"):
        load_scenario(variant)


# ---------------------------------------------------------------- bad input


def test_missing_key(tmp_path: Path) -> None:
    path = _tiny(tmp_path, ("scenario.yaml", "requests: requests.csv\n", ""))
    with pytest.raises(InputError, match=r"scenario\.yaml: missing key 'requests'"):
        load_scenario(path)
    path = _tiny(tmp_path, ("scenario.yaml", "  domestic_bonus_pct: 10\n", ""))
    with pytest.raises(InputError, match=r"scenario\.yaml: programme: missing key 'domestic_bonus_pct'"):
        load_scenario(path)


def test_unknown_policy_key(tmp_path: Path) -> None:
    path = _tiny(tmp_path, ("scenario.yaml", "sme_reserve_pct: 20", "sme_reserve_pc: 20"))
    with pytest.raises(InputError, match=r"scenario\.yaml: policy: unknown key 'sme_reserve_pc'; did you mean"):
        load_scenario(path)
    path = _tiny(tmp_path, ("scenario.yaml", "programme:\n", "programm:\n"))
    with pytest.raises(InputError, match=r"scenario\.yaml: unknown key 'programm'; did you mean 'programme'"):
        load_scenario(path)


def test_negative_capacity(tmp_path: Path) -> None:
    path = _tiny(tmp_path, ("scenario.yaml", "capacity: 128", "capacity: -128"))
    with pytest.raises(InputError, match=r"scenario\.yaml: pools\[1\]\.capacity: must be > 0, got -128"):
        load_scenario(path)


def test_deadline_before_earliest_start(tmp_path: Path) -> None:
    path = _tiny(
        tmp_path,
        (
            "requests.csv",
            "2026-12-06T20:00:00+08:00,2026-12-07T04:00:00+08:00",
            "2026-12-07T04:00:00+08:00,2026-12-07T03:00:00+08:00",
        ),
    )
    with pytest.raises(InputError, match=r"requests\.csv row 3 \(request r3\): deadline: must be after earliest_start"):
        load_scenario(path)


def test_unknown_accelerator_type(tmp_path: Path) -> None:
    path = _tiny(tmp_path, ("requests.csv", "A800;910B", "A800;H100"))
    with pytest.raises(
        InputError, match=r"requests\.csv row 1 \(request r1\): accelerator_types: unknown accelerator type 'H100'"
    ):
        load_scenario(path)


def test_voucher_of_another_organisation(tmp_path: Path) -> None:
    path = _tiny(tmp_path, ("requests.csv", "200.5,v1", "200.5,v3"))
    with pytest.raises(
        InputError, match=r"requests\.csv row 1 \(request r1\): voucher_id: voucher v3 belongs to another organisation"
    ):
        load_scenario(path)


def test_missing_csv_file(tmp_path: Path) -> None:
    path = _tiny(tmp_path, ("scenario.yaml", "requests: requests.csv", "requests: demand.csv"))
    with pytest.raises(InputError, match=r"scenario\.yaml: requests: file 'demand\.csv' not found"):
        load_scenario(path)


def test_missing_csv_column(tmp_path: Path) -> None:
    path = _tiny(tmp_path, ("data/vouchers.csv", "ratio_pct,", "ratio,"))
    with pytest.raises(InputError, match=r"data/vouchers\.csv: unknown column 'ratio'"):
        load_scenario(path)
    path = _tiny(tmp_path, ("requests.csv", ",deadline,", ",due,"))
    with pytest.raises(InputError, match=r"requests\.csv: (unknown|missing) column '(due|deadline)'"):
        load_scenario(path)
    path = _tiny(tmp_path, ("orgs.csv", "org_id,name,org_class,employees,revenue_cny", "org_id,org_class"))
    with pytest.raises(InputError, match=r"orgs\.csv: missing column 'name'"):
        load_scenario(path)


def test_non_numeric_accelerators(tmp_path: Path) -> None:
    path = _tiny(tmp_path, ("requests.csv", "r2,o2,16,", "r2,o2,sixteen,"))
    with pytest.raises(
        InputError, match=r"requests\.csv row 2 \(request r2\): accelerators: must be a whole number > 0, got 'sixteen'"
    ):
        load_scenario(path)


def test_money_with_three_decimals(tmp_path: Path) -> None:
    path = _tiny(tmp_path, ("data/vouchers.csv", "1000.50", "1000.505"))
    with pytest.raises(
        InputError, match=r"data/vouchers\.csv row 1 \(voucher v1\): balance_cny: must have at most 2 decimals"
    ):
        load_scenario(path)
    path = _tiny(tmp_path, ("scenario.yaml", "price_cny_per_hour: 2.98", "price_cny_per_hour: 2.985"))
    with pytest.raises(InputError, match=r"scenario\.yaml: pools\[1\]\.price_cny_per_hour: must have at most 2"):
        load_scenario(path)


def test_yaml_syntax_error(tmp_path: Path) -> None:
    path = _tiny(tmp_path, ("scenario.yaml", "slots: 24}", "slots: 24"))
    with pytest.raises(InputError, match=r"scenario\.yaml: invalid YAML at line \d+, column \d+"):
        load_scenario(path)


def test_missing_base_file(tmp_path: Path) -> None:
    variant = tmp_path / "variant.yaml"
    variant.write_text("base: nowhere.yaml\npolicy: {sme_reserve_pct: 40}\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"variant\.yaml: base: file 'nowhere\.yaml' not found"):
        load_scenario(variant)


def test_error_in_base_names_the_base_file(tmp_path: Path) -> None:
    _tiny(tmp_path / "base", ("scenario.yaml", "capacity: 128", "capacity: 0"))
    variant = tmp_path / "variant.yaml"
    variant.write_text("base: base/scenario.yaml\npolicy: {sme_reserve_pct: 40}\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"base/scenario\.yaml: pools\[1\]\.capacity: must be > 0, got 0"):
        load_scenario(variant)


def test_unknown_key_in_a_base_section_names_the_base_file(tmp_path: Path) -> None:
    # the variant merges into the same section, yet the misspelt key came from the base
    _tiny(tmp_path / "base", ("scenario.yaml", "sme_reserve_pct: 20", "sme_reserve_pc: 20"))
    variant = tmp_path / "variant.yaml"
    variant.write_text("base: base/scenario.yaml\npolicy: {class_weights: {sme: 5}}\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"^base/scenario\.yaml: policy: unknown key 'sme_reserve_pc'; did you mean"):
        load_scenario(variant)


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (
            "requests: requests.csv",
            "requests: {generatr: {}}",
            r"requests: unknown key 'generatr'; did you mean 'generator'",
        ),
        ("orgs: orgs.csv", "orgs: {trace: {}}", r"orgs: unknown key 'trace'; allowed: generator"),
        ("requests: requests.csv", "requests: 5", r"requests: must be a CSV path, a mapping \{generator"),
        ("name: tiny", "bse: x\nname: tiny", r"unknown key 'bse'; did you mean 'base'"),
        ("capacity: 128", "capacity: '128'", r"pools\[1\]\.capacity: must be a whole number, got '128'"),
        ("capacity: 128", "capacity: 2.5", r"pools\[1\]\.capacity: must be a whole number, got 2\.5"),
        ("domestic: true", "domestic: yes please", r"pools\[1\]\.domestic: must be true or false"),
        ("price_cny_per_hour: 2.98", "price_cny_per_hour: -1", r"pools\[1\]\.price_cny_per_hour: must be >= 0, got -1"),
        ("name: tiny", "name: 5", r"name: must be non-empty text, got 5"),
        ("carbon_weight_per_kg: 0.2", "carbon_weight_per_kg: .inf", r"policy\.carbon_weight_per_kg: must be a finite"),
        ("{key_project: 4,", "{key_projct: 4,", r"policy\.class_weights\.key_projct: 'key_projct' is not one of"),
        ("sme: false}", "sme: 0}", r"commitments\[0\]\.sme: must be true or false, got 0"),
    ],
)
def test_yaml_values_are_checked_by_the_schema(tmp_path: Path, old: str, new: str, message: str) -> None:
    with pytest.raises(InputError, match=r"^scenario\.yaml: " + message):
        load_scenario(_tiny(tmp_path, ("scenario.yaml", old, new)))


def test_a_loaded_problem_crosses_process_boundaries() -> None:
    # rounds solve in a child process and benchmarks in fresh ones: the problem must pickle
    problem = load_scenario(DEFAULT).problem
    assert pickle.loads(pickle.dumps(problem)) == problem
