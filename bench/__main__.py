"""``python -m bench [--full]``: prints the benchmark table and writes it as CSV (see :mod:`bench.suite`)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bench.suite import FULL, QUICK, run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="every size, demand level and trace (about 35 min)")
    parser.add_argument("--workers", type=int, default=8, help="CP-SAT workers for the optimiser")
    parser.add_argument("--out", default=None, help="CSV path (default bench/results-quick.csv or -full.csv)")
    args = parser.parse_args(argv)
    frame = run(FULL if args.full else QUICK, args.workers)
    out = Path(args.out or Path(__file__).parent / f"results-{'full' if args.full else 'quick'}.csv")
    frame.to_csv(out, index=False)
    columns = [
        "instance",
        "requests",
        "scheduler",
        "value",
        "vs_best_baseline",
        "gap_pct",
        "bound_vs_best_baseline",
        "placed",
        "violations",
        "first_plan_s",
        "final_s",
        "peak_mib",
    ]
    print(frame[columns].to_string(index=False, float_format=lambda v: f"{v:,.3f}" if abs(v) < 100 else f"{v:,.0f}"))
    print(f"\nwrote {out}")
    return 1 if frame["violations"].any() else 0


if __name__ == "__main__":
    sys.exit(main())
