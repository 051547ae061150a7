"""Tables of a sweep: `python -m analysis ROOT [ROOT ...]` (run dirs, parents, or globs).

Prints, per condition (model, scale, data quality): μ_t per D and t, μ_T per D for
every T reached, and D_opt(T). Reads only run dirs; works on partial sweeps.
"""

from __future__ import annotations

import argparse
import sys

import pandas as pd

from analysis import load, stats


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m analysis", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("roots", nargs="+", help="run dirs, folders of run dirs, or glob patterns")
    args = parser.parse_args(argv)

    run_dirs = load.find_runs(*args.roots)
    if not run_dirs:
        print(
            f"analysis: no run dirs (with run.json) under {' '.join(args.roots)}", file=sys.stderr
        )
        return 1
    runs = load.runs_table(run_dirs)
    for _, r in runs[runs["T_done"] < runs["T_planned"]].iterrows():
        print(f"note: {r['run']} has {r['T_done']} of {r['T_planned']} iterations (still running?)")
    blocks = load.blocks_table(run_dirs)
    eco = stats.ecosystem(blocks)
    agg = stats.aggregated(eco)
    opt = stats.optimum(agg)

    pd.set_option("display.width", 200)
    for cond, g in eco.groupby(load.CONDITION):
        title = " · ".join(f"{k}={v}" for k, v in zip(load.CONDITION, cond, strict=True))
        seeds_ = ", ".join(str(s) for s in sorted(g["seed"].unique()))
        print(f"\n=== {title}  ({g['run'].nunique()} runs, seeds {seeds_}) ===")
        world = runs[runs["run"].isin(g["run"])][["entropy_rate_ppl", "oracle_test_ppl"]].dropna()
        if len(world):
            h, oracle = world.iloc[0]
            print(f"synthetic world: exp(H) = {h:.2f}, oracle per-block test ppl = {oracle:.2f}")
        mu = g.groupby(["t", "D"])["mu_t"].mean().unstack("D")
        print("\nμ_t: mean per-block test perplexity (t = -1: the base model), by D")
        print(_table(mu))
        a = agg.set_index(load.CONDITION).loc[[cond]]
        mu_T = a.groupby(["T", "D"])["mu_T"].mean().unstack("D")
        print("\nμ_T = mean of μ_0 … μ_{T-1}, by D")
        print(_table(mu_T))
        o = opt.set_index(load.CONDITION).loc[[cond]].set_index("T")["D_opt"]
        print("\nD_opt(T) = argmin_D μ_T")
        print(pd.DataFrame([o.map(_d).to_list()], index=["D_opt"], columns=o.index).to_string())
    print(f"\n{len(run_dirs)} runs read from {', '.join(args.roots)}")
    return 0


def _d(d: float) -> str:
    return f"{d:g}" if float(d).is_integer() else f"{d:.2f}"


def _table(frame: pd.DataFrame) -> str:
    frame = frame.rename(columns=lambda d: f"D={_d(d)}")
    return frame.rename_axis(columns=None).to_string(float_format=lambda x: f"{x:.2f}")


if __name__ == "__main__":
    sys.exit(main())
