"""Demand from the real traces: readers, the size rule, the seeded draws, and the scenario ``trace:`` key."""

from __future__ import annotations

import math
from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from scheduler.io.scenarios import load_scenario
from scheduler.io.traces import auto_scale, read_trace, sizes_for_scale
from scheduler.model.errors import InputError

ROOT = Path(__file__).resolve().parents[1]
TRACES = ROOT.parent / "shared" / "data" / "traces"
ITP_SCENARIO = ROOT / "scenarios" / "trace-itp" / "scenario.yaml"
DEFAULT = ROOT / "scenarios" / "shanghai-default" / "scenario.yaml"

pytestmark = pytest.mark.skipif(not TRACES.is_dir(), reason="shared/data/traces is not beside the clone")


@pytest.mark.parametrize(
    "name", ["itp_2021_jobs.csv", "philly_vc_gavel_jobs.csv", "alibaba_openb2023_pods.csv"], ids=lambda n: n[:5]
)
def test_each_trace_reads_as_submit_gpus_duration(name: str) -> None:
    jobs = read_trace(TRACES / name)
    assert list(jobs.columns) == ["submit_s", "num_gpus", "duration_s"]
    assert len(jobs) > 1000
    assert (jobs["num_gpus"] >= 1).all()
    assert (jobs["duration_s"] >= 0).all()
    assert jobs["submit_s"].is_monotonic_increasing


def test_openb_drops_cpu_only_and_never_scheduled_pods() -> None:
    raw = pd.read_csv(TRACES / "alibaba_openb2023_pods.csv")
    kept = (raw["num_gpus"] >= 1) & raw["scheduled_time_s"].notna()
    assert len(read_trace(TRACES / "alibaba_openb2023_pods.csv")) == kept.sum() < len(raw)


def test_an_unknown_file_is_refused_with_its_name(tmp_path: Path) -> None:
    bogus = tmp_path / "jobs.csv"
    bogus.write_text("a,b\n1,2\n")
    with pytest.raises(InputError, match=r"jobs\.csv: not an ITP 2021"):
        read_trace(bogus)


def test_sizes_are_whole_nodes_capped() -> None:
    gpus = np.array([1, 2, 3, 8, 64])
    assert sizes_for_scale(gpus, 1.0, 8, 1024).tolist() == [8, 8, 8, 8, 64]
    assert sizes_for_scale(gpus, 20.0, 8, 1024).tolist() == [24, 40, 64, 160, 1024]


def test_auto_scale_is_the_smallest_scale_that_reaches_the_target() -> None:
    gpus, hours = np.array([1, 4, 8]), np.array([10, 2, 1])
    target = 5000
    scale = auto_scale(gpus, hours, target, 8, 4096)
    assert (sizes_for_scale(gpus, scale, 8, 4096) * hours).sum() >= target
    assert (sizes_for_scale(gpus, scale * 0.99, 8, 4096) * hours).sum() < target


@pytest.fixture(scope="module")
def itp():
    return load_scenario(ITP_SCENARIO).problem


def test_trace_scenario_keeps_real_arrivals_and_run_times(itp) -> None:
    jobs = read_trace(TRACES / "itp_2021_jobs.csv")
    start = 1814400
    window = jobs[(jobs["submit_s"] >= start) & (jobs["submit_s"] < start + 7 * 86400)]
    requests, horizon = itp.requests, itp.horizon
    assert 0.10 * len(window) < len(requests) < 0.20 * len(window)  # sample 0.15
    arrivals = [r.earliest_slot for r in requests]
    assert arrivals == sorted(arrivals)
    assert min(arrivals) >= 0 and max(arrivals) < horizon.slots
    # every request's (submit time to the second, run hours) is that of a real job in the window
    real = {
        (horizon.start + timedelta(seconds=s - start), min(96, max(1, math.ceil(d / 3600))))
        for s, d in zip(window["submit_s"], window["duration_s"], strict=True)
    }
    assert {(r.submitted_at, r.duration_hours) for r in requests} <= real
    # the earliest start is the submit time rounded up to the slot: never before it, less than a slot after it
    slot = timedelta(minutes=horizon.slot_minutes)
    for r in requests:
        assert r.submitted_at is not None
        assert timedelta(0) <= horizon.to_datetime(r.earliest_slot) - r.submitted_at < slot
        assert itp.arrival_slot(r) == r.earliest_slot
    assert sum(horizon.to_datetime(r.earliest_slot) != r.submitted_at for r in requests) > 0.9 * len(requests)
    min_slack = horizon.slots_for_hours(6)  # min_slack_hours, in slots like the run (speed 1 reference)
    for r in requests:
        assert r.accelerators % 8 == 0 and 8 <= r.accelerators <= 2048
        assert r.deadline_slot >= r.earliest_slot + horizon.slots_for_hours(r.duration_hours) + min_slack


