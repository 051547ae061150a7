"""The paper's size class: SmolLM2-135M (model=smollm2-135m) in each phase against the
plain code, a whole iteration's phase split at M = 1 and M = 4 with its peak RSS, and
from those rates a projection of the paper's primary grid onto one GPU.

On the CPU the rows run few, short prompts (each row says what it ran); on a GPU the
same command runs the paper's shapes."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

import torch
from accelerate import Accelerator

from bench.harness import ROOT, Table, compose_cfg
from bench.rows import bench_evaluate, bench_generate, bench_train
from ecosys.data import corpus
from ecosys.models import base, hf

WIKI = Path(ROOT).parent / "shared" / "data" / "wikitext-2"
FILES = ["data=files"] + (
    [f"data.{s}={WIKI / f'{s}.txt'}" for s in ("train", "valid", "test")]
    if (WIKI / "train.txt").exists()
    else []  # data=files' own default: $ECOSYS_DATA/wikitext-2
)
MODEL = "smollm2-135m"

# The paper's primary grid (DESIGN.md §1; Hodel & West): N = 7,528 blocks of 128 (2/5 of
# WikiText-2 train with GPT-2's BPE; SmolLM2's BPE gives a similar count), ~1,900
# validation and ~2,200 test blocks, 5 epochs, T = 10, D = 1, 2, 4, 16, two models.
PAPER = dict(N=7528, valid=1900, test=2200, block=128, epochs=5, T=10, D=(1, 2, 4, 16), models=2)
# What the projection assumes a GPU does over these 2 CPU cores (AVX2, ~80 GFLOP/s
# measured in training): an H100 at ~100 TFLOP/s effective (bf16, a 135M model at
# batch 16 × 128: ~10% of peak) on the matmul-bound phases; beam search at small batch
# is latency-bound, where a GPU gains less.
GPU_RATIO = {"train": 1000.0, "evaluate": 1000.0, "generate": 100.0}


def smollm2(device: torch.device) -> tuple[torch.nn.Module, torch.Tensor]:
    """The converted model (cached as a run caches it) and WikiText-2 test blocks of 128."""
    cfg = compose_cfg(f"model={MODEL}", *FILES)
    path = base.locate(cfg, cfg.model)
    model = hf.load(path, torch.float32).to(device).eval()
    blocks = corpus.load(cfg, tokenizer=hf.load_tokenizer(path)).test
    return model, torch.as_tensor(blocks[:256], device=device)


def bench(table: Table, compile: bool, gpu: bool) -> dict[str, float]:
    """The rows, and the measured rates the projection takes (tokens per second)."""
    device = torch.device("cuda" if gpu else "cpu")
    acc = Accelerator(cpu=not gpu)
    model, blocks = smollm2(device)
    n, length = (32, 128) if gpu else (4, 32)
    prompts = blocks[:n, :length]
    bench_generate(table, MODEL, model, prompts, n, compile=False)
    tcfg = compose_cfg(f"model={MODEL}", "train.epochs=1", "train.batch_size=8").train
    n_train = 64 if gpu else 8
    bench_train(
        table,
        f"{MODEL} M=1",
        model,
        [blocks[:n_train]],
        blocks[n_train : n_train + 8],
        tcfg,
        acc,
        ("", "compiled") if compile else ("",),
    )
    bench_evaluate(table, MODEL, model, blocks[: 256 if gpu else 16], 16, acc, compile=False)
    rates = {
        "generate": _rate(table, f"generate beam5 {MODEL}"),
        "train": _rate(table, f"train {MODEL} M=1"),
        "evaluate": _rate(table, f"evaluate {MODEL}"),
    }
    rates["generate_prompt_len"] = length
    del model
    for diversity in ("d1", "d4"):
        seconds, peak = iteration(diversity)
        table.add(
            f"iteration {MODEL} {diversity} t=0",
            seconds["iteration"],
            seconds["iteration"],
            "s",
            peak_rss_mib=peak,
            **{k: round(v, 1) for k, v in seconds.items() if k != "iteration"},
        )
    return rates


def _rate(table: Table, name: str) -> float:
    return next(r["ecosys"] for r in table.rows if r["name"] == name)


def iteration(diversity: str) -> tuple[dict[str, float], float]:
    """Seconds of iteration t = 0 per phase, and the run's peak RSS (MiB), of a run at
    N = 8 blocks of 128, 1 epoch, 4 validation and 8 test blocks, in its own process."""
    with tempfile.TemporaryDirectory() as tmp:
        args = [
            f"model={MODEL}",
            *FILES,
            f"diversity={diversity}",
            "T=2",
            "scale.max_blocks=8",
            "scale.max_valid_blocks=4",
            "scale.max_test_blocks=8",
            "train.epochs=1",
            "tracking=none",
            "runtime.progress=false",
            f"out_dir={tmp}",
        ]
        # the run in a child that reports its own peak RSS (ru_maxrss, KiB on Linux)
        code = (
            "import resource, runpy, sys\n"
            f"sys.argv = ['ecosys', *{args!r}]\n"
            "try:\n    runpy.run_module('ecosys', run_name='__main__')\n"
            "except SystemExit:\n    pass\n"
            "print('PEAK', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)\n"
        )
        proc = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT
        )
        peak = [ln for ln in proc.stderr.splitlines() if ln.startswith("PEAK ")]
        runs = list(Path(tmp).rglob("metrics.jsonl"))
        if proc.returncode or not peak or not runs:
            raise RuntimeError(f"the {diversity} iteration failed:\n{proc.stderr[-3000:]}")
        rows = [json.loads(line) for line in runs[0].read_text().splitlines()]
        eco = next(r for r in rows if r["t"] == 0 and "model" not in r)
        seconds = {k[5:-2]: v for k, v in eco.items() if k.startswith("time/")}
        return seconds, int(peak[0].split()[1]) / 1024


def projection(rates: dict[str, float]) -> list[dict]:
    """The paper's primary grid on one GPU, per phase: tokens processed × measured CPU
    seconds per token ÷ the assumed GPU ratio. A projection, not a measurement."""
    p = PAPER
    tok = p["block"]
    rows = []
    for d in p["D"]:
        work = {  # tokens per run (generation: new tokens, 5 beams each)
            "train": p["T"] * p["epochs"] * p["N"] * tok,
            "evaluate": (p["T"] * p["epochs"] * d * p["valid"] + (p["T"] + 1) * d * p["test"])
            * tok,
            "generate": (p["T"] - 1) * p["N"] * tok,
        }
        cpu = {k: v / rates[k] for k, v in work.items()}
        gpu = {k: cpu[k] / GPU_RATIO[k] for k in work}
        rows.append(
            {
                "D": d,
                **{f"{k}_tokens": v for k, v in work.items()},
                **{f"{k}_cpu_h": v / 3600 for k, v in cpu.items()},
                **{f"{k}_gpu_h": v / 3600 for k, v in gpu.items()},
                "gpu_h": sum(gpu.values()) / 3600,
            }
        )
    return rows


def print_projection(rows: list[dict], rates: dict[str, float]) -> None:
    print(
        "\nPROJECTION (not a measurement): the paper's primary grid, one run per D and model,\n"
        f"N = {PAPER['N']} blocks × {PAPER['block']}, E = {PAPER['epochs']}, T = {PAPER['T']}, "
        f"valid {PAPER['valid']}, test {PAPER['test']} blocks; measured here (tok/s): "
        + ", ".join(f"{k} {rates[k]:.0f}" for k in GPU_RATIO)
        + "; GPU = CPU ÷ "
        + ", ".join(f"{k} {v:.0f}" for k, v in GPU_RATIO.items())
    )
    head = ("D", "train Mtok", "eval Mtok", "gen Mtok", "CPU h", "GPU h")
    print("{:>3} {:>10} {:>10} {:>9} {:>8} {:>7}".format(*head))
    for r in rows:
        cpu = sum(r[f"{k}_cpu_h"] for k in GPU_RATIO)
        print(
            f"{r['D']:>3} {r['train_tokens'] / 1e6:>10.1f} {r['evaluate_tokens'] / 1e6:>10.1f} "
            f"{r['generate_tokens'] / 1e6:>9.1f} {cpu:>8.0f} {r['gpu_h']:>7.2f}"
        )
    total = sum(r["gpu_h"] for r in rows) * PAPER["models"]
    print(f"whole grid ({PAPER['models']} models × {len(rows)} D): {total:.1f} GPU hours")
