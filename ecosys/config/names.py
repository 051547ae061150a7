"""What a config is called and what it derives: its identity and hash, the labels of its
condition, its run name, its data shares and block size."""

from __future__ import annotations

import copy
import hashlib
import json
import math
import typing
from dataclasses import MISSING, fields, is_dataclass
from typing import Any

from omegaconf import DictConfig, OmegaConf

from ecosys.config.schema import Config, Curation, Protocol, Segments

# Keys renamed since runs were first written, old → new: an older run's config is read
# under the new names (`upgraded`), and the command line names the new key for an old one.
RENAMED = {"train.eval_batch_size": "score.batch_size"}


def upgraded(tree: dict[str, Any]) -> dict[str, Any]:
    """A plain config (nested, or flat with dotted keys as W&B keeps it) with every
    RENAMED key under its new name."""
    out = copy.deepcopy(tree)
    for old, new in RENAMED.items():
        if old in out:  # flat
            out.setdefault(new, out.pop(old))
            continue
        *path, key = old.split(".")
        node = out
        for part in path:
            node = node.get(part) if isinstance(node, dict) else None
        if isinstance(node, dict) and key in node:
            *new_path, new_key = new.split(".")
            target = out
            for part in new_path:
                target = target.setdefault(part, {})
            target.setdefault(new_key, node.pop(key))
    return out


def resolved(cfg: DictConfig) -> dict[str, Any]:
    """The config as plain data (enums as their strings): what config.yaml holds."""
    return OmegaConf.to_container(cfg, resolve=True, enum_to_str=True)


def departures(tree: dict[str, Any], schema: type = Config) -> dict[str, Any]:
    """The values of a plain config tree that differ from the schema's (dataclass)
    defaults, runtime keys left out: what decides a run's results. A key added later with
    a default leaves every identity as it was, and one an old config.yaml lacks counts as
    its default. Keys the schema does not know are kept (they may decide results)."""
    hints = typing.get_type_hints(schema)
    known = {f.name: f for f in fields(schema)}
    out: dict[str, Any] = {}
    for key, value in tree.items():
        f = known.get(key)
        if f is None:
            out[key] = value
            continue
        if f.metadata.get("runtime"):
            continue
        kind = hints[key]
        if is_dataclass(kind) and isinstance(value, dict):
            value = departures(value, kind)
            if value:
                out[key] = value
        elif typing.get_origin(kind) is dict and is_dataclass(typing.get_args(kind)[1]):
            entry = typing.get_args(kind)[1]
            if value:  # an entry at all its defaults still counts: {} is the default
                out[key] = {k: departures(v, entry) for k, v in value.items()}
        elif value != (f.default if f.default is not MISSING else f.default_factory()):
            out[key] = value
    return out


def identity(cfg: DictConfig) -> dict[str, Any]:
    """The part of the config that decides results: what a run dir must match. T is
    not part of it: iterations t < T do not depend on T, so a larger T continues a run
    and a smaller one reads as done (ecosys/rundir/store.py)."""
    return {k: v for k, v in departures(resolved(cfg)).items() if k != "T"}


def config_hash(cfg: DictConfig) -> str:
    blob = json.dumps(identity(cfg), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:8]


def shares(cfg: DictConfig) -> list[float]:
    d = cfg.diversity
    return list(d.shares) if d.shares is not None else [1.0 / d.m] * d.m


def hill_shannon(w: list[float]) -> float:
    """D = exp(-Σ w ln w): equal shares give D = M."""
    return math.exp(-sum(x * math.log(x) for x in w if x > 0))


def block_size(cfg: DictConfig) -> int:
    """The run's block size: data's, or the communities' (which must all agree)."""
    coms = [cfg.communities[k] for k in sorted(cfg.communities)]
    return coms[0].block_size if coms else cfg.data.block_size


def data_quality_label(cfg: DictConfig) -> str:
    """The data_quality option's own name (generate.* cannot tell nucleus from temperature
    sampling), plus the share of fresh real data when there is one."""
    dq = cfg.data_quality
    f = dq.real_fraction
    return f"{dq.name}+real{round(100 * f)}" if f > 0 else dq.name


def curation_label(cfg: DictConfig) -> str:
    """none, or the option with its setting: self_keep50, degenerate_share50."""
    c = cfg.curation
    if c.name == Curation.none:
        return "none"
    if c.name == Curation.degenerate:
        return f"degenerate_share{round(100 * c.max_token_share)}"
    return f"{c.name}_keep{round(100 * c.keep)}"


def diversity_label(cfg: DictConfig) -> str:
    if cfg.diversity.shares is None:
        return f"d{cfg.diversity.m}"
    return f"D{hill_shannon(shares(cfg)):.2f}"


def protocol_label(cfg: DictConfig) -> str:
    """The controls a run departs from the paper's protocol by; "paper" when none."""
    parts = []
    if cfg.train.protocol != Protocol.epochs:
        parts.append(str(cfg.train.protocol))
    if cfg.diversity.segments != Segments.split:
        parts.append(f"segments_{cfg.diversity.segments}")
    if cfg.data_quality.retrain_real:
        parts.append("retrain_real")
    return "+".join(parts) or "paper"


def _data_label(d: DictConfig) -> str:
    return f"{d.name}_t{d.pool_t}" if d.source == "pool" else d.name


# The labels of a run's condition that the analysis tells conditions apart by (D is its
# own axis), and the value of each the paper's runs have: a run's name leaves a label out
# at that value, and a run from before the label was recorded ran it. Pure data: the
# analysis imports it.
CONDITION_LABELS = ("model", "data", "scale", "data_quality", "protocol", "regime", "curation")
PAPER = {"protocol": "paper", "regime": "replace", "curation": "none"}


def condition(cfg: DictConfig) -> dict[str, str]:
    """The labels that name a run's condition (CONDITION_LABELS and its diversity):
    mixed families by their models' names, communities by their keys, joined by +."""
    fams = [cfg.families[k].name for k in sorted(cfg.families)] or [cfg.model.name]
    coms = sorted(cfg.communities) or [_data_label(cfg.data)]
    return {
        "model": "+".join(fams),
        "data": "+".join(coms),
        "scale": cfg.scale.name,
        "data_quality": data_quality_label(cfg),
        "diversity": diversity_label(cfg),
        "protocol": protocol_label(cfg),
        "regime": str(cfg.regime.name),
        "curation": curation_label(cfg),
    }


def run_name(cfg: DictConfig) -> str:
    if cfg.run_name:
        return cfg.run_name
    labels = [v for k, v in condition(cfg).items() if PAPER.get(k) != v]
    return "_".join(labels) + f"_s{cfg.seed}-{config_hash(cfg)}"