def test_requested_work_is_scaled_to_the_demand_factor(itp) -> None:
    # only the hours inside the week count
    slot_hours, week_hours = itp.horizon.slot_hours, itp.horizon.slots * itp.horizon.slot_hours
    work = sum(r.accelerators * min(r.duration_hours, week_hours - r.earliest_slot * slot_hours) for r in itp.requests)
    capacity_h = sum(p.capacity for p in itp.pools) * week_hours
    assert 1.0 <= work / capacity_h < 1.02


def test_draws_are_seeded(itp, tmp_path: Path) -> None:
    assert load_scenario(ITP_SCENARIO).problem.requests == itp.requests
    other = tmp_path / "other.yaml"
    other.write_text(f"base: {ITP_SCENARIO}\nrequests: {{trace: {{seed: 99}}}}\n")
    redrawn = load_scenario(other).problem.requests
    assert [r.org_id for r in redrawn] != [r.org_id for r in itp.requests]


def test_an_override_resolves_the_trace_file_against_the_file_that_names_it(tmp_path: Path) -> None:
    # the override sets only the sample: the file path still resolves against trace-itp/scenario.yaml
    override = tmp_path / "small.yaml"
    override.write_text(f"base: {ITP_SCENARIO}\nrequests: {{trace: {{sample: 0.02}}}}\n")
    assert 0 < len(load_scenario(override).problem.requests) < 400


def test_a_trace_block_replaces_the_base_generator_block(tmp_path: Path) -> None:
    path = tmp_path / "t.yaml"
    path.write_text(
        f"base: {DEFAULT}\nrequests: {{trace: {{file: {TRACES / 'philly_vc_gavel_jobs.csv'}, sample: 0.05}}}}\n"
    )
    assert all(r.id.startswith("t") for r in load_scenario(path).problem.requests)


def test_a_missing_trace_file_names_the_file_and_the_scenario(tmp_path: Path) -> None:
    path = tmp_path / "missing.yaml"
    path.write_text(f"base: {DEFAULT}\nrequests: {{trace: {{file: ../nowhere/jobs.csv}}}}\n")
    with pytest.raises(InputError) as caught:
        load_scenario(path)
    text = str(caught.value)
    assert "missing.yaml: requests: trace.file" in text
    assert "nowhere/jobs.csv" in text and "not found" in text


def test_unknown_trace_parameters_are_named_as_trace_parameters(tmp_path: Path) -> None:
    path = tmp_path / "typo.yaml"
    path.write_text(f"base: {ITP_SCENARIO}\nrequests: {{trace: {{smaple: 0.1}}}}\n")
    with pytest.raises(InputError, match=r"requests: trace\.smaple: unknown parameter"):
        load_scenario(path)


@pytest.mark.parametrize("name", ["trace-itp", "trace-philly"])
def test_trace_scenarios_load_and_their_requests_fit_some_pool(name: str) -> None:
    problem = load_scenario(ROOT / "scenarios" / name / "scenario.yaml").problem
    assert len(problem.requests) > 300
    assert all(problem.eligible_pools(r) for r in problem.requests)


@pytest.mark.parametrize("slot_minutes", [30, 120], ids=["30min", "2h"])
def test_min_slack_is_hours_whatever_the_slot_length(slot_minutes: int, tmp_path: Path) -> None:
    # min_slack_hours is in hours and the run in slots: with 30-minute slots the old sum gave half the
    # slack, with 2-hour slots twice it
    path = tmp_path / "slots.yaml"
    slots = 7 * 24 * 60 // slot_minutes
    path.write_text(
        f"base: {ITP_SCENARIO}\nhorizon: {{slot_minutes: {slot_minutes}, slots: {slots}}}\n"
        "requests: {trace: {sample: 0.03, min_slack_hours: 6, slack_min: 1.5, slack_max: 3.0}}\n"
    )
    problem = load_scenario(path).problem
    horizon = problem.horizon
    min_slack = horizon.slots_for_hours(6)
    assert len(problem.requests) > 50
    for r in problem.requests:
        run = horizon.slots_for_hours(r.duration_hours)
        window = r.deadline_slot - r.earliest_slot
        assert run + min_slack <= window <= max(math.ceil(run * 3.0), run + min_slack), r
