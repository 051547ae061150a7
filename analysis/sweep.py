"""A sweep as tidy tables: what every reader (run dirs, W&B) produces.

    runs    one row per run: its condition, D, M, seed, planned and done iterations
    means   (run, m, t) → μ_{m,t}
    std     (run, t) → the combined std over all models' per-block perplexities
    blocks  (run, m, t, block) → perplexity, where the source keeps blocks (run dirs;
            W&B keeps only their histograms, so its sweeps have blocks = None)
    rows    every metrics row (scope model / ecosystem) with its run's condition: the
            training record and the synthetic world's exact measurements (exact/…)

Every table carries the run's condition (model, data, scale, data_quality, protocol), D
and seed.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

CONDITION = ["model", "data", "scale", "data_quality", "protocol"]
DEFAULTS = {"protocol": "paper"}  # condition keys older runs did not record
RUN = [*CONDITION, "D", "seed", "run"]


@dataclass
class Sweep:
    runs: pd.DataFrame
    means: pd.DataFrame
    std: pd.DataFrame
    blocks: pd.DataFrame | None = None
    rows: pd.DataFrame | None = None

    def missing(self) -> list[str]:
        """Plain-language notes on what the sweep lacks: unfinished runs, uneven seeds."""
        notes = []
        for _, r in self.runs[self.runs["T_done"] < self.runs["T_planned"]].iterrows():
            notes.append(
                f"{r['run']} has {r['T_done']} of {r['T_planned']} iterations (still running?)"
            )
        for cond, g in self.runs.groupby(CONDITION):
            seeds = g.groupby("D")["seed"].apply(lambda s: sorted(set(s)))
            all_seeds = sorted(set(g["seed"]))
            for d, have in seeds.items():
                if have != all_seeds:
                    lost = sorted(set(all_seeds) - set(have))
                    notes.append(f"{'/'.join(cond)} D={d:g}: no run for seed(s) {lost}")
        return notes
