"""Seeds derived from (run seed, phase, t, model): any unit reruns alone, identically."""

from __future__ import annotations

import numpy as np

_PHASES = (
    "sample",
    "segment",
    "train",
    "generate",
    "pool",
    "pretrain",
    "corpus",
    "fresh",
    "measure",
    "lens",
    "regime",
    "cross",
)


def derive(seed: int, phase: str, t: int = -1, m: int = -1) -> int:
    """A 32-bit seed for one unit; t and m may be -1 (the base model, or no model)."""
    entropy = [seed, _PHASES.index(phase), t + 1, m + 1]
    return int(np.random.SeedSequence(entropy).generate_state(1)[0])


def rng(seed: int, phase: str, t: int = -1, m: int = -1) -> np.random.Generator:
    return np.random.default_rng(derive(seed, phase, t, m))
