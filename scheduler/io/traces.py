"""Demand from real GPU-cluster traces (``shared/data/traces/``, see its README): a scenario's
``requests: {trace: {...}}`` block.

What is real and what is drawn
------------------------------
Real, from the trace: each job's **arrival** (submit time), its **GPU count** and its **run time**. Drawn by
the seeded rules below (``random.Random(seed)``, nothing iterates over a set): the organisation and its
class, the accepted accelerator types and sites, the deadline, the price ceiling and the voucher. The
organisations and vouchers themselves come from the scenario's ``orgs`` / ``vouchers`` blocks
(:mod:`scheduler.io.generator` where the scenario uses generator blocks).

Readers (the format is told by the file's columns):

- ITP 2021 (``itp_2021_jobs.csv``): ``submit_time_s, num_gpus, duration_s``; ``ef_deadline_s`` is synthetic
  and ignored.
- Philly via Gavel (``philly_vc_gavel_jobs.csv``): ``arrival_s, num_gpus, duration_s`` (duration
  reconstructed by the extraction, see the traces README).
- Alibaba openb 2023 (``alibaba_openb2023_pods.csv``): ``submit_time_s, num_gpus, duration_s``; CPU-only
  pods and pods never scheduled are dropped; a shared pod (``gpu_milli < 1000``) takes one whole accelerator.

Rules
-----
- **Window**: jobs submitted in ``[start_s, start_s + days * 86400)`` (``start_s`` default: the first submit
  in the file; ``days`` default: the horizon), each kept with chance ``sample``, and placed on the horizon
  with ``start_s`` at its start. ``submitted_at`` is the real submit time to the second (a fraction of a
  second rounds up, so a request is never known before it was submitted); the earliest start is the first slot
  boundary at or after it (:meth:`~scheduler.model.horizon.Horizon.slot_at_or_after`: with hourly slots a job
  submitted at 10:20 may start at 11:00, one submitted at 11:00:00 at 11:00), and that slot is its arrival
  (:meth:`~scheduler.model.domain.Problem.arrival_slot`). Jobs whose earliest start is the horizon's end or later
  are dropped.
- **Duration**: ``ceil(duration_s / 3600)`` reference hours (the trace's GPU is taken as the reference
  accelerator, speed 1.0), clipped to ``max_duration_hours``.
- **Size** (trace GPUs onto the scenario's pools): ``accelerators = min(max_accelerators, node_size *
  ceil(num_gpus * scale / node_size))`` - whole nodes of ``node_size`` cards. With ``scale: auto`` (the
  default) the scale is the smallest one (found by bisection) at which the requested work
  ``sum(accelerators * hours inside the window)`` reaches ``demand_factor * sum(pool capacity) * window hours``
  (a job's hours after the window's end do not count).
  A city pool is about a hundred times an ITP cluster: ``sample < 1`` with an automatic scale keeps the
  load but makes fewer, larger requests, which keeps a round's solve small.
- **Deadline**: ``arrival + max(ceil(run * slack), run + min_slack)`` slots, ``run`` the run at reference
  speed and ``min_slack`` the slots that hold ``min_slack_hours`` (both rounded up to whole slots), ``slack``
  uniform in ``[slack_min, slack_max]``; never before ``arrival + run``.
- **Class, organisation, types, sites, price ceiling, voucher**: as :func:`scheduler.io.generator.generate_requests`
  (same parameter names and defaults), except that the class is drawn with chance ``class_mix`` per job.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from scheduler.io import generator
from scheduler.model.domain import Org, OrgClass, Pool, Request, Site, Voucher
from scheduler.model.errors import InputError
from scheduler.model.horizon import Horizon

DEFAULTS: dict[str, Any] = {
    "file": None,
    "start_s": None,
    "days": None,
    "seed": 0,
    "sample": 1.0,
    "scale": "auto",
    "demand_factor": 1.0,
    "node_size": 8,
    "max_accelerators": 1024,
    "max_duration_hours": 96,
    "slack_min": 1.5,
    "slack_max": 3.0,
    "min_slack_hours": 6,
    "class_mix": {},
    "training_share": 0.6,
    "training_min_speed": 0.8,
    "all_types_share": 0.5,
    "local_share": 0.2,
    "sme_max_cost_share": 0.3,
    "max_cost_factor_min": 0.8,
    "max_cost_factor_max": 1.2,
}


@dataclass(frozen=True)
class TraceBlock:
    """The parameters of a ``requests: {trace: {...}}`` block and the folder its ``file`` is relative to."""

    params: Mapping[str, Any]
    base_dir: Path


def read_trace(path: Path) -> pd.DataFrame:
    """The jobs of a trace file as ``submit_s, num_gpus, duration_s`` (sorted by submit time).

    Raises
    ------
    InputError
        If the file is missing or is not one of the known trace formats.
    """
    if not path.is_file():
        raise InputError("trace.file", f"trace file not found: {path}")
    frame = pd.read_csv(path)
    columns = set(frame.columns)
    if {"pod_idx", "submit_time_s", "scheduled_time_s", "num_gpus", "duration_s"} <= columns:  # openb 2023
        frame = frame[(frame["num_gpus"] >= 1) & frame["scheduled_time_s"].notna() & frame["duration_s"].notna()]
        jobs = frame.rename(columns={"submit_time_s": "submit_s"})
    elif {"cluster", "submit_time_s", "num_gpus", "duration_s"} <= columns:  # ITP 2021
        jobs = frame.rename(columns={"submit_time_s": "submit_s"})
    elif {"vc", "arrival_s", "num_gpus", "duration_s"} <= columns:  # Philly via Gavel
        jobs = frame.rename(columns={"arrival_s": "submit_s"})
    else:
        raise InputError("trace.file", f"{path.name}: not an ITP 2021, Philly (Gavel) or openb 2023 trace")
    jobs = jobs[["submit_s", "num_gpus", "duration_s"]].astype(
        {"submit_s": float, "num_gpus": int, "duration_s": float}
    )
    return jobs.sort_values("submit_s", kind="stable").reset_index(drop=True)


def sizes_for_scale(num_gpus: np.ndarray, scale: float, node_size: int, max_accelerators: int) -> np.ndarray:
    """``min(max_accelerators, node_size * ceil(num_gpus * scale / node_size))`` per job."""
    nodes = np.ceil(num_gpus * scale / node_size - 1e-9).clip(min=1)
    return np.minimum(max_accelerators, (nodes * node_size).astype(np.int64))


def auto_scale(num_gpus: np.ndarray, hours: np.ndarray, target: float, node_size: int, max_accelerators: int) -> float:
    """The smallest scale (to 0.1 %) at which ``sum(sizes * hours)`` reaches ``target``, or the largest
    useful one when even that falls short (every job at ``max_accelerators``)."""
    lo, hi = 1e-6, float(max_accelerators)
    if (sizes_for_scale(num_gpus, hi, node_size, max_accelerators) * hours).sum() < target:
        return hi
    while hi - lo > 1e-3 * hi:
        mid = (lo + hi) / 2
        if (sizes_for_scale(num_gpus, mid, node_size, max_accelerators) * hours).sum() >= target:
            hi = mid
        else:
            lo = mid
    return hi


class _Params(generator._Params):
    """The generator's parameter checks, plus whether a parameter was given at all."""

    def __init__(self, params: Mapping[str, Any] | None, defaults: Mapping[str, Any]) -> None:
        super().__init__(params, defaults)
        self._given = set(params or {})

    def given(self, key: str) -> bool:
        return key in self._given and self._values[key] is not None


