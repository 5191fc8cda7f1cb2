"""``pcs``: the command line. Thin: it parses arguments and calls the core."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from scheduler.io.allocations_file import FILE_RULE, read_plan_file
from scheduler.io.scenario_writer import write_scenario
from scheduler.io.scenarios import Scenario, load_scenario
from scheduler.model.errors import InputError
from scheduler.optimise.solve import Result, SolveParams, solve
from scheduler.report import export
from scheduler.report.charts import write_compare_report, write_run_report
from scheduler.report.reports import (
    allocations_frame,
    compare_frame,
    kpis,
    pool_frame,
    run_kpis,
    run_tables,
    side_by_side,
)
from scheduler.rules.validate import violations
from scheduler.sim.simulate import SimulationParams, check_schedulers, compare, load_for_days, simulate


def _progress(elapsed_s: float, objective: float, bound: float) -> None:
    print(f"  {elapsed_s:7.1f} s  plan value {objective:,.1f}  bound {bound:,.1f}", file=sys.stderr, flush=True)


def _kpi_table(figures: dict, result: Result) -> str:
    per_class = ", ".join(f"{c} {v['placed']}/{v['requested']}" for c, v in figures["placed_by_class"].items())
    rows = [
        ("requests placed", f"{figures['placed']} of {figures['requests']}"),
        ("placed by class", per_class),
        ("utilisation", f"{figures['utilisation_pct']:.1f} %"),
        ("SME share of placed work", f"{figures['sme_share_pct']:.1f} %"),
        ("SME demand served", f"{figures['sme_demand_served_pct']:.1f} %"),
        ("subsidy paid", f"CNY {figures['subsidy_paid_cny']:,.2f}"),
        ("voucher budget left", f"CNY {figures['budget_left_cny']:,.2f}"),
        ("energy", f"{figures['energy_mwh']:,.1f} MWh"),
        ("CO2", f"{figures['co2_t']:,.1f} t"),
        ("mean start delay", f"{figures['mean_start_delay_h']:.1f} h"),
        ("greedy start value", f"{result.greedy_objective:,.1f}"),
        (
            "final value",
            f"{result.objective:,.1f} ({result.objective / max(result.greedy_objective, 1e-9):.3f}× greedy)",
        ),
        ("upper bound", f"{result.bound:,.1f}"),
        ("gap", f"{100 * result.gap:.2f} %"),
        ("status", f"{result.status}: {result.message} ({result.wall_time_s:.1f} s)"),
    ]
    width = max(len(name) for name, _ in rows)
    return "\n".join(f"{name:<{width}}  {value}" for name, value in rows)


def cmd_solve(args: argparse.Namespace) -> int:
    scenario = load_scenario(args.scenario)
    problem = scenario.problem
    print(
        f"Scenario {scenario.name}: {len(problem.requests)} requests, {len(problem.pools)} pools, "
        f"{problem.horizon.slots} slots of {problem.horizon.slot_minutes} min; solving for up to "
        f"{args.time_limit:g} s",
        file=sys.stderr,
        flush=True,
    )
    params = SolveParams(
        time_limit_s=args.time_limit,
        seed=args.seed,
        num_workers=args.workers,
        progress=None if args.quiet else _progress,
    )
    result = solve(problem, params)
    figures = kpis(problem, result.plan)
    pools = pool_frame(problem, result.plan)
    print(_kpi_table(figures, result))
    print()
    print(
        pools[["pool_id", "site", "accelerator_type", "capacity", "utilisation_pct"]].to_string(
            index=False, float_format=lambda v: f"{v:.1f}"
        )
    )
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        export.write_csv(allocations_frame(problem, result.plan, result.reasons), out / "allocations.csv")
        summary = {
            "scenario": scenario.name,
            "solve": {
                "status": result.status,
                "message": result.message,
                "solver_status": result.solver_status,
                "method": result.method,
                "first_plan_s": round(result.first_plan_s, 3),
                "objective": result.objective,
                "greedy_objective": result.greedy_objective,
                "bound": result.bound,
                "gap": result.gap,
                "wall_time_s": round(result.wall_time_s, 3),
                "time_limit_s": args.time_limit,
                "seed": args.seed,
                "workers": args.workers,
            },
            "kpis": figures,
            "pools": pools.round(3).to_dict(orient="records"),
        }
        (out / "summary.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n")
        write_scenario(scenario, out)
        print(
            f"\nwrote {out / 'allocations.csv'}, {out / 'summary.json'} and the resolved inputs "
            f"({out / 'scenario.yaml'})"
        )
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    problem = load_scenario(args.scenario).problem
    read = read_plan_file(problem, args.allocations)
    found = [*read.mismatches, *violations(problem, read.plan)]
    for v in found:
        # a column mismatch names its own line; a rule's violation is located by its request's row
        line = read.line_of.get(v.request_id) if v.rule != FILE_RULE and v.request_id is not None else None
        where = ", ".join(
            f"{k} {val}"
            for k, val in (("line", line), ("request", v.request_id), ("pool", v.pool_id), ("slot", v.slot))
            if val is not None
        )
        print(f"{v.rule}: {v.message}" + (f" ({where})" if where else ""))
    print(f"{len(read.plan)} placements checked: {len(found)} violation(s)")
    return 1 if found else 0


def _sim_params(args: argparse.Namespace, scheduler: str) -> SimulationParams:
    return SimulationParams(
        scheduler=scheduler,
        round_hours=args.round_hours,
        time_limit_s=args.time_limit,
        num_workers=args.workers,
        seed=args.seed,
        deterministic=not args.wall_clock,
        progress=False if args.quiet else None,
    )


def _report_violations(runs: dict) -> int:
    bad = 0
    for (scenario, scheduler), run in runs.items():
        for slot, v in [*run.round_violations, *((None, v) for v in run.final_violations)]:
            bad += 1
            at = "whole run" if slot is None else f"round at slot {slot}"
            print(f"VIOLATION {scenario}/{scheduler} ({at}): {v.rule}: {v.message}", file=sys.stderr)
    return 1 if bad else 0


def cmd_simulate(args: argparse.Namespace) -> int:
    check_schedulers([args.scheduler])
    scenario = load_for_days(args.scenario, args.days)
    problem = scenario.problem
    print(
        f"Scenario {scenario.name}: {len(problem.requests)} requests over {problem.horizon.slots} slots; "
        f"{args.scheduler} every {args.round_hours} h",
        file=sys.stderr,
        flush=True,
    )
    run = simulate(problem, params=_sim_params(args, args.scheduler))
    tables = run_tables(run)
    figures = run_kpis(run, tables)
    width = max(len(k) for k in figures)
    print("\n".join(f"{k:<{width}}  {v}" for k, v in figures.items()))
    print()
    print(tables["by_class"].set_index("org_class").astype(object).T.to_string())
    if args.out:
        written = write_run_report(run, args.out, f"{scenario.name}: {args.scheduler}, {args.days or '-'} days")
        write_scenario(Scenario(scenario.name, problem, scenario.path), Path(args.out) / "inputs")
        print(f"\nwrote {written['html']}, {written['xlsx']}, CSV/Parquet tables and charts in {args.out}")
    return _report_violations({(scenario.name, args.scheduler): run})


def _figure(value: float) -> str:
    return f"{value:,.4g}" if abs(value) < 1000 else f"{value:,.0f}"


def cmd_compare(args: argparse.Namespace) -> int:
    """Simulate each scenario with each scheduler and print, per scenario, the runs side by side with each
    non-baseline run's ratio to the best baseline (:func:`scheduler.report.reports.side_by_side`)."""
    schedulers = check_schedulers([s.strip() for s in args.schedulers.split(",") if s.strip()])
    runs = compare(args.base, args.variants, schedulers, args.days, _sim_params(args, schedulers[0]))
    frame = compare_frame(runs)
    for scenario, table in side_by_side(frame).items():
        print(f"{scenario}\n{table.to_string(na_rep='', float_format=_figure)}\n")
    if args.out:
        written = write_compare_report(frame, runs, args.out)
        print(f"\nwrote {written['html']} and {written['xlsx']}")
    return _report_violations(runs)


