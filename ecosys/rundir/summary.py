"""An iteration's rows of metrics.jsonl, merged from what its units committed.

A model row holds every scalar its units' infos carry (their keys are the final
metric names); the ecosystem row holds μ_t, the combined std, μ_m,t per model, μ_T,
the mean over models of every other model metric, the infos of the ecosystem's own
units (pool, disagree) and the iteration's timings. A new metric returned by a phase
body appears here, and so in W&B and the analysis, without an edit.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ecosys.measures import metrics

TIMING = ("time/", "gen/tokens_per_s")  # prefixes of the only values a rerun changes
ROW_KEYS = ("scope", "t", "model", "family", "community")  # a row's coordinates


def is_metric(value: Any) -> bool:
    """Scalars go into rows; lists (e.g. train/val_losses) stay in the unit's manifest."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def model_row(t: int, m: int, coords: dict[str, str], infos: Sequence[dict]) -> dict[str, Any]:
    row: dict[str, Any] = {"scope": "model", "t": t, "model": m, **coords}
    for info in infos:
        row |= {k: v for k, v in info.items() if is_metric(v)}
    return row


def ecosystem_row(
    t: int,
    model_rows: Sequence[dict],
    ppls: Sequence[np.ndarray],
    mu_before: Sequence[float],
    infos: Sequence[dict],
    seconds: dict[str, float],
) -> dict[str, Any]:
    """`mu_before`: μ_0 … μ_{t-1}; `infos`: the ecosystem units' of t; `seconds`:
    wall time of the iteration and its phases."""
    mu = metrics.ecosystem_mean([r["ppl/mean"] for r in model_rows])
    row = {"scope": "ecosystem", "t": t, "ppl/mean": mu, "ppl/std": metrics.combined_std(ppls)}
    row |= {f"ppl/m{m}": r["ppl/mean"] for m, r in enumerate(model_rows)}
    if t >= 0:
        row["ppl/mu_T"] = metrics.aggregated([*mu_before, mu], t + 1)
    own = ("ppl/mean", "ppl/std", *ROW_KEYS)  # aggregated above, or coordinates
    for key in dict.fromkeys(k for r in model_rows for k in r if k not in own):
        row[key] = metrics.ecosystem_mean([r[key] for r in model_rows if key in r])
    for info in infos:
        row |= {k: v for k, v in info.items() if is_metric(v)}
    row |= {f"time/{k}_s": v for k, v in seconds.items()}
    return row
