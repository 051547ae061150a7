"""The collapse lenses on hand-made run dirs whose lens values are chosen so that each
lens's D_opt, direction and first move are known in advance."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from test_analysis import make_run

from analysis import lenses, load, stats, wandb_source
from analysis.__main__ import main as analysis_main

T = 4  # generation lenses exist at t = 0, 1, 2: their T reaches 3
PPL = {1: [20.0, 20.5, 23.0, 24.0], 2: [15.0] * T, 4: [10.0] * T}  # D_opt = 4 at every T
LENS = {  # key → D → per-t value (t = 0, 1, 2)
    # higher is less collapsed: D = 1 wins although perplexity prefers D = 4; at D = 1 it
    # moves −1% at t = 1 (inside ±5%), −10% at t = 2
    "pool/distinct_2": {1: [1.0, 0.99, 0.9], 2: [0.8] * 3, 4: [0.7] * 3},
    # lower is less collapsed: D = 4 wins (an argmax would pick D = 1); +50% at t = 1
    "pool/self_bleu": {1: [0.2, 0.3, 0.4], 2: [0.15] * 3, 4: [0.1] * 3},
    "lens/zipf": {1: [-1.0, -1.2, -1.5], 2: [-1.0] * 3, 4: [-1.0] * 3},  # plotted only
}


def lens_run(root: Path, D: int, seed: int, cross: bool = True) -> Path:
    """A run dir (make_run) whose metrics rows carry the lenses; a little per-seed noise."""
    noise = 0.001 * seed
    ppl = {-1: np.full(4, 30.0), **{t: [np.full(4, PPL[D][t])] * D for t in range(T)}}
    d = make_run(root, f"d{D}s{seed}", D, seed, ppl, T)
    rows = []
    for t in range(-1, T):
        models = [
            {"scope": "model", "t": t, "model": m, "ppl/mean": ppl[t][m].mean() if t >= 0 else 30}
            | ({k: v[D][t] + noise for k, v in LENS.items()} if 0 <= t < T - 1 else {})
            for m in range(D)
        ]
        eco = {"scope": "ecosystem", "t": t, "ppl/mean": models[0]["ppl/mean"]}
        eco |= {k: models[0][k] for k in LENS if k in models[0]}
        if t == -1:
            eco["lens/tail_share"] = 0.3  # the real training blocks'
        rows += [*models, eco]
    (d / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    if cross and D > 1:
        (d / "cross").mkdir()
        for t in range(T - 1):
            np.save(d / "cross" / f"t{t:02d}.npy", np.full((D, D), 5.0 + t) + np.eye(D))
    return d


@pytest.fixture
def one_seed(tmp_path):
    for D in PPL:
        lens_run(tmp_path / "runs", D, 0)
    return tmp_path / "runs"


def analysed(root: Path) -> lenses.Lenses:
    s = load.read(root)
    opt = stats.optimum(stats.aggregated(stats.ecosystem(s)))
    return lenses.analyse(s.rows, s.runs, opt, reps=200)


def test_directions_and_disagreement_with_perplexity(one_seed):
    res = analysed(one_seed)
    opt = res.opt.set_index(["lens", "T"])
    assert set(res.opt["lens"]) == {"pool/distinct_2", "pool/self_bleu"}  # zipf: no D_opt
    assert sorted(res.opt["T"].unique()) == [1, 2, 3]  # generations stop at t = T − 2
    for T_ in (1, 2, 3):
        assert opt.loc[("pool/distinct_2", T_), "D_opt"] == 1.0  # higher distinct wins
        assert opt.loc[("pool/self_bleu", T_), "D_opt"] == 4.0  # lower self-BLEU wins
        assert opt.loc[("pool/distinct_2", T_), "ppl_D_opt"] == 4.0
        assert not opt.loc[("pool/distinct_2", T_), "agrees"]
        assert opt.loc[("pool/self_bleu", T_), "agrees"]
        assert opt.loc[("pool/distinct_2", T_), "p"] == 1.0
    agg = res.agg.set_index(["lens", "D", "T"])["value"]
    assert agg[("pool/distinct_2", 1.0, 3)] == pytest.approx((1.0 + 0.99 + 0.9) / 3)


def test_which_lens_moves_first(one_seed):
    first = analysed(one_seed).first.set_index("lens")
    assert (first["D"] == 1.0).all() and (first["rule"] == "relative").all()  # M = 1, one seed
    assert first.loc["pool/self_bleu", "t"] == 1
    assert bool(first.loc["pool/self_bleu", "collapsing"]) is True
    assert first.loc["pool/distinct_2", "t"] == 2  # −1% at t = 1 stays inside ±5%
    assert first.loc["lens/zipf", "t"] == 1  # −20%, direction unstated
    assert first.loc["ppl/mean", "t"] == 2  # perplexity as the reference


def test_report_section_figure_and_one_seed_wording(one_seed, tmp_path, capsys):
    out = tmp_path / "out"
    assert analysis_main([str(one_seed), "--out", str(out), "--reps", "100"]) == 0
    printed = capsys.readouterr().out
    assert "run seed=0,1,2 (--multirun) to include run-to-run variation" in printed
    assert "DIFFERS" in printed
    report = (out / "report.md").read_text()
    section = report[report.index("## What collapses") :]
    assert "| distinct-2 (pool) | higher | 3 | 1 (1.00) | 4 | no; differs at T = 1, 2 |" in section
    assert "| self-BLEU (pool) | lower | 3 | 4 (1.00) | 4 | yes |" in section
    assert "Under distinct-2 (pool) (T = 1, 2, 3) the optimum differs from perplexity's" in section
    assert (
        "First to move at D = 1: self-BLEU (pool), Zipf slope at t = 1; perplexity μ_t at t = 2."
        in (section)
    )
    assert "(relative)" in section and "D_opt (P, given this seed)" in section
    # the perplexity verdict says it too
    assert "(probability 1.00, given this seed, that D = 4" in report
    assert "One seed (0): every interval and probability here is given this seed" in report
    assert "[95% interval, given this seed]" in report
    for ext, magic in (("png", b"\x89PNG"), ("pdf", b"%PDF")):
        assert (out / f"lenses.{ext}").read_bytes()[:4] == magic
    assert "](lenses.png)" in report


def test_three_seeds_drop_the_one_seed_wording(tmp_path, capsys):
    for D in PPL:
        for seed in range(3):
            lens_run(tmp_path / "runs", D, seed, cross=False)
    out = tmp_path / "out"
    assert (
        analysis_main([str(tmp_path / "runs"), "--out", str(out), "--reps", "100", "--no-pdf"]) == 0
    )
    assert "to include run-to-run variation" not in capsys.readouterr().out
    report = (out / "report.md").read_text()
    assert "given this seed" not in report and "One seed" not in report
    assert "(bootstrap)" in report and "(relative)" not in report
    assert (out / "lenses.png").exists()  # no cross matrices: lens panels only


def test_runs_without_lenses_have_no_section(tmp_path):
    for D in (1, 2):
        make_run(tmp_path / "runs", f"d{D}", D, 0, {-1: np.ones(2), 0: [np.full(2, 5.0)] * D}, 1)
    assert lenses.present(load.read(tmp_path / "runs").rows) == []
    out = tmp_path / "out"
    assert (
        analysis_main([str(tmp_path / "runs"), "--out", str(out), "--reps", "20", "--no-pdf"]) == 0
    )
    assert "What collapses" not in (out / "report.md").read_text()
    assert not (out / "lenses.png").exists()


def test_a_series_stops_at_the_first_missing_t():
    """A run that lacks the lens at t = 1 is read for t = 0 only: position k is t = k."""
    key = {"model": "x", "data": "y", "scale": "s", "data_quality": "q", "protocol": "p"}
    key |= {"regime": "replace", "curation": "none"}
    rows = pd.DataFrame(
        [
            {**key, "variant": "", "D": 1.0, "seed": 0, "run": "r", "scope": "model", "m": 0}
            | {"t": t, "lens/entropy": v}
            for t, v in [(0, 3.0), (1, None), (2, 2.0)]
        ]
    )
    v = lenses.values(rows, _lens("lens/entropy"))
    assert v[["t", "value"]].to_dict("records") == [{"t": 0, "value": 3.0}]


def test_cross_matrices_first_and_last_t_at_the_largest_d(one_seed):
    runs = load.read(one_seed).runs
    ((_, mats),) = lenses.cross_matrices(runs).items()
    assert [(s, t, m.shape) for s, t, m in mats] == [(0, 0, (4, 4)), (0, 2, (4, 4))]
    assert mats[1][2][0, 0] == 8.0
    assert lenses.cross_matrices(runs.assign(path="")) == {}  # W&B: no run dirs


def test_a_wandb_sweep_reads_its_lenses_per_model():
    """W&B logs each model's lens as <lens>/m{m}: read back per model, no cross matrices."""
    records = []
    for D, distinct in [(1, 0.9), (2, 0.5)]:
        config = {"run": f"d{D}", "D": D, "M": D, "seed": 0, "T": 2}
        config |= {"model": "tiny", "data": "synthetic", "scale": "tiny", "data_quality": "beam"}
        history = [
            {"t": t, "ppl/std": 1.0, **{f"ppl/m{m}": 10.0 for m in range(D)}}
            | {f"lens/tail_share/m{m}": distinct + 0.01 * m for m in range(D)}
            | {"lens/tail_share": distinct}
            for t in range(2)
        ]
        records.append((config, history))
    s = wandb_source.from_records(records)
    opt = stats.optimum(stats.aggregated(stats.ecosystem(s)))
    res = lenses.analyse(s.rows, s.runs, opt, reps=50)
    assert set(lenses.values(s.rows, _lens("lens/tail_share"))["m"]) == {0, 1}
    assert res.opt.set_index("T")["D_opt"].to_dict() == {1: 1.0, 2: 1.0}
    assert lenses.cross_matrices(s.runs) == {}


def _lens(key: str) -> lenses.Lens:
    (lens,) = [x for x in lenses.LENSES if x.key == key]
    return lens
