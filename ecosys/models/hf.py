"""Models and tokenizers from `transformers`: built from a config, or loaded from a
`save_pretrained` directory or a hub id; and the checkpoints of a run store.

Checkpoints in a run store hold weights only (safetensors); the architecture comes
from the base model's directory, so every checkpoint loads into the same class.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch
from omegaconf import DictConfig
from safetensors.torch import load_model, save_model
from transformers import (
    AutoConfig,
    AutoModelForCausalLM,
    AutoTokenizer,
    GPT2Config,
    GPT2TokenizerFast,
    LlamaConfig,
    OPTConfig,
    PretrainedConfig,
    PreTrainedTokenizerBase,
)

from ecosys.data import hub

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def architecture(mcfg: DictConfig, vocab_size: int) -> PretrainedConfig:
    """A `transformers` config from model.arch and its sizes; dropout off, so training
    is a pure function of the seed."""
    common = dict(vocab_size=vocab_size, bos_token_id=None, eos_token_id=None, pad_token_id=None)
    if mcfg.arch == "gpt2":
        return GPT2Config(
            n_positions=mcfg.n_positions,
            n_embd=mcfg.n_embd,
            n_layer=mcfg.n_layer,
            n_head=mcfg.n_head,
            resid_pdrop=0.0,
            embd_pdrop=0.0,
            attn_pdrop=0.0,
            **common,
        )
    if mcfg.arch == "opt":
        return OPTConfig(
            hidden_size=mcfg.n_embd,
            word_embed_proj_dim=mcfg.n_embd,
            ffn_dim=4 * mcfg.n_embd,
            num_hidden_layers=mcfg.n_layer,
            num_attention_heads=mcfg.n_head,
            max_position_embeddings=mcfg.n_positions,
            dropout=0.0,
            attention_dropout=0.0,
            **common,
        )
    if mcfg.arch == "llama":
        return LlamaConfig(
            hidden_size=mcfg.n_embd,
            intermediate_size=4 * mcfg.n_embd,
            num_hidden_layers=mcfg.n_layer,
            num_attention_heads=mcfg.n_head,
            max_position_embeddings=mcfg.n_positions,
            **common,
        )
    raise ValueError(f"model.arch={mcfg.arch!r}: use gpt2, opt or llama")


def new(mcfg: DictConfig, vocab_size: int, seed: int) -> torch.nn.Module:
    """A randomly initialised causal LM of model.arch's shape."""
    torch.manual_seed(seed)
    return AutoModelForCausalLM.from_config(architecture(mcfg, vocab_size), dtype=torch.float32)


def context_length(name_or_path: str) -> int:
    """Positions the model can attend over, read from its config (no weights)."""
    hf = hub.fetch(
        lambda offline: AutoConfig.from_pretrained(name_or_path, local_files_only=offline),
        name_or_path,
        "model.path",
        "set model.path=/dir/of/save_pretrained",
    )
    for key in ("max_position_embeddings", "n_positions", "max_sequence_length"):
        if getattr(hf, key, None):
            return int(getattr(hf, key))
    raise ValueError(f"cannot tell the context length of {name_or_path}")


def dtype(name: str) -> torch.dtype:
    """model.dtype; "default" is float32 everywhere (never 'auto', which loads OPT in
    float16): bf16 weights round away AdamW's updates below 2^-8 of a weight, and at the
    paper's lr 1e-5 most are. bf16 compute is train.mixed_precision=bf16 (autocast over
    float32 weights, as HF Trainer's bf16=True)."""
    if name == "default":
        return torch.float32
    return DTYPES[name]


def load(
    name_or_path: str, dtype: torch.dtype, attn_implementation: str | None = None
) -> torch.nn.Module:
    """A causal LM from a directory or hub id, in an explicit dtype."""
    kw = {"attn_implementation": attn_implementation} if attn_implementation else {}
    model = hub.fetch(
        lambda offline: AutoModelForCausalLM.from_pretrained(
            name_or_path, dtype=dtype, local_files_only=offline, **kw
        ),
        name_or_path,
        "model.path",
        "set model.path=/dir/of/save_pretrained",
    )
    gen = model.generation_config
    if gen.pad_token_id is None:  # never used to pad (prompts have equal lengths), but required
        gen.pad_token_id = gen.eos_token_id if gen.eos_token_id is not None else 0
    return model


def compiled(model: torch.nn.Module) -> torch.nn.Module:
    """`model` with its forward torch.compiled (static shapes), once per module: a run
    reloads every member's weights into its base's one module, so the graphs are reused.
    The forward is replaced in place (not `torch.compile(model)`), so state_dict keys
    and `model(...)` call sites stay as they are."""
    if "forward" not in model.__dict__:
        # a run meets a dozen shapes (train/eval mode × batch shapes × decode steps)
        torch._dynamo.config.recompile_limit = max(torch._dynamo.config.recompile_limit, 32)
        model.forward = torch.compile(model.forward, dynamic=False)
    return model


@contextmanager
def eager(model: torch.nn.Module) -> Iterator[torch.nn.Module]:
    """The uncompiled forward for a block whose shapes change every call (a growing
    KV cache: `model.generate`, ancestral sampling), where static graphs would recompile."""
    fast = model.__dict__.pop("forward", None)
    try:
        yield model
    finally:
        if fast is not None:
            model.forward = fast


def load_tokenizer(name_or_path: str) -> PreTrainedTokenizerBase:
    """A fast tokenizer from a directory or hub id; a bare GPT-2 BPE directory
    (vocab.json + merges.txt, no tokenizer_config.json) works too."""
    path = Path(name_or_path).expanduser()
    if (path / "vocab.json").exists() and not (path / "tokenizer_config.json").exists():
        return GPT2TokenizerFast.from_pretrained(str(path))
    return hub.fetch(
        lambda offline: AutoTokenizer.from_pretrained(name_or_path, local_files_only=offline),
        name_or_path,
        "model.tokenizer",
        "set model.tokenizer=/dir/with/the/tokenizer (or model.path)",
    )


def save_weights(model: torch.nn.Module, path: Path) -> None:
    save_model(model, str(path))


def load_weights(model: torch.nn.Module, path: Path) -> torch.nn.Module:
    load_model(model, str(path))
    return model
