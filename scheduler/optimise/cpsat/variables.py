"""Decision variables: one optional interval per option (:func:`scheduler.rules.placement.options`)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from ortools.sat.python import cp_model

from scheduler.model import formulas
from scheduler.model.domain import Placement, Pool, Problem, Request
from scheduler.rules.placement import Option, options


@dataclass(eq=False)
class OptionVars:
    """The variables of one :class:`~scheduler.rules.placement.Option`: present or not, and when."""

    option: Option
    entitlement_fen: int
    """The entitlement when it starts inside its voucher's validity (0 when it never can)."""
    present_var: cp_model.IntVar
    start_var: cp_model.IntVar
    interval_var: cp_model.IntervalVar
    # true iff present and starting inside the voucher's validity; None when it can never be
    entitled_var: cp_model.IntVar | None

    @property
    def request(self) -> Request:
        return self.option.request

    @property
    def pool(self) -> Pool:
        return self.option.pool

    @property
    def run_slots(self) -> int:
        return self.option.run_slots

    @property
    def starts(self) -> range:
        return self.option.starts

    @property
    def cost_fen(self) -> int:
        return self.option.cost_fen


@dataclass
class ModelContext:
    """The model under construction and the variables that policies constrain."""

    problem: Problem
    model: cp_model.CpModel
    options: list[OptionVars] = field(default_factory=list)
    options_by_request: dict[str, list[OptionVars]] = field(default_factory=lambda: defaultdict(list))
    options_by_pool: dict[str, list[OptionVars]] = field(default_factory=lambda: defaultdict(list))
    subsidy_var: dict[str, cp_model.IntVar] = field(default_factory=dict)
    # auxiliary variables of policies, with how to derive their value from a plan (for the hint)
    derived_hints: list[tuple[cp_model.IntVar, Callable[[Mapping[str, Placement]], bool]]] = field(default_factory=list)


def _entitled_var(
    ctx: ModelContext,
    option_name: str,
    request: Request,
    starts: range,
    present: cp_model.IntVar,
    start: cp_model.IntVar,
) -> cp_model.IntVar | None:
    voucher = ctx.problem.voucher_by_id[request.voucher_id] if request.voucher_id else None
    if voucher is None:
        return None
    lo = max(voucher.valid_from_slot, starts.start)
    hi = min(voucher.valid_until_slot - 1, starts.stop - 1)
    if lo > hi:
        return None
    if lo == starts.start and hi == starts.stop - 1:
        return present
    model = ctx.model
    entitled = model.new_bool_var(f"entitled_{option_name}_var")
    model.add_implication(entitled, present)
    model.add_linear_constraint(start, lo, hi).only_enforce_if(entitled)
    outside = cp_model.Domain.from_intervals([[starts.start, lo - 1], [hi + 1, starts.stop - 1]])
    model.add_linear_expression_in_domain(start, outside).only_enforce_if([present, ~entitled])
    return entitled


def build_variables(problem: Problem, model: cp_model.CpModel) -> ModelContext:
    ctx = ModelContext(problem=problem, model=model)
    for request in problem.requests:
        for option in options(problem, request):
            starts, run = option.starts, option.run_slots
            name = f"{request.id}@{option.pool.id}"
            present = model.new_bool_var(f"present_{name}_var")
            start = model.new_int_var(starts.start, starts.stop - 1, f"start_{name}_var")
            # an absent option sits at its first start, so its delay term is exactly zero
            model.add(start == starts.start).only_enforce_if(~present)
            interval = model.new_optional_fixed_size_interval_var(start, run, present, f"run_{name}_var")
            entitled = _entitled_var(ctx, name, request, starts, present, start)
            pct = formulas.subsidy_pct(problem, request, option.pool)
            choice = OptionVars(
                option=option,
                entitlement_fen=option.cost_fen * pct // 100 if entitled is not None else 0,
                present_var=present,
                start_var=start,
                interval_var=interval,
                entitled_var=entitled,
            )
            ctx.options.append(choice)
            ctx.options_by_request[request.id].append(choice)
            ctx.options_by_pool[option.pool.id].append(choice)
        choices = ctx.options_by_request.get(request.id)
        if request.voucher_id is not None and choices:
            most = max(o.entitlement_fen for o in choices)
            ctx.subsidy_var[request.id] = model.new_int_var(0, most, f"subsidy_{request.id}_var")
    return ctx
