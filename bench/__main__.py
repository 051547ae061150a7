"""`make bench`: each phase of ecosys timed against what the paper's plain code would
run, in the same process on the same device; prints a table and writes bench.json.

    python -m bench                 # everything (≈ 6 min on 2 CPU cores)
    python -m bench --only generate # one group: generate | train | evaluate | iteration | analysis
    python -m bench --out FILE      # where the rows go (default bench.json)
    python -m bench --no-compile    # without the runtime.compile rows
    python -m bench --only smollm2  # the paper's size class (SmolLM2-135M), and the projection

Baselines: `model.generate` on batches of 32 prompts (5 beams, or τ = 1 / top-k 50
sampling); a plain per-model PyTorch training loop with per-epoch validation, one model
after another; a plain batched forward pass for per-block perplexity. Models: the
synthetic world's tiny base, and OPT-125m's shape (random weights, GPT-2's vocabulary:
weights do not change speed). On the CPU the OPT-shaped rows use fewer, shorter prompts
than the paper's 32 × 128 (each row says what it ran).
"""

from __future__ import annotations

import argparse
import json
import resource
import tempfile
from pathlib import Path

import numpy as np
import torch
from accelerate import Accelerator

from bench.analysis_time import bench_analysis
from bench.harness import Table, compose_cfg
from bench.rows import (
    bench_evaluate,
    bench_generate,
    bench_train,
    iteration_seconds,
    opt_shaped,
    tiny_model,
)
from ecosys.data import world

GROUPS = ("generate", "train", "evaluate", "iteration", "analysis", "smollm2")
MODELS = ("generate", "train", "evaluate", "iteration")  # the groups on the tiny / OPT shapes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--only", choices=GROUPS, action="append", help="run only these groups")
    parser.add_argument("--out", default="bench.json", help="where to write the rows (JSON)")
    parser.add_argument(
        "--no-compile", action="store_true", help="skip the runtime.compile rows (torch.compile)"
    )
    args = parser.parse_args(argv)
    groups = args.only or GROUPS
    gpu = torch.cuda.is_available()
    device = torch.device("cuda" if gpu else "cpu")
    acc = Accelerator(cpu=not gpu)
    cfg = compose_cfg()
    where = torch.cuda.get_device_name() if gpu else "cpu"
    print(f"device: {where} ({torch.get_num_threads()} threads), torch {torch.__version__}")
    table = Table()
    table.header()
    if any(g in groups for g in MODELS):
        models(args, groups, table, gpu, device, acc, cfg)
    if "analysis" in groups:  # no model: `python -m analysis` on synthesized run dirs
        bench_analysis(table)
    if "smollm2" in groups:  # the paper's size class, and from its rates the projection
        smollm2(args, table, gpu)
    Path(args.out).write_text(json.dumps(table.rows, indent=1) + "\n")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"wrote {args.out} ({len(table.rows)} rows); process peak RSS {peak:.0f} MiB")
    return 0


