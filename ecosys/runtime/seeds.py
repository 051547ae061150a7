"""Seeds derived from (run seed, stream, t, model): any unit reruns alone, identically.

A stream names what draws from it (a phase, or a step of one: "sample", "lens", …); the
streams are not the schedule's phases (layout.PHASES), and their order here is part of
every seed: a new stream goes at the end."""

from __future__ import annotations

import numpy as np

_STREAMS = (
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
    "curation",
)


def derive(seed: int, stream: str, t: int = -1, m: int = -1) -> int:
    """A 32-bit seed for one unit; t and m may be -1 (the base model, or no model)."""
    entropy = [seed, _STREAMS.index(stream), t + 1, m + 1]
    return int(np.random.SeedSequence(entropy).generate_state(1)[0])


def rng(seed: int, stream: str, t: int = -1, m: int = -1) -> np.random.Generator:
    return np.random.default_rng(derive(seed, stream, t, m))
