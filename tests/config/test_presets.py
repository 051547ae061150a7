"""Every experiment preset through the real CLI, shrunk to the synthetic world by the
overrides its own header documents (`# synthetic: …`) and to the smallest size (T = 2):
it composes, runs its whole grid, and the analysis draws its panels from the runs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import CONF, SMOKE, cli
from omegaconf import OmegaConf

from analysis.__main__ import main as analysis_main
from analysis.load import find_runs

pytestmark = pytest.mark.slow

PRESETS = sorted(p.stem for p in (CONF / "experiment").glob("*.yaml"))
MEASURE = ["measure.fresh_blocks=64", "measure.model_samples=16", "measure.js_blocks=4"]
GRID = {  # runs in each preset's synthetic grid: its sweep, less the axes the shrink and
    # EXTRA fix
    "base_on_pool": 1,
    "collapse_speed": 4,
    "community": 3,
    "curation": 5,
    "equal_steps": 8,
    "expansion": 2,
    "horizon_t20": 4,
    "identical_models": 2,
    "mixed_families": 2,
    "overfitting": 4,
    "primary": 4,
    "real_data_v2": 4,
    "regimes": 6,
    "retrain_real": 2,
    "scale_v1": 8,
    "seeds": 4,
    "size_class": 3,
    "temperature_v2": 6,
}
EXTRA = {  # the test world's blocks of 8; base_on_pool's one iteration (debug=smoke says T=2);
    # the two largest grids over two D values (their other axes whole), to keep CI short
    "community": ["communities.high.block_size=8", "communities.low.block_size=8"],
    "base_on_pool": ["data.block_size=8", "T=1"],
    "collapse_speed": ["diversity=d1,d2", "seed=0", "train.lr=1e-4,1e-3"],
    "curation": ["diversity=d2"],
    "regimes": ["diversity=d1,d2"],
    "scale_v1": ["diversity=d1,d2"],
    "temperature_v2": ["diversity=d1,d2"],
}


def synthetic_overrides(name: str) -> list[str]:
    """The overrides a preset's header gives for the synthetic world."""
    text = (CONF / "experiment" / f"{name}.yaml").read_text()
    lines = [ln for ln in text.splitlines() if ln.startswith("# synthetic:")]
    assert len(lines) == 1, f"{name}.yaml: its header must say how to run it synthetic"
    return lines[0].removeprefix("# synthetic:").split()


def rows(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def info(run: Path) -> dict:
    return json.loads((run / "run.json").read_text())


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory, cache_dir) -> Path:
    """A finished small run whose saved pool base_on_pool trains on."""
    out = tmp_path_factory.mktemp("source")
    cli(SMOKE, *MEASURE, f"out_dir={out}", f"cache_dir={cache_dir}")
    (run,) = find_runs(out)
    return run


def test_every_preset_is_tested_and_documented():
    assert sorted(GRID) == PRESETS
    for name in PRESETS:
        head = (CONF / "experiment" / f"{name}.yaml").read_text().splitlines()[0]
        assert head == "# @package _global_", name


@pytest.mark.parametrize("name", PRESETS)
def test_preset_runs_its_grid_on_the_synthetic_world(name, tmp_path, cache_dir, request):
    out = tmp_path / "runs"
    shrink = synthetic_overrides(name)
    if any("RUN" in a for a in shrink):  # a preset on a saved pool: only it makes the run
        run = request.getfixturevalue("finished_run")
        shrink = [a.replace("RUN", str(run)) for a in shrink]
    cli(
        f"experiment={name}",
        *shrink,
        SMOKE,
        *MEASURE,
        *EXTRA.get(name, []),
        f"out_dir={out}",
        f"cache_dir={cache_dir}",
    )
    runs = find_runs(out)
    assert len(runs) == GRID[name]
    assert all(info(r)["T"] == (1 if name == "base_on_pool" else 2) for r in runs)
    CHECKS.get(name, lambda runs: None)(runs)

    pdf = name == "primary"  # one preset's figures in PDF too (lens_panels' among them)
    fig = tmp_path / "fig"
    args = [str(out), "--reps", "20", "--out", str(fig), *([] if pdf else ["--no-pdf"])]
    assert analysis_main(args) == 0
    report = (fig / "report.md").read_text()
    figures = {p.stem for p in fig.glob("*.png")}
    assert {"d_opt", "trajectories", "mu_T", "distributions"} <= figures
    assert {p.stem for p in fig.glob("*.pdf")} == (figures if pdf else set())
    assert ("([pdf](" in report) == pdf  # the report links only the files written
    if pdf:
        assert "lens_panels" in figures
    if name != "base_on_pool":  # a saved pool has no known p_data
        assert {f.split("-")[0] for f in figures} >= {"exact"}  # one, or one per group
        assert "The synthetic world's exact measurements" in report
    if name == "equal_steps":
        assert "protocols" in figures
        assert "D_opt(T) by protocol" in report


