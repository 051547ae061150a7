"""Where an ecosystem's base model comes from, for every `model.source`:

    pretrained  a `save_pretrained` directory (model.path) or a hub id (model.hub_id)
    llama2c     a llama2.c checkpoint (model.path), converted once into cache_dir
    gguf        a GGUF file (model.path, else the one pip distribution model.package
                ships), dequantized once into cache_dir and checked by sha256 on reuse;
                model.path may also be a directory already converted
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

from accelerate import Accelerator, PartialState
from filelock import FileLock
from omegaconf import DictConfig, OmegaConf

from ecosys import config
from ecosys.convert import gguf, llama2c
from ecosys.models import hf
from ecosys.models.pretrain import pretrain_tiny

log = logging.getLogger(__name__)

RECIPE = 1  # bump when a builder changes what it builds: old cache entries then miss


def locate(cfg: DictConfig, m: DictConfig) -> str:
    """Model config m's base: a directory or hub id; converts or initialises it if
    needed, but never trains (a synthetic base may not exist yet: see `ensure`)."""
    if m.source == "pretrained":
        return str(Path(m.path).expanduser()) if m.path else m.hub_id
    if m.source == "llama2c":
        src = Path(m.path).expanduser()
        key = {"llama2c": str(src.resolve())}
        return _cached(cfg, m, key, lambda out: llama2c.convert(src, out))
    if m.source == "gguf":
        src = gguf_file(m)
        if src.is_dir():
            return str(src)
        key = {"gguf": gguf.sha256(src)}  # 0.2 s for 100 MB: the file, not its name
        return _cached(cfg, m, key, lambda out: gguf.convert(src, out), intact=gguf.verify)
    if m.source == "random":
        key = {"random": _shape(m), "tokenizer": m.tokenizer, "seed": m.init_seed}
        return _cached(cfg, m, key, _random(m))
    return str(_path(cfg, m, _synthetic_key(cfg, m)))


def ensure(cfg: DictConfig, m: DictConfig, accelerator: Accelerator) -> None:
    """Build model config m's synthetic base if it is not cached yet (pretraining)."""
    if m.source == "synthetic":
        _cached(
            cfg,
            m,
            _synthetic_key(cfg, m),
            lambda out: pretrain_tiny(cfg, m, out, accelerator, cfg.runtime.progress),
            what="pretraining the base model",
        )


def gguf_file(m: DictConfig) -> Path:
    """Model config m's GGUF file (or converted directory): model.path, else the file
    that distribution model.package ships (gguf.NotInstalled when it is not installed)."""
    return Path(m.path).expanduser() if m.path else gguf.packaged(m.package or gguf.PACKAGE)


def tokenizer_source(m: DictConfig, base: str) -> str:
    return m.tokenizer or base


def _shape(m: DictConfig) -> dict:
    return {k: m[k] for k in config.SHAPE}


def _synthetic_key(cfg: DictConfig, m: DictConfig) -> dict:
    return {
        "world": OmegaConf.to_container(cfg.world),
        "shape": _shape(m),
        "pretrain": OmegaConf.to_container(m.pretrain),
    }


def _random(m: DictConfig) -> Callable[[Path], None]:
    def build(out: Path) -> None:
        tok = hf.load_tokenizer(m.tokenizer)
        model = hf.new(m, len(tok), m.init_seed)
        model.config.bos_token_id = tok.bos_token_id
        model.config.eos_token_id = tok.eos_token_id
        model.save_pretrained(out)
        tok.save_pretrained(out)

    return build


def _path(cfg: DictConfig, m: DictConfig, key: dict) -> Path:
    blob = json.dumps({"recipe": RECIPE, **key}, sort_keys=True)
    digest = hashlib.sha256(blob.encode()).hexdigest()[:12]
    return Path(cfg.cache_dir).expanduser() / f"base-{m.name}-{digest}"


def _cached(
    cfg: DictConfig,
    m: DictConfig,
    key: dict,
    build: Callable[[Path], object],
    what: str = "building",
    intact: Callable[[Path], list[str]] | None = None,
) -> str:
    """The cache entry for `key`, built by `build` unless there; `intact(path)` lists the
    files of an entry that fail their checksums: such an entry is built again."""
    path = _path(cfg, m, key)
    path.parent.mkdir(parents=True, exist_ok=True)
    # the main process builds first: under a process group transformers' save_pretrained
    # writes on global rank 0 only, so another rank's build would come out empty
    with PartialState().main_process_first(), FileLock(str(path) + ".lock"):
        damaged = intact(path) if intact and (path / "config.json").exists() else []
        if damaged:
            log.warning("%s: %s fail their checksums: building it again", path, damaged)
        if damaged or not (path / "config.json").exists():
            log.info("%s (cached at %s)", what, path)
            tmp = path.with_name(path.name + ".tmp")
            shutil.rmtree(tmp, ignore_errors=True)  # a build killed half-way
            build(tmp)
            if not (tmp / "config.json").exists():
                raise RuntimeError(f"building {path.name} wrote no config.json into {tmp}")
            (tmp / "key.json").write_text(
                json.dumps({"recipe": RECIPE, **key}, indent=1, sort_keys=True)
            )
            shutil.rmtree(path, ignore_errors=True)  # an incomplete entry
            tmp.rename(path)
    return str(path)
