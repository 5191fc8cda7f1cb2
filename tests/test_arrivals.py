"""Honest arrivals: a request is first seen by the round at the first slot boundary at or after its submission,
and it cannot start before it was submitted (:meth:`Problem.arrival_slot`, :meth:`Problem.arrival_time`)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta, timezone
from types import SimpleNamespace

import pytest

from api import mapping
from api import models as m
from scheduler.model.domain import Problem, Request
from scheduler.model.errors import InputError
from scheduler.model.horizon import Horizon
from tests.factories import HORIZON_START, SME, make_problem, make_request

BEIJING = timezone(timedelta(hours=8))


def _submitted(at: datetime, earliest: int = 11, slot_minutes: int = 60) -> tuple[Problem, Request]:
    """A problem (96 slots from 2026-12-07T00:00Z) with one request submitted ``at``, its earliest start slot
    ``earliest``."""
    request = dataclasses.replace(make_request("r1", SME, 1, 1, earliest, earliest + 8), submitted_at=at)
    problem = make_problem(requests=[request], slots=96, slot_minutes=slot_minutes)
    return problem, request


def test_a_request_submitted_mid_slot_arrives_at_the_next_boundary() -> None:
    problem, request = _submitted(HORIZON_START.replace(hour=10, minute=20))
    assert problem.arrival_time(request) == HORIZON_START.replace(hour=10, minute=20)
    assert problem.arrival_slot(request) == 11


def test_a_request_submitted_on_a_boundary_arrives_at_that_boundary() -> None:
    problem, request = _submitted(HORIZON_START.replace(hour=11))
    assert problem.arrival_slot(request) == 11
    # one microsecond later it has missed the 11:00 round
    later, request = _submitted(HORIZON_START.replace(hour=11, microsecond=1), earliest=12)
    assert later.arrival_slot(request) == 12


def test_arrival_with_slots_shorter_than_an_hour() -> None:
    # 15-minute slots: 10:20 -> 10:30, slot 42; exactly 10:30 -> slot 42 too
    problem, request = _submitted(HORIZON_START.replace(hour=10, minute=20), earliest=42, slot_minutes=15)
    assert problem.arrival_slot(request) == 42
    problem, request = _submitted(HORIZON_START.replace(hour=10, minute=30), earliest=42, slot_minutes=15)
    assert problem.arrival_slot(request) == 42


def test_arrival_in_another_time_zone_than_the_horizons() -> None:
    # the horizon starts at 00:00 UTC; 18:20 in Beijing is 10:20 UTC, so the 11:00 UTC slot
    problem, request = _submitted(datetime(2026, 12, 7, 18, 20, tzinfo=BEIJING))
    assert problem.arrival_slot(request) == 11
    assert problem.arrival_time(request).tzinfo is BEIJING  # as given, not converted


def test_without_a_submission_time_a_request_arrives_at_its_earliest_start() -> None:
    request = make_request("r1", SME, 1, 1, 7, 20)
    problem = make_problem(requests=[request], slots=24)
    assert problem.arrival_slot(request) == 7
    assert problem.arrival_time(request) == HORIZON_START + timedelta(hours=7)


def test_an_earliest_start_before_the_submission_is_refused() -> None:
    with pytest.raises(InputError) as caught:
        _submitted(HORIZON_START.replace(hour=10, minute=20), earliest=10)
    assert caught.value.field == "request r1: earliest_start"
    assert "cannot start before it is submitted" in caught.value.rule
    assert "2026-12-07T11:00:00+00:00" in caught.value.rule  # the first slot it may start in
    # starting at the first boundary after the submission is fine
    _submitted(HORIZON_START.replace(hour=10, minute=20), earliest=11)


def test_a_submission_time_needs_an_offset() -> None:
    with pytest.raises(InputError, match="submitted_at") as caught:
        dataclasses.replace(make_request("r1", SME, 1, 1, 0, 4), submitted_at=datetime(2026, 12, 7, 10, 20))
    assert caught.value.field == "request r1: submitted_at"
    with pytest.raises(InputError, match="submitted_at"):
        dataclasses.replace(make_request("r1", SME, 1, 1, 0, 4), submitted_at="2026-12-07T10:20:00+08:00")
    assert dataclasses.replace(make_request("r1", SME, 1, 1, 0, 4), submitted_at=datetime(2026, 12, 7, tzinfo=UTC))


def test_the_api_takes_a_request_as_submitted_when_it_was_received() -> None:
    # asked at 10:20 to start at 10:00: it may start at 11:00, and a window that closes at 11:00 is gone
    horizon = Horizon(HORIZON_START, 60, 48)
    received = HORIZON_START.replace(hour=10, minute=20)
    asked = HORIZON_START.replace(hour=10)
    create = m.RequestCreate(
        accelerators=1, duration_hours=1, earliest_start=asked, deadline=asked + timedelta(hours=10)
    )
    request = mapping._request(create, "r1", SME, received, horizon)
    assert (request.submitted_at, request.earliest_slot) == (received, 11)
    stored = SimpleNamespace(earliest_start=asked, deadline=HORIZON_START.replace(hour=11), created_at=received)
    assert not mapping._window_left(stored, horizon)  # type: ignore[arg-type]
    assert mapping._window_left(SimpleNamespace(**vars(stored) | {"created_at": HORIZON_START}), horizon)  # type: ignore[arg-type]
