"""The data regime as a condition label and the regimes compared, on hand-made run dirs:
three regimes × D = 1, 2, T = 4, one seed; replace collapses at D = 1, accumulate stays
flat, accumulate_subsample drifts in between."""

import json
import re
from pathlib import Path

import numpy as np
import pytest
import yaml
from test_analysis import make_run

from analysis import compare, load, stats, wandb_source
from analysis.__main__ import main as analysis_main
from analysis.sweep import CONDITION
from analysis.tables import Condition

T = 4
MU = {  # regime → D → μ_t for t = 0 … 3
    "replace": {1: [10, 20, 40, 80], 2: [12, 15, 18, 22]},
    "accumulate_subsample": {1: [10, 12, 14, 16], 2: [12, 13, 13.5, 14]},
    "accumulate": {1: [10, 10.2, 10.1, 10.3], 2: [12, 12, 12.1, 12.2]},
}
PAPER = "tiny · synthetic · tiny · beam · paper"


def regime_run(root: Path, regime: str | None, D: int, mus: list[float], **labels) -> Path:
    """A run dir whose run.json names `regime` (None: an older run, without the label)."""
    rng = np.random.default_rng(D)
    spread = np.array([-2.0, -1.0, -0.5, 0.5, 1.0, 2.0]) * 0.02  # ±4% of μ, mean exactly μ
    ppl = {-1: np.full(6, 9.0)}
    for t, mu in enumerate(mus):
        ppl[t] = [mu * (1 + rng.permutation(spread)) for _ in range(D)]
    name = f"{regime or 'old'}_{'_'.join(labels.values())}_d{D}"
    run = make_run(root, name, D, 0, ppl, T)
    info = json.loads((run / "run.json").read_text())
    info["condition"] |= labels | ({"regime": regime} if regime else {})
    (run / "run.json").write_text(json.dumps(info))
    return run


@pytest.fixture
def regimes(tmp_path) -> Path:
    """The replace runs are older runs: no regime label, read as replace."""
    for regime, by_d in MU.items():
        for d, mus in by_d.items():
            regime_run(tmp_path / "runs", None if regime == "replace" else regime, d, mus)
    return tmp_path / "runs"


def test_runs_without_the_label_are_replace_and_regimes_are_conditions(regimes):
    s = load.read(regimes)
    assert sorted(s.runs["regime"].unique()) == sorted(MU)
    assert s.runs.groupby("regime")["D"].apply(sorted).to_dict() == {r: [1.0, 2.0] for r in MU}
    assert s.missing() == []


def test_wandb_configs_read_the_regime_key_and_default_to_replace():
    """W&B runs carry `regime` as a top-level config key; older ones lack it."""

    def record(run: str, D: int, **extra) -> tuple[dict, list[dict]]:
        config = {"run": run, "D": D, "M": 1, "seed": 0, "T": 1, "train.lr": 1e-4, **extra}
        return config, [{"t": 0, "ppl/m0": 10.0 * D, "ppl/std": 1.0}]

    s = wandb_source.from_records(
        [
            record("old", 1),
            record("new", 2, regime="replace"),
            record("acc", 1, regime="accumulate"),
        ]
    )
    assert s.runs.set_index("run")["regime"].to_dict() == {
        "old": "replace",
        "new": "replace",
        "acc": "accumulate",
    }
    assert set(s.runs["variant"]) == {""}


def test_a_recorded_replace_is_an_older_run_s_replace(tmp_path):
    """run.json's regime=replace and a regime key in config.yaml (new) against neither
    (old): one condition, no variant."""
    old = regime_run(tmp_path, None, 1, MU["replace"][1])
    new = regime_run(tmp_path, "replace", 2, MU["replace"][2])
    (old / "config.yaml").write_text(yaml.safe_dump({"seed": 0, "train": {"lr": 1e-4}}))
    (new / "config.yaml").write_text(
        yaml.safe_dump({"seed": 0, "train": {"lr": 1e-4}, "regime": "replace"})
    )
    runs = load.read(tmp_path).runs
    assert runs[["regime", "variant"]].drop_duplicates().values.tolist() == [["replace", ""]]


