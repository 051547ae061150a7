"""A sweep as tidy tables: what every reader (run dirs, W&B) produces.

    runs    one row per run: its condition, D, M, seed, planned and done iterations
    means   (run, m, t) → μ_{m,t}
    std     (run, t) → the combined std over all models' per-block perplexities
    blocks  (run, m, t, block) → perplexity, where the source keeps blocks (run dirs;
            W&B keeps only their histograms, so its sweeps have blocks = None)
    rows    every metrics row (scope model, with its index m / ecosystem) with its run's
            condition: the training record and the synthetic world's exact measurements
    cubes   run → its per-block perplexities at t ≥ 0 as one [M, T_done, B] array (run
            dirs): what the bootstrap resamples

Every table carries the run's condition, D and seed. The condition is the labels a run
records (model, data, scale, data_quality, protocol, regime, curation) plus its `variant`: the
config values that differ between the runs read and that those labels do not account for
(`train.lr=1e-4`), so that runs of a sweep over any key are never averaged together.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ecosys.config import CONDITION_LABELS, PAPER, RUNTIME_KEYS

LABELS = list(CONDITION_LABELS)  # what run.json names (ecosys.config spells them)
VARIANT = "variant"
CONDITION = [*LABELS, VARIANT]
# Condition keys older runs did not record, at the paper's values (ecosys.config.PAPER).
# regime: what each model at t ≥ 1 trains on, `replace` (the paper: its share of the last
# pool), `accumulate` (the real set plus every earlier pool share) or
# `accumulate_subsample` (a fixed-size uniform subsample of that); curation: which generated
# blocks enter the pool, `none` (the paper: every one), `self_keep50`, `oracle_keep50`, ….
DEFAULTS = PAPER
# Labels named only where they depart from their default, so that the names of the
# paper's runs read as before the label existed.
QUIET = ("regime", "curation")
# The order a comparison lists a label's values in (the paper's first, then for regimes
# from least to most data kept); values not named here follow, sorted.
ORDER = {"regime": ["replace", "accumulate_subsample", "accumulate"], "curation": ["none"]}
RUN = [*CONDITION, "D", "seed", "run"]
# Config keys that never split a condition: where and how a run executes, the seed (a
# replicate), D's own makings (diversity.m, .shares), and T (how far a run goes: its
# iterations t < T do not depend on T).
NOT_CONDITION = (*RUNTIME_KEYS, "seed", "T", "diversity.m", "diversity.shares")


def value_text(value: Any) -> str:
    """A config value as a Hydra override writes it, compactly (1e-4, true, [a,b]): one
    text per value, whichever source it came from (W&B stores 0.0 as 0)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        plain = f"{value:g}"
        if not math.isfinite(value) or (abs(value) >= 1 and "e" not in plain):
            return plain
        mantissa, exp = f"{value:e}".split("e")
        sci = f"{mantissa.rstrip('0').rstrip('.')}e{int(exp)}"
        return sci if len(sci) < len(plain) else plain
    if isinstance(value, Mapping):
        return "{" + ",".join(f"{k}:{value_text(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(value_text(v) for v in value) + "]"
    return str(value)


def settings(flat: Mapping[str, Any]) -> dict[str, str]:
    """A run's flattened resolved config (keys like train.lr) less what never makes a
    condition (NOT_CONDITION), each value as its text."""
    return {
        k: value_text(v)
        for k, v in flat.items()
        if not any(k == x or k.startswith(f"{x}.") for x in NOT_CONDITION)
    }


def _quiet_key(key: str) -> bool:
    """A config key of a QUIET label's own settings (regime, regime.*, train.regime):
    older runs lack it and ran the label's default, which the label already says."""
    return any(part in QUIET for part in key.split("."))


