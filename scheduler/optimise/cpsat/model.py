"""Builds the CP-SAT model (variables, every policy's constraints, the objective), warm-starts it
from a plan and reads a plan back from a solution."""

from __future__ import annotations

from ortools.sat.python import cp_model

from scheduler.model import formulas
from scheduler.model.domain import Placement, Problem
from scheduler.optimise.cpsat.variables import ModelContext, build_variables
from scheduler.rules import RULES


def build_model(problem: Problem) -> ModelContext:
    """The whole model; its objective is :func:`scheduler.model.formulas.objective_milli` exactly."""
    ctx = build_variables(problem, cp_model.CpModel())
    for rule in RULES:
        rule.encode(ctx)
    terms = []
    for option in ctx.options:
        request, pool = option.request, option.pool
        delay = formulas.delay_penalty_milli_per_slot(problem, request)
        # score at the first start, for a present option; minus delay per slot after it
        first_score = formulas.score_milli(problem, request, pool, option.starts.start)
        terms.append(first_score * option.present_var)
        if delay:
            terms.append(-delay * (option.start_var - option.starts.start))
    ctx.model.maximize(sum(terms))
    return ctx


def add_hint(ctx: ModelContext, plan: tuple[Placement, ...]) -> None:
    """Hint every decision variable with ``plan`` (a complete, feasible assignment)."""
    model = ctx.model
    by_request = {p.request_id: p for p in plan}
    for option in ctx.options:
        placement = by_request.get(option.request.id)
        present = placement is not None and placement.pool_id == option.pool.id
        start = placement.start_slot if present else option.starts.start  # type: ignore[union-attr]
        model.add_hint(option.present_var, present)
        model.add_hint(option.start_var, start)
        if option.entitled_var is not None and option.entitled_var is not option.present_var:
            voucher = ctx.problem.voucher_by_id[option.request.voucher_id]  # type: ignore[index]
            model.add_hint(option.entitled_var, present and voucher.valid_at(start))
    for request_id, subsidy in ctx.subsidy_var.items():
        placement = by_request.get(request_id)
        model.add_hint(subsidy, placement.subsidy_fen if placement else 0)
    for var, derive in ctx.derived_hints:
        model.add_hint(var, derive(by_request))


def read_plan(ctx: ModelContext, solver: cp_model.CpSolver) -> tuple[Placement, ...]:
    plan = []
    for option in ctx.options:
        if solver.boolean_value(option.present_var):
            subsidy = ctx.subsidy_var.get(option.request.id)
            paid = solver.value(subsidy) if subsidy is not None else 0
            plan.append(option.option.placement(solver.value(option.start_var), paid))
    return tuple(plan)
