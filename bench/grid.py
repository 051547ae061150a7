"""A grid of synthesized run dirs for the analysis bench: the files a run writes (named by
ecosys.rundir.layout: run.json, config.yaml, metrics.jsonl, per-block perplexities, cross
matrices), with the shape of smoke-size runs (debug=smoke: 48 test blocks, M = D) and
every metric the analysis reads (the lenses, the synthetic world's exact measures),
their values made up to collapse smoothly. Writing 300 of them takes seconds where
running them (the real CLI) would take most of an hour on 2 cores.
"""

from __future__ import annotations

import itertools
import json
import math
from pathlib import Path

import numpy as np
import yaml

from analysis.lenses import LENSES
from ecosys.rundir import layout

DS = (1, 2, 4, 16)
BLOCKS = 48  # conf/debug/smoke.yaml's world.test_blocks
LABELS = {"model": "tiny", "data": "synthetic", "scale": "tiny", "data_quality": "beam"}
EXACT = ("exact/kl_rate", "exact/data_w2", "exact/model_w2", "exact/edq", "exact/edq_kl")


def write_run(
    root: Path,
    name: str,
    regime: str,
    config: dict,
    D: int,
    seed: int,
    T: int,
    rng: np.random.Generator,
    blocks: int = BLOCKS,
) -> Path:
    """One run dir: its condition (regime, and the config keys given, as config.yaml
    has them nested: {"train": {"lr": 1e-4}}), D models, T iterations; μ_t grows faster
    under replace and with train.lr."""
    run = root / f"{name}_d{D}_s{seed}"
    (run / "ppl").mkdir(parents=True)
    info = {
        "name": run.name,
        "condition": {**LABELS, "diversity": f"d{D}", "protocol": "paper", "regime": regime},
        "D": float(D),
        "M": D,
        "seed": seed,
        "T": T,
        "world": {"entropy_rate_ppl": 9.1, "oracle_test_ppl": 9.7},
    }
    (run / layout.RUN_INFO).write_text(json.dumps(info, indent=1))
    config = {"seed": seed, "T": T, "regime": regime, **config}
    (run / layout.CONFIG).write_text(yaml.safe_dump(config))
    lr = config.get("train", {}).get("lr", 1e-4)
    rate = (0.25 if regime == "replace" else 0.05) * lr / 1e-4
    rows = []
    for t in range(-1, T):
        mu = 20.0 * math.exp(max(t, 0) * rate / math.sqrt(D)) * (1 + 0.03 * math.log2(D))
        models = []
        for m in range(D):
            ppl = mu * rng.lognormal(0.0, 0.2, blocks)
            np.save(run / layout.npy(layout.ppl(t, m)), ppl)
            row = {"scope": "model", "t": t, "model": m, "ppl/mean": float(ppl.mean())}
            row |= {k: float(np.quantile(ppl, q)) for k, q in PPL_Q.items()}
            if 0 <= t < T - 1:  # generations: none at the last iteration
                row |= _lenses(t, D, rate, rng, models=True)
            if t >= 0:
                row |= {k: float(rng.normal(0, 0.1) + 0.01 * t) for k in EXACT}
                row |= {"train/param_dist": 0.1 * (t + 1), "train/steps": 2.0 * (t + 1)}
            models.append(row)
        eco = {
            "scope": "ecosystem",
            "t": t,
            "ppl/mean": float(np.mean([r["ppl/mean"] for r in models])),
        }
        eco |= {f"ppl/m{m}": r["ppl/mean"] for m, r in enumerate(models)}
        eco["ppl/std"] = float(mu * 0.2)
        keys = dict.fromkeys(k for r in models for k in r if k.startswith(("lens/", "exact/")))
        eco |= {k: float(np.mean([r[k] for r in models if k in r])) for k in keys}
        if 0 <= t < T - 1:
            eco |= _lenses(t, D, rate, rng, models=False)
            eco |= {"exact/pool_w2": 0.1 * t, "exact/js": 0.01 * t}
            if D > 1:
                matrix = mu * (1 + rng.random((D, D)))
                (run / "cross").mkdir(exist_ok=True)
                np.save(run / layout.npy(layout.cross(t)), matrix)
        rows += [*models, eco]
    (run / layout.METRICS).write_text("".join(json.dumps(r) + "\n" for r in rows))
    return run


PPL_Q = {"ppl/p50": 0.5, "ppl/p90": 0.9, "ppl/p99": 0.99}


def _lenses(
    t: int, D: int, rate: float, rng: np.random.Generator, models: bool
) -> dict[str, float]:
    """The lenses of analysis.lenses a model row carries (`models`: lens/…, of one model)
    or the ecosystem's own (the pool's, and those of pairs of models, none at M = 1): each
    moves toward collapse (its sign) by a factor exp(rate · t / √D), with a little noise."""
    out = {}
    for lens in LENSES:
        mine = lens.key.startswith("lens/") and not lens.pairs
        if mine != models or not lens.key.startswith(("lens/", "pool/")) or (lens.pairs and D == 1):
            continue
        drift = math.exp(-(lens.sign or 1) * rate * t / math.sqrt(D))
        out[lens.key] = float(0.5 * drift * rng.lognormal(0.0, 0.02))
    return out


def write_grid(
    root: Path,
    regimes: tuple[str, ...] = ("replace", "accumulate", "accumulate_subsample"),
    lrs: tuple[float, ...] = (1e-4, 2e-4, 3e-4, 5e-4, 1e-3),
    seeds: tuple[int, ...] = (0, 1, 2, 3, 4),
    T: int = 10,
    seed: int = 0,
    blocks: int = BLOCKS,
) -> list[Path]:
    """regimes × lrs conditions of D = DS and `seeds`: 3 × 5 × 4 × 5 = 300 runs by default."""
    rng = np.random.default_rng(seed)
    return [
        write_run(root, f"{regime}_lr{lr:g}", regime, {"train": {"lr": lr}}, D, s, T, rng, blocks)
        for regime, lr, D, s in itertools.product(regimes, lrs, DS, seeds)
    ]