def variant_keys(labels: Sequence[tuple], configs: Sequence[Mapping[str, str] | None]) -> list[str]:
    """The config keys that take two values among runs with the same labels: what splits
    a condition. A key constant within every label group is the labels' doing
    (generate.temperature under data_quality). Runs without a config (None) have no say;
    a key a run lacks (an older run) is null there, except a QUIET label's own key: the
    run predates it, so only the runs that record it compare."""

    def values(k: str, g: list[Mapping[str, str]]) -> set[str]:
        if _quiet_key(k):
            return {c[k] for c in g if k in c}
        return {c.get(k, "null") for c in g}

    groups: dict[tuple, list[Mapping[str, str]]] = defaultdict(list)
    for lab, config in zip(labels, configs, strict=True):
        if config:
            groups[tuple(lab)].append(config)
    keys = sorted({k for g in groups.values() for config in g for k in config})
    return [k for k in keys if any(len(values(k, g)) > 1 for g in groups.values())]


def with_variant(rows: Iterable[dict], configs: Sequence[Mapping[str, str] | None]) -> list[dict]:
    """The runs' rows (each holding LABELS) with their variant: `key=value, …` over
    variant_keys, "" where there are none or the run recorded no config."""
    rows = list(rows)
    keys = variant_keys([tuple(r[k] for k in LABELS) for r in rows], configs)
    return [
        {**r, VARIANT: ", ".join(f"{k}={c.get(k, 'null')}" for k in keys) if c else ""}
        for r, c in zip(rows, configs, strict=True)
    ]


def ordered(label: str, values: Iterable[str]) -> list[str]:
    """A label's values in ORDER."""
    order = ORDER.get(label, [])
    return sorted(values, key=lambda v: (order.index(v) if v in order else len(order), v))


def condition_key(cond: Sequence) -> tuple:
    """A condition's place in every table and figure: each label's value in ORDER, then
    the variant's values as numbers where they are (train.lr=3e-5 before 1e-4)."""
    *labels, variant = cond
    first = []
    for label, value in zip(LABELS, labels, strict=True):
        order = ORDER.get(label, [])
        first.append((order.index(value) if value in order else len(order), str(value)))
    return (*first, *(_number_first(part) for part in str(variant).split(", ")))


def _number_first(setting: str) -> tuple:
    """`key=value` sorted by key, then by value as a number where it parses as one."""
    key, _, value = setting.partition("=")
    try:
        return key, 0, float(value), ""
    except ValueError:
        return key, 1, 0.0, value


def d_label(d: float) -> str:
    """D as a label; NaN (a figure pooled over every D) is "all"."""
    if d != d:
        return "all"
    return f"{d:g}" if float(d).is_integer() else f"{d:.2f}"


def name(cond: Sequence, sep: str = " · ") -> str:
    """A condition's name: its labels joined by sep, then ` · <variant>` where it has one.
    cond is a CONDITION tuple; None stands for a label left out (the axis a comparison
    varies), and a QUIET label at its default is left out (`… · paper · accumulate`, but
    `… · paper` for the paper's own regime)."""
    *labels, variant = cond
    shown = [
        str(v)
        for k, v in zip(LABELS, labels, strict=True)
        if v is not None and not (k in QUIET and v == DEFAULTS[k])
    ]
    return sep.join(shown) + (f" · {variant}" if variant else "")


@dataclass
class Sweep:
    runs: pd.DataFrame
    means: pd.DataFrame
    std: pd.DataFrame
    blocks: pd.DataFrame | None = None
    rows: pd.DataFrame | None = None
    cubes: dict[str, np.ndarray] | None = None  # run → [M, T_done, B] blocks at t ≥ 0

    def missing(self) -> list[str]:
        """Plain-language notes on what the sweep lacks: unfinished runs, uneven seeds,
        and runs the condition cannot tell apart (one D and seed twice: averaged)."""
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
                    notes.append(f"{name(cond, '/')} D={d:g}: no run for seed(s) {lost}")
            for (d, seed), same in g.groupby(["D", "seed"]):
                if len(same) > 1:
                    notes.append(
                        f"{name(cond, '/')} D={d:g}: {len(same)} runs of seed {seed}, averaged"
                        f" as replicates ({', '.join(sorted(same['run']))})"
                    )
        return notes
