"""Configs tested as code: every option of every group in conf/ (experiment presets and
Hydra's launcher options too) composes and passes `config.validate`, so a broken option
file fails here rather than at the start of someone's sweep."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from helpers import CONF, SHARED_DATA, make_cfg
from omegaconf import DictConfig, OmegaConf

from ecosys import config

# every folder of conf/ that holds options: data_quality, experiment, hydra/launcher, ...
GROUPS = sorted(
    str(d.relative_to(CONF)) for d in CONF.rglob("*") if d.is_dir() and any(d.glob("*.yaml"))
)
OPTIONS = [(g, p.stem) for g in GROUPS for p in sorted((CONF / g).glob("*.yaml"))]


def text_partner(cfg: DictConfig) -> list[str]:
    """The defaults are the synthetic world and its tiny model: an option that brings a
    text model needs a text corpus beside it, and a text corpus a text model."""
    text_model = any(m.source != "synthetic" for m in cfg.families.values() or [cfg.model])
    sources = {d.source for d in cfg.communities.values() or [cfg.data]}
    if text_model and sources == {"synthetic"}:
        return ["data=wikitext2"]  # the hub's id only: validation does not fetch it
    if sources & {"files", "hub"} and not text_model:
        return ["model=gpt2"]
    return []


def stand_in_pool(cfg: DictConfig, tmp: Path) -> list[str]:
    """data=pool reads a finished run's pool: a stand-in run dir holding one of the
    composed block size, where the option names none."""
    d = cfg.data
    if d.source != "pool" or d.run is not None:
        return []
    (tmp / "pools").mkdir()
    np.save(tmp / "pools" / f"t{d.pool_t:02d}.npy", np.zeros((4, d.block_size), np.int64))
    return [f"data.run={tmp}"]


@pytest.mark.parametrize(("group", "option"), OPTIONS, ids=[f"{g}={o}" for g, o in OPTIONS])
def test_every_option_composes_and_validates(group, option, tmp_path, monkeypatch):
    # the local corpora and models by absolute path, whatever the cwd
    monkeypatch.setenv("ECOSYS_DATA", os.environ.get("ECOSYS_DATA", str(SHARED_DATA)))
    choice = f"{group}={option}"
    cfg = make_cfg(choice, small=False)
    extra = text_partner(cfg) + stand_in_pool(cfg, tmp_path)
    cfg = make_cfg(choice, *extra, small=False, hydra=group.startswith("hydra/"))
    if group.startswith("hydra/"):  # Hydra's own node: every value resolves
        OmegaConf.to_container(OmegaConf.select(cfg, group.replace("/", ".")), resolve=True)
        return
    data = os.environ["ECOSYS_DATA"]
    if data in json.dumps(config.resolved(cfg)) and not Path(data).is_dir():
        pytest.skip(f"{choice} reads files under {data}, absent here (set ECOSYS_DATA)")
    config.validate(cfg)
