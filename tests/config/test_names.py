"""What a config is called and what it derives (ecosys/config/names.py): condition
labels, spelled once with their paper values (which the analysis imports), D, the run
id and its departures from the schema, and keys renamed since runs were first written."""

from __future__ import annotations

import math

import pytest
from helpers import CONF, make_cfg
from hydra.errors import ConfigCompositionException

from ecosys import config
from ecosys.__main__ import composition_error


def test_a_condition_is_its_labels_and_its_diversity_and_the_paper_runs_the_paper_values():
    cond = config.condition(make_cfg())
    assert set(cond) == {*config.CONDITION_LABELS, "diversity"}
    assert {k: cond[k] for k in config.PAPER} == config.PAPER
    departing = config.condition(
        make_cfg("regime=accumulate", "train.protocol=equal_steps", "curation=self")
    )
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


def test_data_quality_composes_with_the_generation_mode():
    cfg = make_cfg("data_quality=[temp0.5,real10]")
    assert cfg.generate.do_sample and cfg.generate.temperature == 0.5
    assert cfg.data_quality.real_fraction == 0.1
    assert config.data_quality_label(cfg) == "temp0.5+real10"
    cfg = make_cfg("data_quality=beam")
    assert cfg.generate.num_beams == 5 and not cfg.generate.do_sample
    assert cfg.data_quality.real_fraction == 0.0


def test_shares_give_non_integer_hill_shannon_diversity():
    cfg = make_cfg("diversity=shares")
    w = config.shares(cfg)
    entropy = -(0.5 * math.log(0.5) + 0.3 * math.log(0.3) + 0.2 * math.log(0.2))
    assert config.hill_shannon(w) == pytest.approx(math.exp(entropy), rel=1e-12)
    assert 2.8 < config.hill_shannon(w) < 2.81
    assert config.hill_shannon([0.25] * 4) == pytest.approx(4.0)
    assert config.diversity_label(cfg) == "D2.80"


def test_run_id_ignores_runtime_settings_only():
    a = make_cfg()
    assert config.config_hash(a) == config.config_hash(
        make_cfg("runtime.progress=true", "out_dir=x")
    )
    assert config.config_hash(a) != config.config_hash(make_cfg("train.lr=1e-3"))
    assert config.config_hash(a) != config.config_hash(make_cfg("seed=1"))


def test_user_facing_key_names_exist():
    cfg = make_cfg()
    for key in (
        "T",
        "seed",
        "out_dir",
        "diversity.m",
        "diversity.shares",
        "scale.fraction",
        "data.block_size",
        "train.epochs",
        "train.lr",
        "train.batch_size",
        "generate.num_beams",
        "generate.do_sample",
        "generate.temperature",
        "generate.top_k",
        "generate.top_p",
        "generate.batch_size",
        "data_quality.real_fraction",
    ):
        node, *rest = key.split(".")
        assert node in cfg and (not rest or rest[0] in cfg[node]), key


DATA_QUALITY = sorted(p.stem for p in (CONF / "data_quality").glob("*.yaml"))
# the labels runs of these options already carry (in run.json, hence in every analysis)
EXISTING_LABELS = {
    "beam": "beam",
    "temp0.5": "temp0.5",
    "temp1": "temp1",
    "temp2": "temp2",
    "real10": "beam+real10",
    "retrain_real": "beam",  # its condition differs by protocol=retrain_real
}


def test_every_data_quality_option_has_a_distinct_condition():
    """Two options that generate differently must never share a label: the analysis pools
    runs by condition, so nucleus sampling labelled temp1 would be averaged with temp1."""
    conditions = {}
    for option in DATA_QUALITY:
        cfg = make_cfg(f"data_quality={option}")
        config.validate(cfg)
        if option in EXISTING_LABELS:
            assert config.data_quality_label(cfg) == EXISTING_LABELS[option], option
        conditions[option] = tuple(config.condition(cfg).items())
    assert len(set(conditions.values())) == len(conditions), conditions
    assert config.data_quality_label(make_cfg("data_quality=nucleus0.9")) == "nucleus0.9"


@pytest.mark.parametrize("mode", ["beam", "temp1", "nucleus0.9"])
def test_real10_composes_with_every_generation_mode(mode):
    cfg = make_cfg(f"data_quality=[{mode},real10]")
    assert config.data_quality_label(cfg) == f"{mode}+real10"


def test_run_id_counts_only_departures_from_the_schema_defaults():
    """A key added later with a default, or one an old config.yaml lacks, changes no
    run's identity; a value away from its default does."""
    cfg = make_cfg("data_quality=temp1")
    tree = config.resolved(cfg)
    assert tree["generate"]["repetition_penalty"] == 1.0  # the schema's default
    del tree["generate"]["repetition_penalty"]
    del tree["measure"]
    assert config.departures(tree) == {**config.identity(cfg), "T": 2}  # T: no identity
    assert "T" not in config.identity(cfg)
    assert config.identity(cfg)["generate"]["do_sample"] is True
    assert "runtime" not in config.identity(cfg) and "out_dir" not in config.identity(cfg)
    assert config.identity(cfg)["train"]["lr"] == 3e-4  # no default: always in
    assert config.departures({"families": {"a": {}}}) == {"families": {"a": {}}}


def test_a_run_dir_of_an_older_schema_still_matches(tmp_path):
    """config.yaml of a release without a key resumes; one with another value is refused."""
    import yaml

    from ecosys.rundir.store import RunStore

    cfg = make_cfg("data_quality=temp1")
    tree = config.resolved(cfg)
    del tree["generate"]["repetition_penalty"], tree["data_quality"]["retrain_real"]
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(tree))
    RunStore._check_same_config(tmp_path, cfg)
    tree["generate"]["top_k"] = 10
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(tree))
    with pytest.raises(config.ConfigError, match=r"generate\.top_k: 10 → default"):
        RunStore._check_same_config(tmp_path, make_cfg("data_quality=temp1", "generate.top_k=50"))


def test_enums_are_plain_strings_outside_the_config():
    cfg = make_cfg("model=tiny-llama")
    assert cfg.model.arch == "llama" and isinstance(cfg.model.arch, config.Arch)
    tree = config.resolved(cfg)
    assert type(tree["model"]["arch"]) is str and type(tree["train"]["mixed_precision"]) is str