def _add_run_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--days", type=int, help="simulate this many days (default: the scenario's horizon)")
    parser.add_argument(
        "--time-limit",
        type=float,
        default=SimulationParams.time_limit_s,
        help="optimiser time per round, in CP-SAT's deterministic seconds (wall-clock ones with --wall-clock; "
        f"default {SimulationParams.time_limit_s:g})",
    )
    parser.add_argument("--round-hours", type=int, default=1, help="hours between rounds (default 1)")
    parser.add_argument(
        "--wall-clock",
        action="store_true",
        help="limit the optimiser by wall-clock time: not repeatable (default: deterministic time, repeatable)",
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--workers", type=int, default=2, help="CP-SAT search workers (default 2)")
    parser.add_argument("--out", help="directory for the report (HTML, Excel, CSV, Parquet, PNG)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pcs", description="Public Compute Scheduler")
    commands = parser.add_subparsers(dest="command", required=True)
    solve_parser = commands.add_parser("solve", help="allocate a scenario's requests and print the KPIs")
    solve_parser.add_argument("scenario", help="scenario YAML file")
    solve_parser.add_argument("--time-limit", type=float, default=60.0, help="seconds (default 60)")
    solve_parser.add_argument("--seed", type=int, default=0, help="solver random seed (default 0)")
    solve_parser.add_argument("--workers", type=int, default=8, help="CP-SAT search workers (default 8)")
    solve_parser.add_argument("--out", help="directory for allocations.csv, summary.json and the resolved inputs")
    solve_parser.add_argument("--quiet", action="store_true", help="no progress lines")
    solve_parser.set_defaults(run=cmd_solve)
    validate_parser = commands.add_parser(
        "validate",
        help="check every column of an allocations.csv against the scenario, and the plan against every rule",
    )
    validate_parser.add_argument("scenario", help="scenario YAML file")
    validate_parser.add_argument("allocations", help="allocations.csv")
    validate_parser.set_defaults(run=cmd_validate)
    sim_parser = commands.add_parser("simulate", help="rolling-horizon simulation of a scenario's arriving demand")
    sim_parser.add_argument("scenario", help="scenario YAML file")
    sim_parser.add_argument("--scheduler", default="optimiser", help="optimiser, greedy, fifo, easy or quota")
    _add_run_options(sim_parser)
    sim_parser.set_defaults(run=cmd_simulate)
    compare_parser = commands.add_parser("compare", help="simulate variants and schedulers on the same demand")
    compare_parser.add_argument("base", help="base scenario YAML file (its demand is used for every variant)")
    compare_parser.add_argument("variants", nargs="*", help="variant scenario files (usually with base:)")
    compare_parser.add_argument(
        "--schedulers", default="optimiser,fifo,easy,quota", help="comma-separated (default optimiser,fifo,easy,quota)"
    )
    _add_run_options(compare_parser)
    compare_parser.set_defaults(run=cmd_compare)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except InputError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
