"""Checks of what a run reads, before compute: every (model, corpus) pair of its
families and communities, local model and tokenizer directories, corpus files (there,
readable, UTF-8 text, not empty), saved pools, and W&B's credentials for an online run."""

from __future__ import annotations

import codecs
import os
from pathlib import Path
from urllib.parse import urlparse

import numpy as np
from omegaconf import DictConfig

from ecosys.config.errors import ConfigError, check
from ecosys.config.names import block_size
from ecosys.convert import gguf
from ecosys.rundir import layout


def corpora(cfg: DictConfig) -> None:
    """Every (model, corpus) pair of the run's families and communities."""
    keys = {f"communities.{c}": d for c, d in cfg.communities.items()} or {"data": cfg.data}
    corpora = keys.values()
    for mcfg in cfg.families.values() or [cfg.model]:
        for dcfg in corpora:
            _model(mcfg, dcfg)
    for key, dcfg in keys.items():
        _data(dcfg, key)
        check(
            dcfg.block_size == block_size(cfg),
            "communities",
            f"has block_size {dcfg.block_size}, another {block_size(cfg)}",
            "give all communities one block_size",
        )


def _exists(path: str | None, key: str, what: str, fix: str, directory: bool = False) -> None:
    if path is None:
        return
    p = Path(path).expanduser()
    check(p.is_dir() if directory else p.exists(), key, f"{path} is not {what}", fix)


def _model(m: DictConfig, data: DictConfig) -> None:
    if m.source == "gguf":
        _gguf(m)
    else:
        _exists(
            m.path,
            "model.path",
            "a directory",
            "point model.path at a save_pretrained (or llama2.c) directory, or drop it",
            directory=True,
        )
    if m.source == "pretrained":
        check(
            m.path is not None or m.hub_id is not None,
            "model.path",
            "a pretrained model needs model.path or model.hub_id",
            "set model.path=/dir/of/save_pretrained",
        )
    if m.source == "llama2c":
        check(
            m.path is not None,
            "model.path",
            "llama2c needs the checkpoint's directory",
            "set model.path",
        )
    if m.source == "random":
        check(
            m.tokenizer is not None,
            "model.tokenizer",
            "a randomly initialised model needs a tokenizer for its vocabulary",
            "set model.tokenizer=/dir/with/vocab.json+merges.txt (or a hub id)",
        )
    if m.tokenizer is not None and m.tokenizer.startswith(("/", ".", "~")):  # a path, not a hub id
        _exists(
            m.tokenizer, "model.tokenizer", "a directory", "point it at a tokenizer directory", True
        )
    if m.source in ("random", "synthetic"):
        check(
            m.n_embd % m.n_head == 0,
            "model.n_head",
            f"n_embd={m.n_embd} is not divisible by n_head={m.n_head}",
            "pick n_head dividing n_embd",
        )
    if m.source == "synthetic":
        check(
            data.source in ("synthetic", "pool"),
            "data",
            "the synthetic model only speaks the synthetic world's language",
            "use data=synthetic with model=tiny",
        )
        check(m.pretrain.steps >= 1, "model.pretrain.steps", "must be ≥ 1", "set e.g. 600")
    else:
        check(
            data.source != "synthetic",
            "data",
            f"model={m.name} reads text, but data=synthetic is token ids of the synthetic world",
            "use data=files (local text) or data=wikitext2 with a real model",
        )


def _gguf(m: DictConfig) -> None:
    """A GGUF source: model.path a .gguf file or a converted directory, else the
    distribution model.package installed with its file."""
    if m.path is not None:
        p = Path(m.path).expanduser()
        check(
            (p.is_file() and p.suffix == ".gguf") or (p / "config.json").is_file(),
            "model.path",
            f"{m.path} is neither a .gguf file nor a converted directory",
            "point model.path at a .gguf file, or drop it to use model.package's",
        )
        return
    try:
        gguf.packaged(m.package or gguf.PACKAGE)
    except gguf.NotInstalled as err:
        raise ConfigError(
            "model.package", str(err), "run make setup, or set model.path=/path/to/model.gguf"
        ) from err


