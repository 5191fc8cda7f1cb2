"""The queue orders the baselines share: by arrival, and by class priority then arrival."""

from __future__ import annotations

from datetime import datetime

from scheduler.model.domain import Problem, Request


def eligible_slot(request: Request) -> int:
    """The first slot a request may start in, so where a time-stepped scheduler first considers it: its earliest
    start, or slot 0 if that lies before the horizon (a request waiting since an earlier round). As in Slurm, a
    request that asks to start later (``--begin``) is not eligible before then and holds no reservation."""
    return max(request.earliest_slot, 0)


def arrival_key(problem: Problem, request: Request) -> tuple[datetime, str]:
    """Arrival order: :meth:`~scheduler.model.domain.Problem.arrival_time` (its submission), then request id."""
    return (problem.arrival_time(request), request.id)


def priority_key(problem: Problem, request: Request) -> tuple[float, datetime, str]:
    """Class priority (higher class weight first), then arrival order (:func:`arrival_key`)."""
    weight = problem.policy.class_weights[problem.org_by_id[request.org_id].org_class]
    return (-weight, *arrival_key(problem, request))