def _window(jobs: pd.DataFrame, p: _Params, horizon: Horizon, rng: random.Random) -> pd.DataFrame:
    given = p.given
    start_s = p.number("start_s", 0.0) if given("start_s") else float(jobs["submit_s"].min())
    span_s = p.number("days", 0.0) * 86400 if given("days") else horizon.slots * horizon.slot_minutes * 60
    window = jobs[(jobs["submit_s"] >= start_s) & (jobs["submit_s"] < start_s + span_s)].copy()
    sample = p.number("sample", 0.0, 1.0)
    keep = [rng.random() < sample for _ in range(len(window))]
    window = window[np.array(keep, dtype=bool)] if len(window) else window
    window["submitted_s"] = np.ceil(window["submit_s"] - start_s).astype(np.int64)
    window["arrival_slot"] = np.array(
        [horizon.slot_at_or_after(_submitted_at(horizon, s)) for s in window["submitted_s"].tolist()], dtype=np.int64
    )
    return window[window["arrival_slot"] < horizon.slots]


def _submitted_at(horizon: Horizon, seconds: int) -> datetime:
    """The instant ``seconds`` after the window's start, which is the horizon's start."""
    return horizon.start + timedelta(seconds=seconds)


def trace_requests(
    orgs: Sequence[Org],
    vouchers: Sequence[Voucher],
    pools: Sequence[Pool],
    sites: Sequence[Site],
    horizon: Horizon,
    block: TraceBlock,
) -> tuple[Request, ...]:
    """Requests ``t00001``, ``t00002``, ... in arrival order from the trace named by ``block`` (rules above)."""
    try:
        return _trace_requests(orgs, vouchers, pools, sites, horizon, block)
    except InputError as exc:
        # the generator's parameter checks name their block "generator"; here it is the trace block
        if exc.field.startswith("generator."):
            raise InputError("trace." + exc.field.removeprefix("generator."), exc.rule) from None
        raise