def models(args, groups, table: Table, gpu: bool, device, acc, cfg) -> None:
    """The groups that time ecosys's phases on the synthetic world's tiny base and on
    OPT-125m's shape."""
    tiny_rows = any(g in groups for g in ("generate", "train", "evaluate"))
    tiny = tiny_model(cfg).to(device) if tiny_rows else None
    p, _ = world.build(cfg.world)
    rng = np.random.default_rng(0)
    block = cfg.data.block_size

    def sample_blocks(n: int) -> torch.Tensor:
        return torch.as_tensor(p.sample(n, block, rng), device=device)

    opt = opt_shaped(device) if tiny_rows else None
    # the OPT-shaped rows at the paper's size on a GPU; fewer, shorter prompts on the CPU
    opt_n, opt_len = (256, 128) if gpu else (8, 32)
    opt_blocks = torch.randint(
        0, 50257, (opt_n, opt_len), generator=torch.Generator().manual_seed(0)
    ).to(device)

    # runtime.compile rows for the tiny model; for the OPT shape on a GPU only (on the
    # CPU its matmuls, not the per-op overhead compile removes, take the time)
    compile = not args.no_compile
    if "generate" in groups:
        bench_generate(table, "tiny", tiny, sample_blocks(512), cfg.generate.batch_size, compile)
        bench_generate(
            table, "opt125m-shape", opt, opt_blocks, cfg.generate.batch_size, compile and gpu
        )
    if "train" in groups:
        sets = [sample_blocks(32) for _ in range(16)]
        variants = ("", "compiled", "together") if compile else ("", "together")
        held = sample_blocks(128)
        bench_train(table, "tiny M=16", tiny, sets, held, cfg, acc, variants)
        opt_cfg = compose_cfg("model=opt-125m-random", "train.epochs=1", "train.batch_size=8")
        n_train = 64 if gpu else 16
        bench_train(
            table,
            "opt125m-shape M=1",
            opt,
            [opt_blocks[:n_train]],
            opt_blocks[:8],
            opt_cfg,
            acc,
            ("", "compiled") if compile and gpu else ("",),
        )
    if "evaluate" in groups:
        eval_batch = cfg.score.batch_size
        bench_evaluate(table, "tiny", tiny, sample_blocks(4096), eval_batch, acc, compile)
        bench_evaluate(table, "opt125m-shape", opt, opt_blocks, eval_batch, acc, compile and gpu)
    if "iteration" in groups:

        def phases(a: dict, b: dict) -> dict[str, str]:
            keys = dict.fromkeys([*b, *a])
            return {k: f"{a.get(k, 0):.1f} vs {b.get(k, 0):.1f}" for k in keys if k != "iteration"}

        with tempfile.TemporaryDirectory() as tmp:
            last = 9  # the demo's T = 10: accumulate trains on (t + 1) n_m blocks at t
            replace = iteration_seconds(Path(tmp), "d4", False, T=last + 1, at=(1, last))
            for regime in ("accumulate", "accumulate_subsample"):
                other = iteration_seconds(
                    Path(tmp), "d4", False, regime=regime, T=last + 1, at=(1, last)
                )
                for t in (1, last):
                    table.add(
                        f"iteration tiny d4 t={t} {regime} vs replace",
                        other[t]["iteration"],
                        replace[t]["iteration"],
                        "s",
                        **phases(other[t], replace[t]),
                    )
            for diversity in ("d4", "d16"):  # what the lenses cost (goal: ≤ 10%)
                on = iteration_seconds(Path(tmp), diversity, False, lenses=True)
                off = iteration_seconds(Path(tmp), diversity, False)
                table.add(
                    f"iteration tiny {diversity} lenses on vs off",
                    on["iteration"],
                    off["iteration"],
                    "s",
                    goal="ratio >= 1/1.1 = 0.91",
                    **phases(on, off),
                )
            for fast in (False, True) if compile else (False,):
                one = iteration_seconds(Path(tmp), "d1", fast)
                sixteen = iteration_seconds(Path(tmp), "d16", fast)
                table.add(
                    f"iteration tiny M=16 vs M=1{' compiled' if fast else ''}",
                    sixteen["iteration"],
                    one["iteration"],
                    "s",
                    goal="ratio >= 1/1.3 = 0.77",
                    **phases(sixteen, one),
                )
            if not gpu:  # two one-thread processes vs one of two threads, same cores
                two = iteration_seconds(Path(tmp), "d16", compile, ranks=2)
                table.add(
                    f"iteration tiny M=16 2 ranks vs 1{' compiled' if compile else ''}",
                    two["iteration"],
                    sixteen["iteration"],
                    "s",
                    m16_over_m1=two["iteration"] / one["iteration"],
                    **phases(two, sixteen),
                )


def smollm2(args, table: Table, gpu: bool) -> None:
    """SmolLM2-135M's rows (bench/size_class.py), and the primary grid's projection."""
    from bench import size_class

    rates = size_class.bench(table, not args.no_compile, gpu)
    projection = size_class.projection(rates)
    size_class.print_projection(projection, rates)
    where = Path(args.out).with_suffix(".projection.json")
    assumes = {"paper": size_class.PAPER, "gpu_ratio": size_class.GPU_RATIO, "rates": rates}
    where.write_text(json.dumps({"assumes": assumes, "rows": projection}, indent=1) + "\n")
    print(f"wrote {where} (a projection, not a measurement)")


if __name__ == "__main__":
    raise SystemExit(main())
