"""`make bench`: each phase of ecosys timed against what the paper's plain code would
run, in the same process on the same device; prints a table and writes bench.json.

    python -m ecosys.bench                 # everything (≈ 6 min on 2 CPU cores)
    python -m ecosys.bench --only generate # one group: generate | train | evaluate | iteration
    python -m ecosys.bench --out FILE      # where the rows go (default bench.json)
    python -m ecosys.bench --no-compile    # without the runtime.compile rows

Baselines: `model.generate` on batches of 32 prompts (5 beams, or τ = 1 / top-k 50
sampling); a plain per-model PyTorch training loop with per-epoch validation, one model
after another; a plain batched forward pass for per-block perplexity. Models: the
synthetic world's tiny base, and OPT-125m's shape (random weights, GPT-2's vocabulary:
weights do not change speed). On the CPU the OPT-shaped rows use fewer, shorter prompts
than the paper's 32 × 128 (each row says what it ran).
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import os
import resource
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from accelerate import Accelerator
from hydra import compose, initialize_config_dir

from ecosys import base, config, decode, models, world
from ecosys.ensemble import states_of
from ecosys.evaluate import block_nll
from ecosys.train import fine_tune, fine_tune_together

CONF = Path(__file__).resolve().parents[1] / "conf"
GROUPS = ("generate", "train", "evaluate", "iteration")


def compose_cfg(*overrides: str):
    config.register()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose("config", overrides=list(overrides))


# -- measuring -------------------------------------------------------------------------


def _rss_mib() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


@contextmanager
def peak_memory(out: dict):
    """Peak memory while the block runs: CUDA max allocated on a GPU, else the
    process's resident set sampled every 5 ms (MiB)."""
    if torch.cuda.is_available():
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        yield
        torch.cuda.synchronize()
        out["peak_mib"] = torch.cuda.max_memory_allocated() / 2**20
        return
    peak, stop = [_rss_mib()], threading.Event()

    def sample() -> None:
        while not stop.wait(0.005):
            peak[0] = max(peak[0], _rss_mib())

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
        out["peak_mib"] = max(peak[0], _rss_mib())


def timed(fn: Callable[[], object], repeat: int = 2) -> tuple[object, float, float]:
    """(result, seconds, peak MiB) of a call: the fastest of `repeat` calls, since a
    shared machine's noise only ever adds time."""
    best, peak = math.inf, 0.0
    for _ in range(repeat):
        mem: dict = {}
        with peak_memory(mem):
            if torch.cuda.is_available():
                torch.cuda.synchronize()
            start = time.perf_counter()
            result = fn()
            if torch.cuda.is_available():
                torch.cuda.synchronize()
            best = min(best, time.perf_counter() - start)
        peak = max(peak, mem["peak_mib"])
    return result, best, peak


def compile_seconds(model, fn: Callable[[], object]) -> tuple[torch.nn.Module, float]:
    """A copy of `model` with runtime.compile's forward, and the seconds its first call
    of `fn(copy)` took (tracing and compiling every shape it meets, once per process)."""
    fast = models.compiled(copy.deepcopy(model))
    start = time.perf_counter()
    fn(fast)
    return fast, time.perf_counter() - start


def variants(model, compile: bool, first: Callable[[torch.nn.Module], object]) -> list:
    """What ecosys is timed as: [(label, model, extra row fields)]: the eager model, and
    with `compile` a compiled copy whose first call `first(copy)` is timed as compile_s."""
    out = [("", model, {})]
    if compile:
        fast, secs = compile_seconds(model, first)
        out.append((" compiled", fast, {"compile_s": secs}))
    return out


class Table:
    def __init__(self) -> None:
        self.rows: list[dict] = []

    def add(self, name: str, ecosys: float, baseline: float, unit: str, **extra) -> dict:
        """One comparison; ratio > 1 means ecosys is better (faster, or for a cost, less)."""
        lower_is_better = unit in ("s", "MiB")
        ratio = baseline / ecosys if lower_is_better else ecosys / baseline
        row = dict(name=name, ecosys=ecosys, baseline=baseline, unit=unit, ratio=ratio, **extra)
        self.rows.append(row)
        note = "  ".join(f"{k}={_fmt(v)}" for k, v in extra.items())
        print(f"{name:<34} {ecosys:>11.1f} {baseline:>11.1f} {unit:<9} {ratio:>6.2f}×  {note}")
        sys.stdout.flush()
        return row


def _fmt(v) -> str:
    return f"{v:.3g}" if isinstance(v, float) else str(v)