def _trace_requests(
    orgs: Sequence[Org],
    vouchers: Sequence[Voucher],
    pools: Sequence[Pool],
    sites: Sequence[Site],
    horizon: Horizon,
    block: TraceBlock,
) -> tuple[Request, ...]:
    p = _Params(block.params, DEFAULTS)
    if not p.given("file"):
        raise InputError("trace.file", "missing: the trace CSV, relative to the scenario file")
    path = (block.base_dir / str(block.params["file"])).resolve()
    if not path.is_file():
        raise InputError("trace.file", f"trace file {block.params['file']!r} not found ({path})")
    rng = random.Random(p.int("seed", 0))
    jobs = _window(read_trace(path), p, horizon, rng)
    node_size, max_acc = p.int("node_size", 1), p.int("max_accelerators", 1)
    max_hours = p.int("max_duration_hours", 1)
    slack_min, slack_max = p.number("slack_min", 1.0), p.number("slack_max", 1.0)
    if slack_max < slack_min:
        raise InputError("trace.slack_max", f"must be >= slack_min ({slack_min})")
    min_slack = horizon.slots_for_hours(p.int("min_slack_hours", 0))
    hours = np.minimum(np.ceil(jobs["duration_s"].to_numpy() / 3600).clip(min=1), max_hours).astype(np.int64)
    gpus = jobs["num_gpus"].to_numpy()
    window_hours = float(horizon.slots * horizon.slot_hours)
    if block.params.get("scale", "auto") == "auto":
        target = p.number("demand_factor", 0.0) * sum(pool.capacity for pool in pools) * window_hours
        # only the hours that fall inside the window count: a job running on past the end loads it no more
        end_hours = window_hours - jobs["arrival_slot"].to_numpy() * float(horizon.slot_hours)
        scale = auto_scale(gpus, np.minimum(hours, end_hours), target, node_size, max_acc)
    else:
        scale = p.number("scale", 1e-9)
    sizes = sizes_for_scale(gpus, scale, node_size, max_acc)

    mix = {**generator.DEFAULT_CLASS_MIX, **p.per_class("class_mix", generator._number)}
    members = {c: [org for org in orgs if org.org_class is c] for c in OrgClass}
    classes = [c for c in OrgClass if mix.get(c, 0) > 0 and members[c]]
    if not classes or not pools:
        return ()
    weights = [mix[c] for c in classes]
    eligibility = generator.Eligibility.from_params(p, pools, sites, vouchers)
    requests = []
    columns = (jobs["submitted_s"].tolist(), jobs["arrival_slot"].tolist(), sizes.tolist(), hours.tolist())
    for n, (submitted_s, arrival, size, duration) in enumerate(zip(*columns, strict=True), start=1):
        org_class = rng.choices(classes, weights=weights)[0]
        org = rng.choice(members[org_class])
        run = horizon.slots_for_hours(duration)
        deadline = arrival + max(math.ceil(run * rng.uniform(slack_min, slack_max)), run + min_slack)
        submitted_at = _submitted_at(horizon, submitted_s)
        request = Request(f"t{n:05d}", org.id, size, duration, arrival, deadline, submitted_at=submitted_at)
        fit_horizon = Horizon(horizon.start, horizon.slot_minutes, deadline)
        requests.append(eligibility.draw(rng, request, org_class, fit_horizon))
    return tuple(requests)


def trace_summary(requests: Sequence[Request]) -> dict[str, float]:
    """Count, requested accelerator-hours and size quantiles of trace-driven requests (for reports)."""
    sizes = np.array([r.accelerators for r in requests]) if requests else np.zeros(1)
    return {
        "requests": len(requests),
        "work_acc_h": float(sum(r.accelerators * r.duration_hours for r in requests)),
        "size_p50": float(np.percentile(sizes, 50)),
        "size_p90": float(np.percentile(sizes, 90)),
    }
