"""bf16, the GPU default, run on the CPU: the same code paths (bf16 weights, Accelerate's
bf16 autocast, bf16 checkpoints, every metric's conversion to numpy) end to end, with
results finite and close to float32's."""

from __future__ import annotations

import math

import pytest
import torch
from helpers import cli, only_run_dir, small_args
from safetensors.torch import load_file

from ecosys.rundir.layout import read_metrics

pytestmark = pytest.mark.slow

BF16 = ("model.dtype=bfloat16", "train.mixed_precision=bf16")
FP32 = ("model.dtype=float32", "train.mixed_precision=no")
# Two models: the cross-model matrix and the Jensen–Shannon divergence run too.
RUN = ("diversity=d2",)


def _run(tmp_path, cache_dir, name: str, *overrides: str):
    out = tmp_path / name
    cli(*small_args(out, cache_dir, *RUN, *overrides))
    run = only_run_dir(out)
    return run, read_metrics(run)


def test_bf16_runs_end_to_end_on_the_cpu_close_to_fp32(tmp_path, cache_dir):
    run, bf16 = _run(tmp_path, cache_dir, "bf16", *BF16)
    _, fp32 = _run(tmp_path, cache_dir, "fp32", *FP32)

    ckpts = sorted((run / "ckpt").glob("*.safetensors"))
    assert ckpts  # the weights it trained are bf16 ones
    assert {v.dtype for c in ckpts for v in load_file(c).values()} == {torch.bfloat16}
    assert len(bf16) == len(fp32)
    for b, f in zip(bf16, fp32, strict=True):
        assert (b["t"], b["scope"], b.get("model")) == (f["t"], f["scope"], f.get("model"))
        for key, value in f.items():
            if isinstance(value, float) and math.isfinite(value):
                assert math.isfinite(b[key]), (key, b["t"], b[key])

    eco = {
        p: {r["t"]: r for r in rows if r["scope"] == "ecosystem"}
        for p, rows in (("bf16", bf16), ("fp32", fp32))
    }
    # bf16 keeps 8 bits of mantissa (0.4% per value); means over blocks land far closer:
    # measured 0.01% at t = -1, 0.1% at t = 0, 1. The bound leaves room, not slack:
    # fine-tuning itself moves μ by 1.7%.
    for t, row in eco["fp32"].items():
        assert eco["bf16"][t]["ppl/mean"] == pytest.approx(row["ppl/mean"], rel=0.01), t
        if t >= 0:
            assert eco["bf16"][t]["ppl/mu_T"] == pytest.approx(row["ppl/mu_T"], rel=0.01), t
            assert eco["bf16"][t]["train/loss"] == pytest.approx(row["train/loss"], rel=0.01), t
    # fine-tuning moves μ as far in bf16 as in fp32: bf16 weights round an update smaller
    # than 2^-8 of the weight away, which at this lr (3e-4) costs little
    moved = {p: e[0]["ppl/mean"] - e[-1]["ppl/mean"] for p, e in eco.items()}
    assert moved["fp32"] < 0 and moved["bf16"] == pytest.approx(moved["fp32"], rel=0.25), moved
