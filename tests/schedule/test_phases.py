"""The phase table (ecosys/schedule/phases/): its order is layout.PHASES's, and which
phases run at which t follows from the config and the context."""

from __future__ import annotations

from dataclasses import replace
from types import SimpleNamespace

import pytest
from helpers import make_cfg
from omegaconf import OmegaConf

from ecosys.rundir import layout
from ecosys.schedule.context import Context
from ecosys.schedule.phases import BODIES, PHASES, in_layout_order


def test_the_phases_run_in_the_order_layout_spells_and_every_body_needs_a_place():
    assert [p.name for p in PHASES] == list(layout.PHASES)
    assert layout.UNIT_ORDER[:-1] == layout.PHASES and layout.UNIT_ORDER[-1] == "summary"
    assert in_layout_order(tuple(reversed(BODIES))) == PHASES  # the table's order is no say
    with pytest.raises(RuntimeError, match="differ"):
        in_layout_order((*BODIES, replace(BODIES[0], name="extra")))
    with pytest.raises(RuntimeError, match="differ"):
        in_layout_order(BODIES[1:])


def ran(*overrides: str, models: int = 2, exact: bool = False) -> dict[int, list[str]]:
    """The phases that apply at each t = -1 … T-1 of a run of `models` models (with p_data
    known: exact)."""
    cfg = OmegaConf.to_object(make_cfg(*overrides, f"diversity=d{models}"))
    roster = SimpleNamespace(members=[None] * models, shared_tokens=True)
    refs = {"": object()} if exact else {}
    ctx = Context(cfg, roster, None, None, None, None, refs, horizon=cfg.T)
    return {t: [p.name for p in PHASES if p.applies(ctx, t)] for t in range(-1, cfg.T)}


def test_the_last_iteration_makes_no_pool():
    got = ran("T=3")
    assert got[-1] == ["evaluate"]
    assert got[0] == got[1] == ["train", "evaluate", "generate", "cross", "pool"]
    assert got[2] == ["train", "evaluate"]


def test_the_exact_measures_run_where_p_data_is_known_and_disagreement_needs_two_models():
    assert ran("T=2", exact=True)[-1] == ["evaluate", "measure"]
    every = ["train", "evaluate", "measure", "generate", "cross", "pool", "disagree"]
    assert ran("T=2", exact=True)[0] == every
    assert "disagree" not in ran("T=2", models=1, exact=True)[0]


def test_retraining_on_real_data_and_no_lenses_drop_the_exchange_and_the_cross_matrix():
    assert ran("T=3", "data_quality=retrain_real")[0] == ["train", "evaluate"]
    assert ran("T=3", "lenses.enabled=false")[0] == ["train", "evaluate", "generate", "pool"]