# -- the models ------------------------------------------------------------------------


def tiny_model(cfg) -> torch.nn.Module:
    """The synthetic world's base (pretrained once into cache_dir, as `make demo` does)."""
    base.ensure(cfg, cfg.model, Accelerator(cpu=not torch.cuda.is_available()))
    return models.load(base.locate(cfg, cfg.model), torch.float32).eval()


def opt_shaped(device: torch.device) -> torch.nn.Module:
    """OPT-125m's shape, GPT-2's vocabulary, random weights; bf16 on a GPU."""
    cfg = compose_cfg("model=opt-125m-random")
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    model = models.new(cfg.model, 50257, seed=0).to(device, dtype).eval()
    model.generation_config.pad_token_id = 0
    return model


# -- generation ------------------------------------------------------------------------


def hf_generate(model, prompts: torch.Tensor, batch: int, **mode) -> torch.Tensor:
    """The paper's code: `generate` on batches, min = max new tokens, default cache."""
    out = []
    for i in range(0, len(prompts), batch):
        ids = prompts[i : i + batch]
        out.append(
            model.generate(
                input_ids=ids,
                attention_mask=torch.ones_like(ids),
                min_new_tokens=ids.size(1),
                max_new_tokens=ids.size(1),
                **mode,
            )[:, ids.size(1) :]
        )
    return torch.cat(out)


def lean_generate(model, prompts: torch.Tensor, batch: int, beams: int, **mode) -> torch.Tensor:
    out = []
    for ids in prompts.split(batch):
        if beams > 1:
            out.append(decode.beam_search(model, ids, ids.size(1), beams))
        else:
            out.append(decode.sample(model, ids, ids.size(1), **mode))
    return torch.cat(out)


@torch.no_grad()
def sequence_logprob(model, prompts: torch.Tensor, new: torch.Tensor) -> torch.Tensor:
    ids = torch.cat([prompts, new], 1)
    logp = torch.log_softmax(model(input_ids=ids).logits[:, :-1].double(), -1)
    return logp.gather(-1, ids[:, 1:, None])[..., 0][:, prompts.size(1) - 1 :].sum(-1)


def bench_generate(
    table: Table, name: str, model, prompts: torch.Tensor, batch: int, compile: bool
) -> None:
    """The baseline once per mode, then ecosys's lean loop: eager, and (`compile`) with
    runtime.compile's forward, its compile seconds reported apart."""
    n, length = prompts.shape
    tokens = n * length
    warm_up(model, prompts)
    shape = f"{n}x{length}+{length}"
    ref, hf_s, hf_mem = timed(lambda: hf_generate(model, prompts, 32, num_beams=5, do_sample=False))
    for label, m, extra in variants(model, compile, lambda m: lean_generate(m, prompts, batch, 5)):
        got, s, mem = timed(lambda m=m: lean_generate(m, prompts, batch, 5))
        same = (ref == got).all(1)
        gap = 0.0
        if not same.all():
            rows = ~same
            gap = float(
                (
                    sequence_logprob(model, prompts[rows], ref[rows])
                    - sequence_logprob(model, prompts[rows], got[rows])
                )
                .abs()
                .max()
            )
        table.add(
            f"generate beam5 {name}{label}",
            tokens / s,
            tokens / hf_s,
            "tok/s",
            prompts=shape,
            batch=f"{batch} vs 32",
            identical=float(same.float().mean()),
            max_dlogp=gap,
            peak_mib=f"{mem:.0f} vs {hf_mem:.0f}",
            **extra,
        )
    mode = dict(temperature=1.0, top_k=50, top_p=1.0)

    def baseline() -> torch.Tensor:
        torch.manual_seed(0)
        return hf_generate(model, prompts, 32, do_sample=True, **mode)

    ref, hf_s, hf_mem = timed(baseline)

    def sample(m) -> torch.Tensor:
        return lean_generate(m, prompts, batch, 1, **mode)

    for label, m, extra in variants(model, compile, sample):
        torch.manual_seed(0)
        same_batch = lean_generate(m, prompts, 32, 1, **mode)  # the baseline's RNG order
        got, s, mem = timed(lambda m=m: sample(m))
        table.add(
            f"generate sample {name}{label}",
            tokens / s,
            tokens / hf_s,
            "tok/s",
            prompts=shape,
            batch=f"{batch} vs 32",
            identical_same_seed=float((ref == same_batch).all(1).float().mean()),
            peak_mib=f"{mem:.0f} vs {hf_mem:.0f}",
            **extra,
        )


