"""The queue order the baselines share."""

from __future__ import annotations

from scheduler.model.domain import Problem, Request


def arrival_slot(request: Request) -> int:
    """When a request joins the queue: its earliest start, or slot 0 if that lies before the horizon."""
    return max(request.earliest_slot, 0)


def priority_key(problem: Problem, request: Request) -> tuple:
    """Class priority (higher class weight first), then arrival (earliest start), then request id."""
    weight = problem.policy.class_weights[problem.org_by_id[request.org_id].org_class]
    return (-weight, request.earliest_slot, request.id)