def test_d_opt_and_verdict_per_regime(regimes):
    s = load.read(regimes)
    eco = stats.ecosystem(s)
    agg = stats.aggregated(eco)
    opt = stats.optimum(agg)
    assert stats.axis_groups(opt, agg, "protocol") == []
    ((key, g),) = stats.axis_groups(opt, agg, "regime")
    assert key[CONDITION.index("regime")] is None  # the regime is what the group varies
    aggs, opts, tables = dict(list(agg.groupby(CONDITION))), dict(list(opt.groupby(CONDITION))), {}
    for c, e in eco.groupby(CONDITION):
        a, o = aggs[c], opts[c]
        tables[c] = Condition(
            runs=s.runs,
            eco=e,
            agg=a,
            opt=o,
            # what the bootstrap would give: here, certainty
            p_opt=o.rename(columns={"D_opt": "D"}).assign(p=1.0),
            intervals=a.assign(lo=a["mu_T"] - 1, hi=a["mu_T"] + 1),
            world=None,
        )
    fared = {a.value: a for a in compare.fare("regime", g, tables)}
    assert list(fared) == ["replace", "accumulate_subsample", "accumulate"]
    assert fared["replace"].d_opt == {1: 1.0, 2: 2.0, 3: 2.0, 4: 2.0}
    assert fared["accumulate"].d_opt == {1: 1.0, 2: 1.0, 3: 1.0, 4: 1.0}
    assert [compare.collapse(fared[r])[0] for r in MU] == ["collapse", "drift", "no collapse"]
    assert [compare.trend(fared[r])[0] for r in MU] == ["grows", "flat", "flat"]
    assert fared["replace"].growth[1.0] == pytest.approx(8.0)
    assert fared["accumulate"].spread < 0.25 * fared["replace"].spread


def test_report_section_figure_and_printout(regimes, tmp_path, capsys):
    out = tmp_path / "out"
    assert analysis_main([str(regimes), "--out", str(out), "--reps", "200"]) == 0
    printed = capsys.readouterr().out
    report = (out / "report.md").read_text()
    # the per-condition sections: replace's name as before the label, the others named
    for heading in (PAPER, f"{PAPER} · accumulate", f"{PAPER} · accumulate_subsample"):
        assert f"\n## {heading}\n" in report
    section = report[report.index(f"## Data regimes compared: {PAPER}\n") :]
    section = section[: section.index("\n## ", 1)]
    # μ_T at T = 4 with its interval, per regime and D
    for regime in MU:
        row = re.search(rf"^\| {regime} \|(.*)$", section, re.M)
        assert row and len(re.findall(r"\d[\d.,]* \[\d[\d.,]*, \d[\d.,]*\]", row[1])) == 2
    assert "**μ_T at T = 4**" in section and "[95% interval, given this seed]" in section
    # D_opt(T) side by side, with its probability
    assert re.search(r"^\| replace \| 1 \(\d\.\d\d\) \| 2 \(\d\.\d\d\) \| 2 ", section, re.M)
    assert re.search(
        r"^\| accumulate \| 1 \(\d\.\d\d\) \| 1 \(\d\.\d\d\) \| 1 \(\d\.\d\d\) \| 1 \(",
        section,
        re.M,
    )
    assert "- **replace**: D = 1's μ_t grows 8× from t = 0 to 3 — collapse" in section
    assert "D_opt(T) grows with T: D = 1 at T = 1 → D = 2 at T = 4" in section
    assert "- **accumulate**: D = 1's μ_t stays within 3% of t = 0" in section
    assert "— no collapse within T = 4" in section
    assert "- **accumulate_subsample**: D = 1's μ_t grows 1.6× from t = 0 to 3 — a drift" in section
    assert "D_opt(T) stays at D = 1 for every T ≤ 4: it does not grow" in section
    # whether diversity still matters, against replace's spread of μ_T across D
    assert "Diversity matters (the 95% intervals of the best D, 2, and the worst, 1," in section
    assert "Diversity still matters (" in section and "less than under replace" in section
    assert "No difference across D is resolved (" in section
    assert "spans 19% across D against replace's 124%" in section
    assert "given this seed" in section and "One seed (0)" in section
    for ext, magic in (("png", b"\x89PNG\r\n\x1a\n"), ("pdf", b"%PDF-")):
        assert (out / f"regimes.{ext}").read_bytes()[: len(magic)] == magic
    assert "](regimes.png)" in report
    assert f"Data regimes compared: {PAPER} (T = 4, given this seed)" in printed
    assert re.search(r"replace +D=1 μ_t ×8 t=0→3: collapse · D_opt\(T\) 1 2 2 2: grows", printed)
    assert re.search(r"accumulate +D=1 μ_t ×1.03 t=0→3: no collapse · D_opt\(T\) 1 1 1 1", printed)


