"""From a sweep to the paper's answer: which diversity is optimal after T iterations.

    python -m analysis runs/demo                     run dirs (folders, or glob patterns)
    python -m analysis runs/ --out report/           where report.md and the figures go
    python -m analysis --wandb me/ecosys --group demo        a W&B project (public API)
    python -m analysis --wandb-offline runs/demo     W&B's offline files of those runs
    python -m analysis runs/demo --wandb-log         the analysis as a W&B run in the sweep's group

Prints, per condition: μ_t per D, D = 1's collapse rate (the mean of log μ_t+1 − log μ_t),
μ_T per D for every T reached, and D_opt(T) with the bootstrap probability that it is the
optimum, at the T every D reached (a ragged grid, its D run to different T, says which D
stop where); the conditions by collapse rate with D_opt at T = 10; where conditions
differ only in their data regime, a line per regime (does the smallest D collapse, does
D_opt(T) grow), and in their curation, a line per curation (does D_opt(T) move against
none, does diversity still matter); writes
report.md (opening with a row per condition: analysis/summary.py) and the figures (PNG
and PDF; --no-pdf: PNG only) to --out (default: <first root>/analysis). Works on partial
sweeps: says what is missing and computes what it can.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from analysis import load, printout, publish, tables, wandb_source
from analysis.sweep import Sweep


def read(args: argparse.Namespace) -> tuple[Sweep, str]:
    if args.wandb:
        where = f"W&B {args.wandb}" + (f", group {args.group}" if args.group else "")
        return wandb_source.from_records(wandb_source.api_records(args.wandb, args.group)), where
    if args.wandb_offline:
        sweep = wandb_source.from_records(wandb_source.offline_records(*args.roots))
        if sweep.runs.empty:
            raise FileNotFoundError(f"no offline W&B runs under {' '.join(args.roots)}")
        return sweep, f"offline W&B runs under {', '.join(args.roots)}"
    return load.read(*args.roots), f"run dirs under {', '.join(args.roots)}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m analysis",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split("\n\n", 1)[1],
    )
    parser.add_argument("roots", nargs="*", help="run dirs, folders of run dirs, or glob patterns")
    parser.add_argument("--out", help="where report.md and the figures go (default: ROOT/analysis)")
    parser.add_argument(
        "--reps", type=int, default=1000, help="bootstrap replicates (default 1000)"
    )
    parser.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")
    parser.add_argument("--no-report", action="store_true", help="print the tables only")
    parser.add_argument("--wandb", metavar="ENTITY/PROJECT", help="read runs from W&B instead")
    parser.add_argument(
        "--group", help="with --wandb: only this group (a sweep); the --wandb-log run's group"
    )
    parser.add_argument(
        "--wandb-offline", action="store_true", help="read the W&B offline files under ROOTS"
    )
    parser.add_argument(
        "--wandb-log",
        action="store_true",
        help="log the analysis as a W&B run (job_type analysis) in the runs' group",
    )
    parser.add_argument(
        "--lens-panels",
        action="store_true",
        help="draw every lens against t per condition too (always for a single condition)",
    )
    parser.add_argument(
        "--phase",
        action="store_true",
        help="draw the phase diagram (D_opt(T) against the collapse rate) for one condition too",
    )
    parser.add_argument(
        "--no-pdf",
        action="store_true",
        help="PNG figures only (the PDF copies for papers take about a third of the drawing)",
    )
    parser.add_argument(
        "--wandb-project", metavar="[ENTITY/]PROJECT", help="with --wandb-log (default: the runs')"
    )
    args = parser.parse_args(argv)
    if not args.roots and not args.wandb:
        parser.error("give run dirs (ROOTS) or --wandb ENTITY/PROJECT")
    if args.wandb_log and args.no_report:
        parser.error("--wandb-log logs the report: drop --no-report")

    try:
        sweep, source = read(args)
    except FileNotFoundError as err:
        print(f"analysis: {err}", file=sys.stderr)
        return 1
    notes = sweep.missing()
    for note in notes:
        print(f"note: {note}")
    a = tables.analyse(sweep, reps=args.reps, seed=args.seed)
    printout.conditions(a)
    printout.lenses(a.lens)
    print(f"\n{len(sweep.runs)} runs read from {source}")
    if args.no_report:
        return 0
    out = Path(args.out or Path(args.roots[0] if args.roots else ".") / "analysis")
    path, drawn = publish.write_all(
        a, out, source, notes, args.lens_panels, args.phase, pdf=not args.no_pdf
    )
    print(f"report: {path} (figures beside it, PNG{'' if args.no_pdf else ' and PDF'})")
    if args.wandb_log:
        from analysis import wandb_log

        where = wandb_log.target(sweep.runs, args.wandb_project, args.group, args.wandb)
        for note in where.notes:
            print(f"note: {note}")
        config = wandb_log.run_config(source, sweep.runs, args.reps, args.seed)
        wandb_log.log(out, path, a.conditions, [d.stem for d in drawn], where, config)
    return 0


if __name__ == "__main__":
    sys.exit(main())