# -- training --------------------------------------------------------------------------


def plain_train(
    model, blocks: torch.Tensor, valid: torch.Tensor, epochs: int, batch: int, lr: float, seed: int
) -> float:
    """A per-model loop as one would write it: AdamW, shuffled batches, validation after
    every epoch, the best epoch's weights kept. Returns the best validation loss."""
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0)
    best, best_state = math.inf, None
    for _ in range(epochs):
        model.train()
        order = torch.randperm(len(blocks), generator=gen)
        for i in range(0, len(blocks), batch):
            ids = blocks[order[i : i + batch]]
            logits = model(input_ids=ids).logits[:, :-1]
            loss = F.cross_entropy(
                logits.reshape(-1, logits.size(-1)).float(), ids[:, 1:].reshape(-1)
            )
            loss.backward()
            opt.step()
            opt.zero_grad()
        val = plain_nll(model, valid, 64).mean()
        if val < best:
            best, best_state = val, {k: v.clone() for k, v in model.state_dict().items()}
    model.load_state_dict(best_state)
    return float(best)


@torch.no_grad()
def plain_nll(model, blocks: torch.Tensor, batch: int) -> torch.Tensor:
    """Per-block mean token NLL with a plain batched forward pass."""
    model.eval()
    out = []
    for ids in blocks.split(batch):
        logits = model(input_ids=ids).logits[:, :-1].float()
        nll = F.cross_entropy(
            logits.reshape(-1, logits.size(-1)), ids[:, 1:].reshape(-1), reduction="none"
        )
        out.append(nll.view(len(ids), -1).mean(-1))
    return torch.cat(out)


def bench_train(
    table: Table,
    name: str,
    module: torch.nn.Module,
    sets: list[torch.Tensor],
    valid: torch.Tensor,
    tcfg,
    acc: Accelerator,
    variants: tuple[str, ...] = ("",),
) -> None:
    """Train len(sets) models from `module`'s weights: the baseline one after another,
    then ecosys as a run would, per variant: "" (one by one), "compiled"
    (runtime.compile), "together" (one batched computation, train.together=true)."""
    tokens = sum(b.numel() for b in sets) * tcfg.epochs
    seeds = list(range(len(sets)))
    start = {k: v.clone() for k, v in module.state_dict().items()}
    held = valid.cpu().numpy()
    arrays = [b.cpu().numpy() for b in sets]

    def fresh(m: torch.nn.Module) -> torch.nn.Module:
        m.load_state_dict(start)
        return m

    def baseline() -> list[float]:
        return [
            plain_train(fresh(module), b, valid, tcfg.epochs, tcfg.batch_size, tcfg.lr, seed=i)
            for i, b in zip(seeds, sets, strict=True)
        ]

    def one_by_one(m: torch.nn.Module) -> list[float]:
        return [
            fine_tune(fresh(m), b, held, tcfg, i, acc).val_loss
            for i, b in zip(seeds, arrays, strict=True)
        ]

    def together() -> list[float]:
        starts = [states_of(fresh(module))] * len(sets)
        results, _ = fine_tune_together(module, starts, arrays, held, tcfg, seeds, acc)
        return [r.val_loss for r in results]

    ref, hf_s, hf_mem = timed(baseline)
    for variant in variants:
        extra = {}
        if variant == "together":
            run = together
        elif variant == "compiled":
            fast, extra["compile_s"] = compile_seconds(module, one_by_one)
            run = lambda fast=fast: one_by_one(fast)  # noqa: E731
        else:
            run = lambda: one_by_one(module)  # noqa: E731
        got, s, mem = timed(run)
        table.add(
            f"train {name}{' ' + variant if variant else ''}",
            tokens / s,
            tokens / hf_s,
            "tok/s",
            blocks=f"{len(sets)}x{tuple(sets[0].shape)}",
            epochs=tcfg.epochs,
            val_loss=f"{np.mean(got):.5f} vs {np.mean(ref):.5f}",
            peak_mib=f"{mem:.0f} vs {hf_mem:.0f}",
            **extra,
        )
    fresh(module)


def warm_up(model, blocks: torch.Tensor) -> None:
    """One forward pass first, so neither side pays the first call's set-up."""
    with torch.no_grad():
        model(input_ids=blocks[:2])


