"""Base models: the synthetic world's tiny GPT2 (pretrained by ecosys, cached) or a
pretrained `transformers` model from a local directory or the hub; and checkpoints.

Checkpoints in a run store hold weights only (safetensors); the architecture comes
from the base model's directory, so every checkpoint loads into the same class.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

import torch
from filelock import FileLock
from omegaconf import DictConfig, OmegaConf
from safetensors.torch import load_model, save_model
from transformers import AutoConfig, AutoModelForCausalLM, GPT2Config, GPT2LMHeadModel

log = logging.getLogger(__name__)

RECIPE = 1  # bump when pretraining code changes what it builds: old cache entries then miss
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def tiny_config(mcfg: DictConfig, vocab_size: int) -> GPT2Config:
    """A small GPT2 without dropout (so training is a pure function of the seed)."""
    return GPT2Config(
        vocab_size=vocab_size,
        n_positions=mcfg.n_positions,
        n_embd=mcfg.n_embd,
        n_layer=mcfg.n_layer,
        n_head=mcfg.n_head,
        resid_pdrop=0.0,
        embd_pdrop=0.0,
        attn_pdrop=0.0,
        bos_token_id=None,
        eos_token_id=None,
    )


def context_length(cfg: DictConfig) -> int:
    """Positions the model can attend over, read without loading weights."""
    m = cfg.model
    if m.source == "synthetic":
        return m.n_positions
    hf = AutoConfig.from_pretrained(m.path or m.hub_id)
    for key in ("max_position_embeddings", "n_positions", "max_sequence_length"):
        if getattr(hf, key, None):
            return int(getattr(hf, key))
    raise ValueError(f"cannot tell the context length of {m.path or m.hub_id}")


def base_dir(cfg: DictConfig, build) -> str:
    """Where the base model's `save_pretrained` directory is (or its hub id).

    For the synthetic world the directory is built once by `build(path)` and cached
    under cache_dir, keyed by everything that determines it; a lock keeps two jobs
    from building the same one.
    """
    m = cfg.model
    if m.path is not None:
        return str(Path(m.path).expanduser())
    if m.source == "pretrained":
        return m.hub_id
    key = {
        "recipe": RECIPE,
        "world": OmegaConf.to_container(cfg.world),
        "model": OmegaConf.to_container(m),
    }
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:12]
    path = Path(cfg.cache_dir).expanduser() / f"base-{m.name}-{digest}"
    path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(path) + ".lock"):
        if not (path / "config.json").exists():
            log.info("pretraining the base model (cached at %s)", path)
            tmp = path.with_name(path.name + ".tmp")
            build(tmp)
            (tmp / "key.json").write_text(json.dumps(key, indent=1, sort_keys=True))
            tmp.rename(path)
    return str(path)


def load(name_or_path: str, dtype: str) -> torch.nn.Module:
    """A causal LM from a directory or hub id, in the dtype the config says (never 'auto')."""
    model = AutoModelForCausalLM.from_pretrained(name_or_path, dtype=DTYPES[dtype])
    gen = model.generation_config
    if gen.pad_token_id is None:  # never used to pad (prompts have equal lengths), but required
        gen.pad_token_id = gen.eos_token_id if gen.eos_token_id is not None else 0
    return model


def save_weights(model: torch.nn.Module, path: Path) -> None:
    save_model(model, str(path))


def load_weights(model: torch.nn.Module, path: Path) -> torch.nn.Module:
    load_model(model, str(path))
    return model


def new_tiny(mcfg: DictConfig, vocab_size: int, seed: int) -> GPT2LMHeadModel:
    torch.manual_seed(seed)
    return GPT2LMHeadModel(tiny_config(mcfg, vocab_size))
