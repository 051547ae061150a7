"""Where an ecosystem's base model comes from, for every `model.source`:

    pretrained  a `save_pretrained` directory (model.path) or a hub id (model.hub_id)
    llama2c     a llama2.c checkpoint (model.path), converted once into cache_dir
    random      a randomly initialised model.arch with model.tokenizer, saved once
    synthetic   the synthetic world's tiny model, pretrained once on the world's Q

Built bases are cached under cache_dir, keyed by everything that determines them, so
every run (and every SLURM job) of a grid shares one; a file lock keeps two jobs from
building the same one, and reuse never changes a result (they are deterministic and
stored in full precision).
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
from collections.abc import Callable
from pathlib import Path

from accelerate import Accelerator
from filelock import FileLock
from omegaconf import DictConfig, OmegaConf

from ecosys import models
from ecosys.convert import llama2c
from ecosys.pretrain import pretrain_tiny

log = logging.getLogger(__name__)

RECIPE = 1  # bump when a builder changes what it builds: old cache entries then miss
SHAPE = ("arch", "n_layer", "n_embd", "n_head", "n_positions")


def locate(cfg: DictConfig) -> str:
    """The base model's directory or hub id; converts or initialises it if needed, but
    never trains (the synthetic base's directory may not exist yet: see `ensure`)."""
    m = cfg.model
    if m.source == "pretrained":
        return str(Path(m.path).expanduser()) if m.path else m.hub_id
    if m.source == "llama2c":
        src = Path(m.path).expanduser()
        return _cached(cfg, {"llama2c": str(src.resolve())}, lambda out: llama2c.convert(src, out))
    if m.source == "random":
        return _cached(
            cfg, {"random": _shape(m), "tokenizer": m.tokenizer, "seed": m.init_seed}, _random(m)
        )
    return str(_path(cfg, _synthetic_key(cfg)))


def ensure(cfg: DictConfig, accelerator: Accelerator) -> None:
    """Build the synthetic base if it is not cached yet (pretraining: compute)."""
    if cfg.model.source == "synthetic":
        _cached(
            cfg,
            _synthetic_key(cfg),
            lambda out: pretrain_tiny(cfg, out, accelerator, cfg.runtime.progress),
            what="pretraining the base model",
        )


def tokenizer_source(cfg: DictConfig, base: str) -> str:
    return cfg.model.tokenizer or base


def _shape(m: DictConfig) -> dict:
    return {k: m[k] for k in SHAPE}


def _synthetic_key(cfg: DictConfig) -> dict:
    return {
        "world": OmegaConf.to_container(cfg.world),
        "shape": _shape(cfg.model),
        "pretrain": OmegaConf.to_container(cfg.model.pretrain),
    }


def _random(m: DictConfig) -> Callable[[Path], None]:
    def build(out: Path) -> None:
        tok = models.load_tokenizer(m.tokenizer)
        model = models.new(m, len(tok), m.init_seed)
        model.config.bos_token_id = tok.bos_token_id
        model.config.eos_token_id = tok.eos_token_id
        model.save_pretrained(out)
        tok.save_pretrained(out)

    return build


def _path(cfg: DictConfig, key: dict) -> Path:
    blob = json.dumps({"recipe": RECIPE, **key}, sort_keys=True)
    digest = hashlib.sha256(blob.encode()).hexdigest()[:12]
    return Path(cfg.cache_dir).expanduser() / f"base-{cfg.model.name}-{digest}"


def _cached(
    cfg: DictConfig, key: dict, build: Callable[[Path], object], what: str = "building"
) -> str:
    path = _path(cfg, key)
    path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(path) + ".lock"):
        if not (path / "config.json").exists():
            log.info("%s (cached at %s)", what, path)
            tmp = path.with_name(path.name + ".tmp")
            shutil.rmtree(tmp, ignore_errors=True)  # a build killed half-way
            build(tmp)
            (tmp / "key.json").write_text(
                json.dumps({"recipe": RECIPE, **key}, indent=1, sort_keys=True)
            )
            tmp.rename(path)
    return str(path)
