"""The synthetic world's exact measurements, read back (they are made by ecosys/measures/exact.py).

    per_t       per condition, D and t: KL rate, W2 of the blocks trained on and of the
                pool, δ_EDQ, JS disagreement, ‖θ_t − θ_base‖, optimizer steps
    agreement   the paper's hypothesis as a test: does the sign of δ_EDQ of the data a
                model trained on at t predict the sign of its perplexity change from
                t − 1 to t? Agreement rate per condition and D, with a Wilson 95% CI

Only runs in the synthetic world carry these (exact/… columns); the rest are skipped.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from analysis.sweep import CONDITION

Z95 = 1.959963984540054

MODEL_COLUMNS = {  # model rows: mean over models and seeds
    "exact/kl_rate": "kl_rate",
    "exact/data_w2": "data_w2",
    "exact/model_w2": "model_w2",
    "exact/edq": "edq",
    "train/param_dist": "param_dist",
    "train/steps": "steps",
}
ECO_COLUMNS = {"exact/pool_w2": "pool_w2", "exact/js": "js"}  # ecosystem rows


def has_exact(rows: pd.DataFrame | None) -> bool:
    return rows is not None and "exact/kl_rate" in rows and rows["exact/kl_rate"].notna().any()


def wilson(k: int, n: int) -> tuple[float, float]:
    """Wilson score 95% interval of a proportion k / n (sound at small n and near 0, 1)."""
    if n == 0:
        return math.nan, math.nan
    p = k / n
    centre = (p + Z95**2 / (2 * n)) / (1 + Z95**2 / n)
    half = Z95 * math.sqrt(p * (1 - p) / n + Z95**2 / (4 * n**2)) / (1 + Z95**2 / n)
    return centre - half, centre + half


def _models(rows: pd.DataFrame) -> pd.DataFrame:
    return rows[(rows["scope"] == "model") & rows["exact/kl_rate"].notna()]


def changes(rows: pd.DataFrame) -> pd.DataFrame:
    """Model rows at t ≥ 0 with Δppl = μ_{m,t} − μ_{m,t−1} (t = 0: against the base) and
    Δ log ppl = log μ_{m,t} − log μ_{m,t−1}."""
    models = _models(rows).sort_values(["run", "m", "t"])
    who = [models["run"], models["m"]]
    models = models.assign(
        d_ppl=models["ppl/mean"].groupby(who).diff(),
        d_log_ppl=np.log(models["ppl/mean"]).groupby(who).diff(),
    )
    return models[(models["t"] >= 0) & models["exact/edq"].notna()]


def agreement(rows: pd.DataFrame) -> pd.DataFrame:
    """Per condition and D, and per condition over all D (D = NaN): how often
    sign(δ_EDQ) = sign(Δppl), for W2 and for the KL analogue."""
    out = []
    moves = changes(rows)
    pooled = moves.assign(D=np.nan).groupby(CONDITION, dropna=False)
    for key, g in [*moves.groupby([*CONDITION, "D"]), *((k, g) for k, g in pooled)]:
        rising = g["d_ppl"] > 0
        row = dict(zip(CONDITION, key, strict=False)) | {"D": g["D"].iloc[0], "n": len(g)}
        for name, col in (("w2", "exact/edq"), ("kl", "exact/edq_kl")):
            k = int(((g[col] > 0) == rising).sum())
            lo, hi = wilson(k, len(g))
            row |= {f"{name}_rate": k / len(g), f"{name}_lo": lo, f"{name}_hi": hi}
        out.append(row)
    return pd.DataFrame(out)


def per_t(rows: pd.DataFrame) -> pd.DataFrame:
    """Per condition, D and t: the exact measurements, averaged over models and seeds."""
    keys = [*CONDITION, "D", "t"]
    models = _models(rows)
    table = models.groupby(keys)[[c for c in MODEL_COLUMNS if c in models]].mean()
    eco = rows[rows["scope"] == "ecosystem"]
    have = [c for c in ECO_COLUMNS if c in eco]
    if have:
        table = table.join(eco.groupby(keys)[have].mean(), how="left")
    return table.rename(columns=MODEL_COLUMNS | ECO_COLUMNS).reset_index()


def pearson(rows: pd.DataFrame) -> float:
    """Correlation of δ_EDQ with Δ log ppl over all (model, t): does size, not only sign,
    carry over?"""
    g = changes(rows)
    if len(g) < 3:
        return math.nan
    return float(np.corrcoef(g["exact/edq"], g["d_log_ppl"])[0, 1])
