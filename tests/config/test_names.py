"""What a config is called, spelled once: the condition's labels and their paper values
(which the analysis imports), and keys renamed since runs were first written."""

from __future__ import annotations

import pytest
from helpers import make_cfg
from hydra.errors import ConfigCompositionException

from ecosys import config
from ecosys.__main__ import composition_error


def test_a_condition_is_its_labels_and_its_diversity_and_the_paper_runs_the_paper_values():
    cond = config.condition(make_cfg())
    assert set(cond) == {*config.CONDITION_LABELS, "diversity"}
    assert {k: cond[k] for k in config.PAPER} == config.PAPER
    departing = config.condition(make_cfg("regime=accumulate", "train.protocol=equal_steps"))
    assert all(departing[k] != v for k, v in config.PAPER.items())


def test_a_renamed_key_is_refused_naming_its_new_name():
    with pytest.raises(ConfigCompositionException) as caught:
        make_cfg("train.eval_batch_size=32")
    err = composition_error(caught.value)
    assert str(err).startswith("train.eval_batch_size: renamed score.batch_size")
    assert "score.batch_size=" in str(err)


def test_an_older_config_reads_under_the_new_names():
    old = {"train": {"epochs": 2, "eval_batch_size": 32}, "seed": 1}
    assert config.upgraded(old) == {"train": {"epochs": 2}, "score": {"batch_size": 32}, "seed": 1}
    assert old["train"]["eval_batch_size"] == 32  # the caller's tree is left as it was
    assert config.upgraded({"train.eval_batch_size": 64}) == {"score.batch_size": 64}  # W&B's
    # so a run dir written before the rename still holds the same run
    current = config.resolved(make_cfg())
    before = config.upgraded(current) | {"train": {**current["train"], "eval_batch_size": 32}}
    del before["score"]
    assert config.departures(config.upgraded(before)) == config.departures(current)