def _steps(run: Path) -> set[int]:
    return {r["train/steps"] for r in rows(run) if r["scope"] == "model" and r["t"] >= 0}


def _equal_steps(runs: list[Path]) -> None:
    """Under equal_steps every model takes the steps of one model on all N; under the
    paper's epochs a D = 16 model takes fewer (1/16 of them, but for short last batches)."""
    steps = {(info(r)["condition"]["protocol"], info(r)["M"]): _steps(r) for r in runs}
    assert steps["equal_steps", 16] == steps["equal_steps", 1] == steps["paper", 1]
    (one,), (sixteen,) = steps["paper", 1], steps["paper", 16]
    assert sixteen < one


def _retrain_real(runs: list[Path]) -> None:
    by = {info(r)["condition"]["protocol"]: r for r in runs}
    assert not (by["retrain_real"] / "pools").exists()  # nothing generated, nothing pooled
    assert (by["paper"] / "pools").exists()


def _labels(key: str, *expected: tuple):
    """What each run's members are (their families, or their communities)."""

    def check(runs: list[Path]) -> None:
        got = sorted(tuple(mem[key] for mem in info(r)["members"]) for r in runs)
        assert got == sorted(expected)

    return check


def _sizes(runs: list[Path]) -> None:
    """expansion and identical_models: two models on half of N each (split, or both on
    segment 0), or both on all of N (whole)."""
    protocols = set()
    for r in runs:
        i = info(r)
        protocols.add(i["condition"]["protocol"])
        whole = i["condition"]["protocol"] == "segments_whole"
        assert i["sizes"] == [i["N"] if whole else i["N"] // i["M"]] * i["M"]
    assert protocols in ({"paper", "segments_same"}, {"segments_whole"})


def _regimes(runs: list[Path]) -> None:
    """At t = 1 a model trains on its pool share (replace), on its real set and that
    share (accumulate: 2 n_m blocks), or on n_m blocks drawn from those."""
    for r in runs:
        i, regime = info(r), info(r)["condition"]["regime"]
        n = i["sizes"][0]
        at = {x["t"]: x["train/examples"] for x in rows(r) if x["scope"] == "model" and x["t"] >= 0}
        assert at[0] == n and at[1] == (2 * n if regime == "accumulate" else n), regime
    assert {info(r)["condition"]["regime"] for r in runs} == {
        "replace",
        "accumulate",
        "accumulate_subsample",
    }


def _curation(runs: list[Path]) -> None:
    """Every option, each keeping its share of t = 0's generated blocks (degenerate: what
    passes its filter), and the pool back at every model's n_m blocks."""
    labels = {info(r)["condition"]["curation"]: r for r in runs}
    assert set(labels) == {
        "none",
        "oracle_keep50",
        "self_keep50",
        "surprise_keep50",
        "degenerate_share50",
    }
    for label, r in labels.items():
        (eco,) = [x for x in rows(r) if x["scope"] == "ecosystem" and x["t"] == 0]
        share = eco.get("curation/kept_share")
        assert (share is None) == (label == "none")
        if label.endswith("keep50"):
            assert share == 0.5
        at = {x["t"]: x["train/examples"] for x in rows(r) if x["scope"] == "model" and x["t"] >= 0}
        assert at[0] == at[1] == info(r)["sizes"][0]


def _collapse_speed(runs: list[Path]) -> None:
    """One run per (lr, D): the lr a run trained at is its config's."""
    got = sorted((OmegaConf.load(r / "config.yaml").train.lr, info(r)["M"]) for r in runs)
    assert got == [(1e-4, 1), (1e-4, 2), (1e-3, 1), (1e-3, 2)]


CHECKS = {
    "curation": _curation,
    "collapse_speed": _collapse_speed,
    "regimes": _regimes,
    "equal_steps": _equal_steps,
    "retrain_real": _retrain_real,
    "community": _labels("community", ("high", "low"), ("high", "low") * 2, ("high", "low") * 8),
    "mixed_families": _labels("family", ("tiny", "tiny"), ("tiny-llama", "tiny")),
    "expansion": _sizes,
    "identical_models": _sizes,
}