def bench_evaluate(
    table: Table,
    name: str,
    model,
    blocks: torch.Tensor,
    batch: int,
    acc: Accelerator,
    compile: bool,
) -> None:
    warm_up(model, blocks)
    ref, hf_s, hf_mem = timed(lambda: plain_nll(model, blocks, 64))
    held = blocks.cpu().numpy()

    def score(m) -> np.ndarray:
        return block_nll(m, held, batch, acc)

    for label, m, extra in variants(model, compile, score):
        got, s, mem = timed(lambda m=m: score(m))
        table.add(
            f"evaluate {name}{label}",
            blocks.numel() / s,
            blocks.numel() / hf_s,
            "tok/s",
            blocks=tuple(blocks.shape),
            batch=f"{batch} vs 64",
            max_dnll=float(np.abs(got - ref.double().cpu().numpy()).max()),
            peak_mib=f"{mem:.0f} vs {hf_mem:.0f}",
            **extra,
        )


# -- one ecosystem iteration -----------------------------------------------------------


def iteration_seconds(out: Path, diversity: str, compile: bool, ranks: int = 1) -> dict[str, float]:
    """Wall seconds of iteration t = 1 (train, evaluate, generate, pool) of a demo-size
    run, in all and per phase, as the run itself records them: t = 1, not 0, so that
    runtime.compile's compiling is behind it; without the synthetic world's exact
    measurements, which are not part of the paper's iteration. `ranks` = 2: the run as
    `accelerate launch` starts it on two CPU processes of one thread each
    (launchers/accelerate/cpu-2proc.yaml), each rank training its own models."""
    from ecosys.store import read_metrics

    name = f"{diversity}-r{ranks}-c{int(compile)}"
    overrides = [
        f"diversity={diversity}",
        "T=3",
        "tracking=none",
        "runtime.progress=false",
        f"runtime.compile={str(compile).lower()}",
        "measure.exact=false",
        f"out_dir={out}",
        f"run_name={name}",
    ]
    if ranks == 1:
        from ecosys import loop

        run = loop.run(compose_cfg(*overrides))
    else:
        launch = Path(sys.executable).with_name("accelerate")
        config_file = CONF.parent / "launchers" / "accelerate" / "cpu-2proc.yaml"
        cmd = [str(launch), "launch", "--config_file", str(config_file)]
        cmd += ["--num_processes", str(ranks), "-m", "ecosys", "runtime.threads=1", *overrides]
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=CONF.parent)
        if proc.returncode:
            raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stderr[-3000:]}")
        run = out / name
    (row,) = [r for r in read_metrics(run) if r.get("scope") == "ecosystem" and r["t"] == 1]
    return {k[5:-2]: v for k, v in row.items() if k.startswith("time/")}


# -- main ------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m ecosys.bench",
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
    print(f"{'name':<34} {'ecosys':>11} {'baseline':>11} {'unit':<9} {'ratio':>7}")
    table = Table()
    tiny = tiny_model(cfg).to(device)
    p, _ = world.build(cfg.world)
    rng = np.random.default_rng(0)
    block = cfg.data.block_size

    def sample_blocks(n: int) -> torch.Tensor:
        return torch.as_tensor(p.sample(n, block, rng), device=device)

    opt = (
        opt_shaped(device) if any(g in groups for g in ("generate", "train", "evaluate")) else None
    )
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
        bench_train(table, "tiny M=16", tiny, sets, held, cfg.train, acc, variants)
        opt_cfg = compose_cfg("model=opt-125m-random", "train.epochs=1", "train.batch_size=8")
        n_train = 64 if gpu else 16
        bench_train(
            table,
            "opt125m-shape M=1",
            opt,
            [opt_blocks[:n_train]],
            opt_blocks[:8],
            opt_cfg.train,
            acc,
            ("", "compiled") if compile and gpu else ("",),
        )
    if "evaluate" in groups:
        eval_batch = cfg.train.eval_batch_size
        bench_evaluate(table, "tiny", tiny, sample_blocks(4096), eval_batch, acc, compile)
        bench_evaluate(table, "opt125m-shape", opt, opt_blocks, eval_batch, acc, compile and gpu)
    if "iteration" in groups:
        import tempfile

        def phases(a: dict, b: dict) -> dict[str, str]:
            return {k: f"{a[k]:.1f} vs {b[k]:.1f}" for k in b if k != "iteration"}

        with tempfile.TemporaryDirectory() as tmp:
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

    Path(args.out).write_text(json.dumps(table.rows, indent=1) + "\n")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"wrote {args.out} ({len(table.rows)} rows); process peak RSS {peak:.0f} MiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
