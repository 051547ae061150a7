"""The run-dir layout: the one place its file names, the phase and unit order and the
metrics reader are spelled. Pure Python (no torch), so the analysis can import it.

    config.yaml  run.json  metrics.jsonl  log.txt
    .lock  .lock.owner              the run's file lock, and "host H, pid P" of its holder
    units/<unit key>.json           one manifest per committed unit
    ppl/base.mMM.npy  ppl/tTT.mMM.npy      per-block test perplexities (t = -1: base)
    ppl_train/…                      the same on each model's own real training blocks
    gen/tTT.mMM.npy                  model m's continuations at t
    gen_ppl/tTT.mMM.npy              their perplexities under model m (curation=self|surprise)
    curation/tTT.scores.npy, .kept.npy   every generated block's curation score (models in
                                     order), and the indices of those kept
    pools/tTT.npy                    the shuffled pool at t (one token space), or
    pools/tTT.mMM.npy, pools/tTT.texts.npy   each model's re-tokenized share, and the text
    cross/tTT.npy                    M×M: perplexity of model i on model j's continuations at t
    ckpt/mMM.tTT.safetensors         model m's weights after t (the latest kept)
    tracking/                        the W&B mirror
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CONFIG = "config.yaml"
RUN_INFO = "run.json"
METRICS = "metrics.jsonl"
LOG = "log.txt"
UNITS = "units"
TRACKING = "tracking"
TRACKING_STATE = f"{TRACKING}/state.json"  # the W&B run id, its group, the last t logged
TRACKING_WANDB = f"{TRACKING}/wandb"  # W&B's own files (wandb.init(dir=tracking/) names it)
LOCK = ".lock"
LOCK_OWNER = ".lock.owner"

# The phases of an iteration in the order the schedule runs them: the one place it is
# spelled (ecosys/schedule/phases/ gives each its body and takes its order from here).
# Units sort by (t, this order, m), the order the loop commits them in, and so the order
# of metrics.jsonl's rows; an iteration's summary unit comes after its phases.
PHASES = ("train", "evaluate", "measure", "generate", "cross", "pool", "disagree")
UNIT_ORDER = (*PHASES, "summary")


@dataclass(frozen=True, order=True)
class Unit:
    """One committed step of a run: (t, phase, model); m = -1 for ecosystem steps."""

    t: int
    phase_order: int
    m: int

    @classmethod
    def of(cls, phase: str, t: int, m: int = -1) -> Unit:
        return cls(t, UNIT_ORDER.index(phase), m)

    @classmethod
    def parse(cls, key: str) -> Unit:
        """The unit whose `key` this is (a manifest's file stem)."""
        parts = key.split(".")
        t = -1 if parts[0] == "base" else int(parts[0][1:])
        m = int(parts[2][1:]) if len(parts) > 2 else -1
        return cls.of(parts[1], t, m)

    @property
    def phase(self) -> str:
        return UNIT_ORDER[self.phase_order]

    @property
    def key(self) -> str:
        return f"{_at(self.t)}.{self.phase}" + (f".m{self.m:02d}" if self.m >= 0 else "")


def _at(t: int) -> str:
    return "base" if t < 0 else f"t{t:02d}"


def manifest(unit: Unit) -> str:
    return f"{UNITS}/{unit.key}.json"


def manifest_glob() -> str:
    """Every unit manifest of a run (a manifest's stem is its unit's key)."""
    return f"{UNITS}/*.json"


def ppl(t: int, m: int) -> str:
    """Model m's per-block test perplexities after t (t = -1: its base); an array name."""
    return f"ppl/{_at(t)}.m{m:02d}"


def ppl_train(t: int, m: int) -> str:
    """The same on model m's own real training blocks (train.eval_on_train)."""
    return f"ppl_train/{_at(t)}.m{m:02d}"


def ppl_glob(t: int) -> str:
    """Every model's per-block test perplexity files at t."""
    return f"ppl/{_at(t)}.m*.npy"


def generated(t: int, m: int) -> str:
    return f"gen/t{t:02d}.m{m:02d}"


def generated_ppl(t: int, m: int) -> str:
    """The perplexity of each of model m's continuations at t under model m itself."""
    return f"gen_ppl/t{t:02d}.m{m:02d}"


def curation_scores(t: int) -> str:
    """The curation score of every block generated at t (model 0's first, and so on)."""
    return f"curation/t{t:02d}.scores"


def curation_kept(t: int) -> str:
    """The sorted indices (into curation_scores) of the blocks curation kept at t."""
    return f"curation/t{t:02d}.kept"


def pool(t: int, m: int | None = None) -> str:
    """The pool at t; with m, model m's re-tokenized share (families of other tokens)."""
    return f"pools/t{t:02d}" + (f".m{m:02d}" if m is not None else "")


def pool_file(run_dir: str | Path, t: int) -> Path:
    """The pool at t of the run in run_dir, as a file (what data=pool reads)."""
    return Path(run_dir) / npy(pool(t))


def pool_texts(t: int) -> str:
    return f"pools/t{t:02d}.texts"


def cross(t: int) -> str:
    """The M×M cross-model perplexity matrix at t (row i scores column j's continuations)."""
    return f"cross/t{t:02d}"


def cross_glob() -> str:
    """Every cross-model matrix file of a run."""
    return "cross/t*.npy"


def checkpoint(m: int, t: int) -> str:
    return f"ckpt/m{m:02d}.t{t:02d}.safetensors"


def npy(name: str) -> str:
    """The file an array name is stored in."""
    return f"{name}.npy"


def read_metrics(run_dir: str | Path) -> list[dict[str, Any]]:
    """metrics.jsonl's rows; none when the run has not written it yet."""
    path = Path(run_dir) / METRICS
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