def test_one_regime_has_no_section(tmp_path, capsys):
    for d, mus in MU["accumulate"].items():
        regime_run(tmp_path / "runs", "accumulate", d, mus)
    assert (
        analysis_main(
            [str(tmp_path / "runs"), "--out", str(tmp_path / "out"), "--reps", "50", "--no-pdf"]
        )
        == 0
    )
    report = (tmp_path / "out" / "report.md").read_text()
    assert f"## {PAPER} · accumulate\n" in report
    assert "Data regimes compared" not in report and "Data regimes" not in capsys.readouterr().out
    assert not (tmp_path / "out" / "regimes.png").exists()


def test_protocols_are_still_compared(tmp_path):
    """The same comparison along the protocol: its section and figure as before."""
    for protocol, by_d in [("paper", MU["replace"]), ("equal_steps", MU["accumulate"])]:
        for d, mus in by_d.items():
            regime_run(tmp_path / "runs", None, d, mus, protocol=protocol)
    out = tmp_path / "out"
    assert (
        analysis_main([str(tmp_path / "runs"), "--out", str(out), "--reps", "50", "--no-pdf"]) == 0
    )
    report = (out / "report.md").read_text()
    assert "## D_opt(T) by protocol: tiny · synthetic · tiny · beam\n" in report
    assert re.search(r"^\| equal_steps \| 1 \(\d\.\d\d\) \| 1 ", report, re.M)
    assert "Data regimes compared" not in report
    assert (out / "protocols.png").exists() and "](protocols.png)" in report


@pytest.mark.parametrize(
    ("growth", "word"),
    [
        (1.05, "no collapse"),
        (0.95, "no collapse"),
        (0.5, "no collapse"),
        (1.5, "drift"),
        (2.0, "collapse"),
        (35.0, "collapse"),
    ],
)
def test_collapse_thresholds(growth, word):
    arm = compare.Arm("x", 10, {1.0: growth}, None, {1: 1.0}, 1.0, [0])
    assert compare.collapse(arm)[0] == word


def test_a_ragged_arm_is_compared_at_the_T_every_d_of_every_arm_reached(tmp_path, capsys):
    """replace's D = 2 stops at T = 2: the regimes compare at T = 2, not at D = 1 alone."""
    for regime in ("replace", "accumulate"):
        for d, mus in MU[regime].items():
            short = regime == "replace" and d == 2
            regime_run(tmp_path / "runs", regime, d, mus[:2] if short else mus)
    out = tmp_path / "out"
    assert (
        analysis_main([str(tmp_path / "runs"), "--out", str(out), "--reps", "50", "--no-pdf"]) == 0
    )
    section = (out / "report.md").read_text().split(f"## Data regimes compared: {PAPER}\n")[1]
    assert "**μ_T at T = 2**" in section
    assert re.search(r"^\| replace \| 1 \(\d\.\d\d\) \| 2 \(\d\.\d\d\) \|$", section, re.M)
    said = "- **replace**: D = 1's μ_t grows 2× from t = 0 to 1 — collapse (D = 2: ×1.25)"
    assert said in section
    assert f"Data regimes compared: {PAPER} (T = 2, given this seed)" in capsys.readouterr().out