def _data(d: DictConfig, key: str = "data") -> None:
    """A corpus's config; `key` is where it sits (data, or communities.NAME)."""
    if d.source == "files":
        for split in ("train", "valid", "test"):
            check(
                d[split] is not None,
                f"{key}.{split}",
                "data=files needs a train, a valid and a test file",
                f"set {key}.{split}=/path/to/{split}.txt",
            )
            _text_file(d[split], f"{key}.{split}")
    if d.source == "hub":
        check(
            d.hub_id is not None, "data.hub_id", "data from the hub needs an id", "set data.hub_id"
        )
    check(d.group_batch >= 1, "data.group_batch", "must be ≥ 1", "use 1000 (run_clm)")
    if d.topics is not None:
        check(
            d.source == "synthetic" and len(d.topics) > 0,
            "data.topics",
            f"selects topics of the synthetic world, got {list(d.topics)} with data={d.name}",
            "drop data.topics, or use it with data=synthetic",
        )
    if d.source == "pool":
        _pool(d)


CHUNK = 1 << 20  # bytes read at a time: WikiText-2's train file is 11 MB


def _text_file(path: str, key: str) -> None:
    """A corpus file must be a readable file of UTF-8 text that holds some: datasets'
    text loader would fail on anything else only after the model is loaded, or take NUL
    bytes for text. Its token count can only be checked once tokenized (corpus.text)."""
    p = Path(path).expanduser()
    fix = f"point {key} at a UTF-8 text file, one line per document line"
    what = "a directory" if p.is_dir() else "not a file" if p.exists() else "missing"
    check(p.is_file(), key, f"{path} is {what}", fix)
    try:
        f = p.open("rb")
    except OSError as err:
        raise ConfigError(
            key, f"{path} cannot be read ({err.strerror})", f"make it readable, or {fix}"
        ) from None
    decoder, size, text = codecs.getincrementaldecoder("utf-8")(), 0, False
    with f:
        while True:
            chunk = f.read(CHUNK)
            nul = chunk.find(b"\0")
            check(nul < 0, key, f"{path} is binary: a NUL byte at offset {size + nul}", fix)
            pending = len(decoder.getstate()[0])  # a character's first bytes, from the last chunk
            try:
                s = decoder.decode(chunk, final=not chunk)
            except UnicodeDecodeError as err:
                where = size - pending + err.start
                raise ConfigError(key, f"{path} is not UTF-8 text (offset {where})", fix) from None
            text = text or (bool(s) and not s.isspace())
            size += len(chunk)
            if not chunk:
                break
    check(size > 0, key, f"{path} is empty", fix)
    check(text, key, f"{path} holds only whitespace", fix)


def _pool(d: DictConfig) -> None:
    check(
        d.run is not None,
        "data.run",
        "data=pool needs the run whose generated pool becomes the corpus",
        "set data.run=runs/<sweep>/<run dir> (a finished run)",
    )
    pool = layout.pool_file(Path(d.run).expanduser(), d.pool_t)
    check(
        pool.exists(),
        "data.pool_t",
        f"{pool} does not exist (a run with T iterations has pools t = 0 … T-2, "
        "and only runs whose members share one tokenizer keep token pools)",
        "pick data.pool_t of a pool that run wrote",
    )
    width = np.load(pool, mmap_mode="r").shape[1]
    check(
        width == d.block_size,
        "data.block_size",
        f"is {d.block_size}, but the pool's blocks have {width} tokens",
        f"set data.block_size={width}",
    )


def tracking(cfg: DictConfig) -> None:
    """tracking.mode=online needs W&B's credentials here: without them wandb.init fails
    only once the run dir and its first rows are written."""
    check(
        cfg.tracking.mode != "online" or wandb_credentials(),
        "tracking.mode",
        "is online, but W&B has no credentials here (no WANDB_API_KEY, no `wandb login`)",
        "run `wandb login` or set WANDB_API_KEY, or use tracking.mode=offline "
        "(and `wandb sync` later)",
    )


def wandb_credentials() -> bool:
    """Has W&B a key here: WANDB_API_KEY, or `wandb login`'s entry for its host
    (WANDB_BASE_URL's, else api.wandb.ai) in the netrc file (NETRC, else ~/.netrc)?"""
    if os.environ.get("WANDB_API_KEY"):
        return True
    netrc = Path(os.environ.get("NETRC", Path.home() / ".netrc")).expanduser()
    host = urlparse(os.environ.get("WANDB_BASE_URL", "https://api.wandb.ai")).hostname or ""
    return netrc.is_file() and host in netrc.read_text(errors="replace")
