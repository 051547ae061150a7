"""The analysis formulas against values computed independently here, on hand-made run
dirs with known per-block perplexities (ties and a non-monotone D_opt included)."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from helpers import cli, cli_env, small_args

from analysis import bootstrap, load, stats, wandb_source
from analysis import sweep as sweep_mod
from analysis.__main__ import main as analysis_main


def make_run(root: Path, name: str, D: int, seed: int, ppl: dict, T: int, dq="beam") -> Path:
    """A run dir as the loop writes it: run.json, ecosystem rows, ppl arrays."""
    d = root / name
    (d / "ppl").mkdir(parents=True)
    info = {
        "name": name,
        "condition": {
            "model": "tiny",
            "data": "synthetic",
            "scale": "tiny",
            "data_quality": dq,
            "diversity": f"d{D}",
        },
        "D": float(D),
        "M": D,
        "seed": seed,
        "T": T,
    }
    (d / "run.json").write_text(json.dumps(info))
    rows = []
    for t, per_model in sorted(ppl.items()):
        for m in range(D):
            arr = per_model if t < 0 else per_model[m]
            np.save(d / "ppl" / (f"base.m{m:02d}.npy" if t < 0 else f"t{t:02d}.m{m:02d}.npy"), arr)
        rows.append({"scope": "ecosystem", "t": t})
    (d / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return d


def independent(ppl_by_t: dict, T: int):
    """μ_t, std and μ_T written out by hand, not with ecosys.measures.metrics."""
    mu_t = {
        t: sum(sum(a) / len(a) for a in arrs) / len(arrs) for t, arrs in ppl_by_t.items() if t >= 0
    }
    std = {}
    for t, arrs in ppl_by_t.items():
        if t < 0:
            continue
        flat = [x for a in arrs for x in a]
        mean = sum(flat) / len(flat)
        std[t] = (sum((x - mean) ** 2 for x in flat) / (len(flat) - 1)) ** 0.5
    mu_T = {k: sum(mu_t[t] for t in range(k)) / k for k in range(1, T + 1)}
    return mu_t, std, mu_T


@pytest.fixture
def sweep(tmp_path):
    rng = np.random.default_rng(0)
    T = 4
    runs = {}
    # μ_t designed so that: D=1 best at T=1, D=2 best at T=2 (tie with D=4 at T=3
    # broken to the smaller D), then D=1 again at T=4 (non-monotone).
    base = rng.uniform(20, 30, 6)
    targets = {1: [10, 30, 20, 2], 2: [12, 20, 24, 40], 4: [14, 18, 24, 40]}
    for D, mus in targets.items():
        ppl = {-1: base}
        for t, mu in enumerate(mus):
            # symmetric spreads of exactly representable values: each model's mean is exactly mu,
            # so ties between D values are real ties, not float noise
            spread = np.array([-2.0, -1.0, -0.5, 0.5, 1.0, 2.0])
            arrs = [mu + rng.permutation(spread) * rng.choice([0.5, 1.0, 2.0]) for _ in range(D)]
            ppl[t] = arrs
        runs[D] = (make_run(tmp_path, f"run_d{D}", D, 0, ppl, T), ppl)
    return tmp_path, runs, T


def test_block_table_is_tidy_and_complete(sweep):
    root, runs, T = sweep
    blocks = load.read(root).blocks
    assert set(blocks.columns) >= {
        "model",
        "data",
        "scale",
        "data_quality",
        "D",
        "seed",
        "m",
        "t",
        "block",
        "ppl",
    }
    # per D: (T iterations + the base) × M models × 6 blocks
    assert len(blocks) == sum((T + 1) * D * 6 for D in runs)


def test_statistics_equal_independent_computation(sweep):
    root, runs, T = sweep
    sweep = load.read(root)
    blocks = sweep.blocks
    eco = stats.ecosystem(sweep)
    agg = stats.aggregated(eco)
    for D, (_, ppl) in runs.items():
        mu_t, std, mu_T = independent(ppl, T)
        e = eco[(eco["D"] == D) & (eco["t"] >= 0)].set_index("t")
        for t in range(T):
            assert e.loc[t, "mu_t"] == pytest.approx(mu_t[t], rel=1e-12)
            assert e.loc[t, "std"] == pytest.approx(std[t], rel=1e-12)
        a = agg[agg["D"] == D].set_index("T")["mu_T"]
        for k in range(1, T + 1):
            assert a[k] == pytest.approx(mu_T[k], rel=1e-12)
        mm = stats.model_means(blocks)
        got = mm[(mm["D"] == D) & (mm["t"] == 0)]["mu_mt"].to_numpy()
        np.testing.assert_allclose(got, [np.mean(a) for a in ppl[0]])


def test_d_opt_with_ties_and_a_non_monotone_sequence(sweep):
    root, _, _ = sweep
    agg = stats.aggregated(stats.ecosystem(load.read(root)))
    opt = stats.optimum(agg).set_index("T")["D_opt"].to_dict()
    # μ_T by hand: D=1: 10, 20, 20, 15.5; D=2: 12, 16, 18.67, 24; D=4: 14, 16, 18.67, 24
    assert opt == {1: 1.0, 2: 2.0, 3: 2.0, 4: 1.0}


def test_seeds_are_averaged_before_the_argmin(tmp_path):
    T = 1
    for D, seed, mu in [(1, 0, 10), (1, 1, 30), (2, 0, 18), (2, 1, 18)]:
        arrs = [np.full(3, float(mu)) for _ in range(D)]
        make_run(tmp_path, f"d{D}s{seed}", D, seed, {-1: np.ones(3), 0: arrs}, T)
    agg = stats.aggregated(stats.ecosystem(load.read(tmp_path)))
    # D=1 averages to 20 over seeds, D=2 to 18, although seed 0 alone favours D=1
    assert stats.optimum(agg)["D_opt"].tolist() == [2.0]


def test_partial_sweeps_are_reported_and_analysed(sweep, capsys):
    root, runs, _ = sweep
    d = runs[4][0]
    info = json.loads((d / "run.json").read_text())
    info["T"] = 10
    (d / "run.json").write_text(json.dumps(info))
    assert analysis_main([str(root), "--no-report", "--reps", "50"]) == 0
    out = capsys.readouterr().out
    assert "run_d4 has 4 of 10 iterations" in out
    assert "D_opt" in out


def test_run_dirs_are_found_by_folder_or_glob(sweep):
    root, runs, _ = sweep
    everything = load.find_runs(root)
    assert everything == sorted(d for d, _ in runs.values())
    assert load.find_runs(str(root / "run_d[12]")) == [runs[1][0], runs[2][0]]
    assert load.find_runs(runs[4][0]) == [runs[4][0]]


def test_no_runs_is_a_clear_error(tmp_path, capsys):
    assert analysis_main([str(tmp_path)]) == 1
    assert "no run dirs" in capsys.readouterr().err


def test_bootstrap_interval_matches_the_standard_error_of_a_mean(tmp_path):
    """One model, one seed, T = 1, iid blocks: the bootstrap's spread of μ_1 is the
    standard error σ/√B of a mean, and its interval covers the estimate."""
    rng = np.random.default_rng(1)
    blocks = rng.normal(50.0, 10.0, size=400)
    make_run(tmp_path, "one", 1, 0, {-1: np.ones(400), 0: [blocks]}, T=1)
    intervals, p_opt = bootstrap.bootstrap(load.read(tmp_path), reps=4000, seed=0)
    (row,) = intervals.to_dict("records")
    se = blocks.std(ddof=1) / np.sqrt(len(blocks))
    assert row["lo"] < blocks.mean() < row["hi"]
    assert (row["hi"] - row["lo"]) / (2 * 1.96) == pytest.approx(se, rel=0.08)
    assert p_opt["p"].tolist() == [1.0]


def test_bootstrap_probabilities_sum_to_one_and_repeat_with_the_seed(sweep):
    root, _, T = sweep
    s = load.read(root)
    intervals, p_opt = bootstrap.bootstrap(s, reps=300, seed=5)
    again, p_again = bootstrap.bootstrap(s, reps=300, seed=5)
    pd.testing.assert_frame_equal(intervals, again)
    pd.testing.assert_frame_equal(p_opt, p_again)
    assert np.allclose(p_opt.groupby("T")["p"].sum(), 1.0)
    point = stats.aggregated(stats.ecosystem(s)).set_index(["D", "T"])["mu_T"]
    for r in intervals.itertuples():
        assert r.lo <= point[(r.D, r.T)] <= r.hi
    assert sorted(p_opt["T"].unique()) == list(range(1, T + 1))


def test_identical_ecosystems_tie_to_the_smaller_d_in_every_replicate(tmp_path):
    """A paired bootstrap: the same resampled blocks for every D, so identical data
    ties exactly in every replicate (and the tie goes to the smaller D)."""
    arr = np.random.default_rng(2).uniform(10, 30, 50)
    for d in (1, 2):
        make_run(tmp_path, f"d{d}", d, 0, {-1: arr, 0: [arr] * d, 1: [arr] * d}, T=2)
    _, p_opt = bootstrap.bootstrap(load.read(tmp_path), reps=200)
    assert p_opt.set_index(["T", "D"])["p"].to_dict() == {
        (1, 1.0): 1.0,
        (1, 2.0): 0.0,
        (2, 1.0): 1.0,
        (2, 2.0): 0.0,
    }


def test_seed_resampling_spans_the_seeds(tmp_path):
    for seed, mu in [(0, 10.0), (1, 30.0)]:
        make_run(tmp_path, f"s{seed}", 1, seed, {-1: np.ones(2), 0: [np.full(2, mu)]}, T=1)
    intervals, _ = bootstrap.bootstrap(load.read(tmp_path), reps=500)
    (row,) = intervals.to_dict("records")
    assert row["lo"] == 10.0 and row["hi"] == 30.0  # a quarter of replicates draw one seed twice


@pytest.mark.parametrize(
    ("d_opt", "violations"),
    [
        ({1: 1, 2: 2, 3: 2, 4: 16}, []),
        ({1: 1, 2: 4, 3: 2}, [3]),
        ({1: 2, 2: 1, 3: 4, 4: 1}, [2, 4]),
    ],
)
def test_eq6_monotonicity(d_opt, violations):
    assert stats.monotone(d_opt) == violations


def test_report_and_figures_are_written(sweep, tmp_path):
    root, _, _ = sweep
    out = tmp_path / "out"
    assert analysis_main([str(root), "--out", str(out), "--reps", "100"]) == 0
    report = (out / "report.md").read_text()
    assert "## tiny · synthetic · tiny · beam" in report
    assert "**D_opt(T)**" in report and "D_opt (P)" in report
    assert "against the paper's Eq. 6" in report  # the sweep's D_opt falls at T = 4
    assert "the diversity whose perplexity aggregated" in report
    for name in ("d_opt", "trajectories", "mu_T", "distributions"):
        assert (out / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert (out / f"{name}.pdf").read_bytes()[:5] == b"%PDF-"
        assert f"]({name}.png)" in report


def test_missing_seeds_are_named(tmp_path):
    for d, seed in [(1, 0), (1, 1), (2, 0)]:
        arrs = [np.full(2, 5.0)] * d
        make_run(tmp_path, f"d{d}s{seed}", d, seed, {-1: np.ones(2), 0: arrs}, T=1)
    assert load.read(tmp_path).missing() == [
        "tiny/synthetic/tiny/beam/paper D=2: no run for seed(s) [1]"
    ]


def test_variant_is_what_differs_and_the_labels_do_not_explain():
    """train.lr splits runs that share their labels; generate.temperature goes with
    data_quality; seed, T, D's makings and run-time keys never split; a key an older
    run lacks is null there; a run without a config has no say and no variant."""
    beam, temp = (
        ("tiny", "synthetic", "tiny", "beam", "paper", "replace", "none"),
        ("tiny", "synthetic", "tiny", "temp0.7", "paper", "replace", "none"),
    )
    flat = [
        {"train.lr": 1e-4, "generate.temperature": 1.0, "train.min_lr": 0.0, "seed": 0},
        {"train.lr": 3e-4, "generate.temperature": 1.0, "train.min_lr": 0, "seed": 1},
        {"train.lr": 1e-4, "generate.temperature": 0.7, "T": 5, "diversity.m": 4},
        {"generate.temperature": 0.7, "runtime.threads": 2, "out_dir": "elsewhere"},
    ]
    configs = [sweep_mod.settings(f) for f in flat] + [None]
    labels = [beam, beam, temp, temp, beam]
    assert sweep_mod.variant_keys(labels, configs) == ["train.lr"]
    rows = sweep_mod.with_variant(
        [dict(zip(sweep_mod.LABELS, lab, strict=True)) for lab in labels], configs
    )
    assert [r["variant"] for r in rows] == [
        "train.lr=1e-4",
        "train.lr=3e-4",
        "train.lr=1e-4",
        "train.lr=null",
        "",
    ]
    assert sweep_mod.name((*beam, rows[0]["variant"])) == (
        "tiny · synthetic · tiny · beam · paper · train.lr=1e-4"
    )
    assert sweep_mod.name((*beam, "")) == "tiny · synthetic · tiny · beam · paper"
    # one config, or configs that agree: no variant
    assert sweep_mod.variant_keys([beam, beam], [configs[0], dict(configs[0])]) == []


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (1e-4, "1e-4"),
        (2.5e-4, "2.5e-4"),
        (0.7, "0.7"),
        (0.0, "0"),
        (0, "0"),
        (100.0, "100"),
        (True, "true"),
        (None, "null"),
        ([0.5, 0.25], "[0.5,0.25]"),
        ({"a": 1, "b": [1, 2]}, "{a:1,b:[1,2]}"),
        ("beam", "beam"),
    ],
)
def test_config_values_read_as_overrides(value, text):
    assert sweep_mod.value_text(value) == text


def write_config(run_dir: Path, config: dict) -> None:
    (run_dir / "config.yaml").write_text(yaml.safe_dump(config))


def test_run_dirs_that_differ_in_a_key_are_two_conditions(tmp_path, capsys):
    """Two lr × two D at one seed: two conditions of two runs, never four runs of one."""
    for lr, mus in [(1e-4, {1: 10.0, 2: 20.0}), (3e-4, {1: 30.0, 2: 15.0})]:
        for d, mu in mus.items():
            run = make_run(
                tmp_path, f"lr{lr:g}_d{d}", d, 0, {-1: np.ones(2), 0: [np.full(2, mu)] * d}, T=1
            )
            write_config(
                run, {"seed": 0, "train": {"lr": lr}, "diversity": {"m": d, "shares": None}}
            )
    s = load.read(tmp_path)
    assert sorted(s.runs["variant"].unique()) == ["train.lr=1e-4", "train.lr=3e-4"]
    assert s.missing() == []
    opt = stats.optimum(stats.aggregated(stats.ecosystem(s)))
    assert opt.set_index("variant")["D_opt"].to_dict() == {
        "train.lr=1e-4": 1.0,
        "train.lr=3e-4": 2.0,
    }
    assert analysis_main([str(tmp_path), "--no-report", "--reps", "20"]) == 0
    out = capsys.readouterr().out
    assert (
        "=== tiny · synthetic · tiny · beam · paper · train.lr=1e-4  (2 runs, seeds 0) ===" in out
    )
    assert (
        "=== tiny · synthetic · tiny · beam · paper · train.lr=3e-4  (2 runs, seeds 0) ===" in out
    )


def test_runs_the_condition_cannot_tell_apart_are_named(tmp_path):
    for name in ("a", "b"):
        make_run(tmp_path, name, 1, 0, {-1: np.ones(2), 0: [np.full(2, 5.0)]}, T=1)
    assert load.read(tmp_path).missing() == [
        "tiny/synthetic/tiny/beam/paper D=1: 2 runs of seed 0, averaged as replicates (a, b)"
    ]


@pytest.mark.slow
def test_a_two_key_sweep_is_one_condition_per_value_of_the_other_key(tmp_path, cache_dir, capsys):
    """The real CLI, `--multirun train.lr=1e-4,3e-4 diversity=d1,d2`: run dirs and W&B's
    offline files alike read as two conditions of two runs (D = 1, 2), each with its
    D_opt(T)."""
    sweep_dir = tmp_path / "sweep"
    wandb = ["tracking=wandb", "tracking.mode=offline"]
    cli(
        "--multirun",
        "train.lr=1e-4,3e-4",
        "diversity=d1,d2",
        *small_args(sweep_dir, cache_dir, "T=1", *wandb),
    )
    for s in (
        load.read(sweep_dir),
        wandb_source.from_records(wandb_source.offline_records(sweep_dir)),
    ):
        runs = s.runs.groupby("variant")
        assert runs["D"].apply(sorted).to_dict() == {
            "train.lr=1e-4": [1.0, 2.0],
            "train.lr=3e-4": [1.0, 2.0],
        }
        assert runs["seed"].apply(set).to_dict() == {"train.lr=1e-4": {0}, "train.lr=3e-4": {0}}
        opt = stats.optimum(stats.aggregated(stats.ecosystem(s)))
        assert sorted(opt["variant"]) == ["train.lr=1e-4", "train.lr=3e-4"]  # T = 1: a row each
        assert s.missing() == []
    assert (
        analysis_main([str(sweep_dir), "--out", str(tmp_path / "rep"), "--reps", "20", "--no-pdf"])
        == 0
    )
    out = capsys.readouterr().out
    for lr in ("1e-4", "3e-4"):
        assert f"tiny · synthetic · tiny · beam · paper · train.lr={lr}  (2 runs, seeds 0)" in out
        assert (
            f"## tiny · synthetic · tiny · beam · paper · train.lr={lr}"
            in (tmp_path / "rep" / "report.md").read_text()
        )


def test_the_analysis_imports_no_torch_and_plots_only_to_draw():
    """What `python -m analysis` imports before its first table: neither the training
    stack (torch, transformers) nor the plotting one (matplotlib, seaborn)."""
    code = (
        "import sys, analysis.__main__, analysis.publish;"
        " print(sorted(m for m in ('torch', 'transformers', 'matplotlib', 'seaborn')"
        " if m in sys.modules))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=cli_env(), check=True
    )
    assert proc.stdout.strip() == "[]"


def test_conditions_sort_by_label_order_then_by_the_variant_as_numbers():
    base = ("tiny", "synthetic", "tiny", "beam", "paper")
    conds = [
        (*base, "replace", "none", "train.lr=1e-3"),
        (*base, "replace", "none", "train.lr=3e-5"),
        (*base, "accumulate", "none", "train.lr=1e-4"),
        (*base, "replace", "self_keep50", "train.lr=1e-4"),
        (*base, "replace", "none", "train.lr=1e-4"),
        (*base, "replace", "none", "train.lr=null"),
    ]
    assert sorted(conds, key=sweep_mod.condition_key) == [
        (*base, "replace", "none", "train.lr=3e-5"),
        (*base, "replace", "none", "train.lr=1e-4"),
        (*base, "replace", "none", "train.lr=1e-3"),
        (*base, "replace", "none", "train.lr=null"),  # not a number: after the numbers
        (*base, "replace", "self_keep50", "train.lr=1e-4"),  # curation: none first
        (*base, "accumulate", "none", "train.lr=1e-4"),  # regime: replace first
    ]
