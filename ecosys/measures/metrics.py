"""The paper's statistics (DESIGN.md §1.5), shared by the loop and the analysis.

Pure numpy on purpose: the analysis imports this without importing the training code.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np


def block_mean(ppl: np.ndarray) -> float:
    """μ_{m,t}: mean per-block perplexity of one model at one iteration."""
    return float(np.mean(ppl))


def combined_std(ppls: Sequence[np.ndarray]) -> float:
    """Standard deviation over all models' per-block perplexities pooled together
    (the combined standard deviation of the groups; ddof = 1)."""
    allv = np.concatenate([np.asarray(p, dtype=np.float64).ravel() for p in ppls])
    return float(np.std(allv, ddof=1)) if allv.size > 1 else 0.0


def ecosystem_mean(model_means: Sequence[float]) -> float:
    """μ_t = mean over models of μ_{m,t}."""
    return float(np.mean(model_means))


def aggregated(mu_t: Sequence[float], T: int) -> float:
    """μ_T = mean of μ_t over the first T iterations t = 0 … T-1."""
    if T < 1 or len(mu_t) < T:
        raise ValueError(f"μ_T needs μ_0 … μ_{T - 1}, have {len(mu_t)} iterations")
    return float(np.mean(mu_t[:T]))


def optimum(mu_T_by_d: Mapping[float, float]) -> float:
    """D_opt = argmin_D μ_T(D); a tie goes to the smallest D."""
    return min(sorted(mu_T_by_d), key=lambda d: mu_T_by_d[d])
