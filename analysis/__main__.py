"""From a sweep to the paper's answer: which diversity is optimal after T iterations.

    python -m analysis runs/demo                     run dirs (folders, or glob patterns)
    python -m analysis runs/ --out report/           where report.md and the figures go
    python -m analysis --wandb me/ecosys --group demo        a W&B project (public API)
    python -m analysis --wandb-offline runs/demo     W&B's offline files of those runs
    python -m analysis runs/demo --wandb-log         the analysis as a W&B run in the sweep's group

Prints, per condition: μ_t per D, μ_T per D for every T reached, and D_opt(T) with the
bootstrap probability that it is the optimum, at the T every D reached (a ragged grid, its
D run to different T, says which D stop where); where conditions differ only in their data
regime, a line per regime (does the smallest D collapse, does D_opt(T) grow); writes
report.md (opening with a row per condition: analysis/summary.py) and the figures (PNG
and PDF) to --out (default: <first root>/analysis). Works on partial sweeps: says what
is missing and computes what it can.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

from analysis import (
    bootstrap,
    compare,
    coverage,
    edq,
    figures,
    lens_report,
    lenses,
    load,
    report,
    stats,
    summary,
    wandb_source,
)
from analysis.sweep import CONDITION, Sweep


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
    eco = stats.ecosystem(sweep)
    agg = stats.aggregated(eco)
    upto = coverage.complete(sweep.runs, "T_done")
    opt = stats.optimum(agg, upto)
    intervals, p_opt = bootstrap.bootstrap(sweep, reps=args.reps, seed=args.seed, upto=upto)

    pd.set_option("display.width", 200)
    tables = {}
    for cond, g in eco.groupby(CONDITION):
        runs = _select(sweep.runs, cond)
        world = runs[["entropy_rate_ppl", "oracle_test_ppl"]].dropna()
        tables[cond] = {
            "eco": g,
            "agg": _select(agg, cond),
            "opt": _select(opt, cond),
            "p_opt": _select(p_opt, cond),
            "intervals": _select(intervals, cond),
            "world": tuple(world.iloc[0]) if len(world) else None,
            "coverage": coverage.lines(runs, upto.get(cond, 0)),
        }
        _print(cond, runs, tables[cond])
    if len(tables) > 1:
        print("\nConditions compared: μ_T at each condition's largest T")
        print(report.comparison(agg, upto).to_string(float_format=lambda x: f"{x:.2f}"))
    regimes = stats.axis_groups(opt, agg, "regime")
    for line in compare.regime_lines(regimes, tables):
        print(line)
    if edq.has_exact(sweep.rows):
        print("\nEDQ's prediction: sign(δ_EDQ) = sign(Δ perplexity), share of (model, t) [95% CI]")
        for _, r in edq.agreement(sweep.rows).iterrows():
            cond = figures.label(tuple(r[CONDITION]))
            print(
                f"  {cond} D={figures.d_label(r['D'])}:"
                f" {r['w2_rate']:.2f}"
                f" [{r['w2_lo']:.2f}, {r['w2_hi']:.2f}] of {r['n']}"
                f" (KL analogue {r['kl_rate']:.2f})"
            )
    lens = lenses.analyse(sweep.rows, sweep.runs, opt, reps=args.reps, seed=args.seed)
    if lens.lenses:
        _print_lenses(lens)
    print(f"\n{len(sweep.runs)} runs read from {source}")

    if not args.no_report:
        out = Path(args.out or Path(args.roots[0] if args.roots else ".") / "analysis")
        out.mkdir(parents=True, exist_ok=True)
        names = ["d_opt"] if len(opt) else []
        if names:
            figures.d_opt(opt, p_opt, out)
        figures.trajectories(eco, out)
        names.append("trajectories")
        if figures.mu_T(agg, intervals, upto, out):
            names.append("mu_T")
        if sweep.blocks is not None:
            figures.distributions(sweep.blocks, out)
            names.append("distributions")
        extra = report.comparison_section(agg, upto) if len(tables) > 1 else []
        protocols = stats.axis_groups(opt, agg, "protocol")
        extra += compare.protocol_section(protocols, tables)
        if protocols:
            figures.protocols(protocols, out)
            names.append("protocols")
        extra += compare.regime_section(regimes, tables)
        if regimes:
            figures.regimes(regimes, eco, out)
            names.append("regimes")
        if edq.has_exact(sweep.rows):
            table, agree = edq.per_t(sweep.rows), edq.agreement(sweep.rows)
            figures.exact(table, edq.changes(sweep.rows), out)
            names.append("exact")
            extra += report.exact_section(table, agree, edq.pearson(sweep.rows))
        if lens.lenses:
            cross = lenses.cross_matrices(sweep.runs) if sweep.blocks is not None else {}
            titles = {x.key: x.title for x in lens.lenses}
            figures.lenses(lenses.series(sweep.rows, lens.lenses), titles, cross, out)
            names.append("lenses")
            extra += lens_report.lens_section(lens, args.reps)
        head = summary.section(summary.frame(tables))
        path = report.write(out, source, notes, args.reps, tables, names, extra, head)
        print(f"report: {path} (figures beside it, PNG and PDF)")
        if args.wandb_log:
            from analysis import wandb_log

            where = wandb_log.target(sweep.runs, args.wandb_project, args.group, args.wandb)
            for note in where.notes:
                print(f"note: {note}")
            config = wandb_log.run_config(source, sweep.runs, args.reps, args.seed)
            wandb_log.log(out, path, tables, names, where, config)
    return 0


def _select(frame: pd.DataFrame, cond: tuple) -> pd.DataFrame:
    """The rows of one condition."""
    return frame.loc[
        (frame[CONDITION] == pd.Series(dict(zip(CONDITION, cond, strict=True)))).all(axis=1)
    ]


def _print(cond, runs: pd.DataFrame, t: dict) -> None:
    seeds = ", ".join(str(s) for s in sorted(runs["seed"].unique()))
    print(f"\n=== {figures.label(cond)}  ({len(runs)} runs, seeds {seeds}) ===")
    if runs["seed"].nunique() == 1:
        print(
            f"one seed: every interval and probability below is {report.GIVEN};"
            f" run {report.more_seeds(runs['seed'])} (--multirun) to include run-to-run variation"
        )
    if t["world"]:
        print(
            f"synthetic world: exp(H) = {t['world'][0]:.2f},"
            f" oracle per-block test ppl = {t['world'][1]:.2f}"
        )
    for line in t["coverage"]:
        print(line)
    print("\nμ_t: mean per-block test perplexity (t = -1: the base model), by D")
    print(_table(t["eco"].groupby(["t", "D"])["mu_t"].mean().unstack("D")))
    print("\nμ_T = mean of μ_0 … μ_{T-1}, by D")
    print(_table(t["agg"].groupby(["T", "D"])["mu_T"].mean().unstack("D")))
    print("\nD_opt(T) = argmin_D μ_T  (P: bootstrap probability that it is the optimum)")
    if t["opt"].empty:
        print(f"none: {report.NO_D_OPT}")
    else:
        print(report.d_opt_line(t["opt"], t["p_opt"]).to_string())
    d_opt = dict(zip(t["opt"]["T"].astype(int), t["opt"]["D_opt"], strict=True))
    said = report.eq6(d_opt)
    print(
        f"Eq. 6 (D_opt never decreases with T): {said}"
        + (" (D_opt at fewer than two T: nothing to test)" if said == "—" else "")
    )


def _print_lenses(res: lenses.Lenses) -> None:
    """Per condition and lens: D_opt at the lens's largest T against perplexity's."""
    titles = {x.key: x.title for x in res.lenses}
    for cond, g in res.opt.groupby(CONDITION) if len(res.opt) else []:
        given = f", {report.GIVEN}" if res.seeds.get(cond) == 1 else ""
        print(f"\nWhat collapses, {figures.label(cond)}: D_opt under each lens (P{given})")
        for key, x in g.groupby("lens", sort=False):
            r = x.sort_values("T").iloc[-1]
            ppl = "—" if r["ppl_D_opt"] != r["ppl_D_opt"] else figures.d_label(r["ppl_D_opt"])
            print(
                f"  {titles[key]:24s} T={int(r['T'])}: D={figures.d_label(r['D_opt'])}"
                f" ({r['p']:.2f}); perplexity's {ppl}"
                + ("" if r["agrees"] is None else "  agrees" if r["agrees"] else "  DIFFERS")
            )


def _table(frame: pd.DataFrame) -> str:
    frame = frame.rename(columns=lambda d: f"D={figures.d_label(d)}")
    return frame.rename_axis(columns=None).to_string(
        float_format=lambda x: f"{x:.2f}",
        na_rep="—",  # — : D did not reach T (ragged)
    )


if __name__ == "__main__":
    sys.exit(main())
