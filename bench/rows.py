"""The bench's rows: ecosys's side of each comparison (the lean decode loop, fine_tune,
block_nll, a whole iteration through `loop.run`) against bench/baselines.py, each
printed and kept as a row of the table."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import torch
from accelerate import Accelerator
from omegaconf import DictConfig

from bench.baselines import hf_generate, plain_nll, plain_train
from bench.harness import ROOT, Table, compile_seconds, compose_cfg, timed, variants, warm_up
from ecosys.kernels import decode
from ecosys.kernels.ensemble import states_of
from ecosys.kernels.evaluate import block_nll
from ecosys.kernels.train import fine_tune, fine_tune_together
from ecosys.models import base, hf

# -- the models ------------------------------------------------------------------------


def tiny_model(cfg: DictConfig) -> torch.nn.Module:
    """The synthetic world's base (pretrained once into cache_dir, as `make demo` does)."""
    base.ensure(cfg, cfg.model, Accelerator(cpu=not torch.cuda.is_available()))
    return hf.load(base.locate(cfg, cfg.model), torch.float32).eval()


def opt_shaped(device: torch.device) -> torch.nn.Module:
    """OPT-125m's shape, GPT-2's vocabulary, random weights; bf16 on a GPU."""
    cfg = compose_cfg("model=opt-125m-random")
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    model = hf.new(cfg.model, 50257, seed=0).to(device, dtype).eval()
    model.generation_config.pad_token_id = 0
    return model


# -- generation ------------------------------------------------------------------------


def lean_generate(model, prompts: torch.Tensor, batch: int, beams: int, **mode) -> torch.Tensor:
    """ecosys's side: the lean decode loop (generate.engine=lean) on batches of `batch`."""
    out = []
    for ids in prompts.split(batch):
        if beams > 1:
            out.append(decode.beam_search(model, ids, ids.size(1), beams))
        else:
            out.append(decode.sample(model, ids, ids.size(1), **mode))
    return torch.cat(out)


@torch.no_grad()
def sequence_logprob(model, prompts: torch.Tensor, new: torch.Tensor) -> torch.Tensor:
    """Log-probability of each continuation: how far apart two searches' answers are
    where their tokens differ (a near-tie of beam scores, not a bug, when it is tiny)."""
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


def bench_train(
    table: Table,
    name: str,
    module: torch.nn.Module,
    sets: list[torch.Tensor],
    valid: torch.Tensor,
    cfg,
    acc: Accelerator,
    variants: tuple[str, ...] = ("",),
) -> None:
    """Train len(sets) models from `module`'s weights: the baseline one after another,
    then ecosys as a run would (cfg's train and score keys), per variant: "" (one by
    one), "compiled" (runtime.compile), "together" (one batched computation,
    train.together=true)."""
    tcfg, score_batch_size = cfg.train, cfg.score.batch_size
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
            fine_tune(fresh(m), b, held, tcfg, i, acc, score_batch_size=score_batch_size).val_loss
            for i, b in zip(seeds, arrays, strict=True)
        ]

    def together() -> list[float]:
        starts = [states_of(fresh(module))] * len(sets)
        results, _ = fine_tune_together(
            module, starts, arrays, held, tcfg, seeds, acc, score_batch_size=score_batch_size
        )
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


def bench_evaluate(
    table: Table,
    name: str,
    model,
    blocks: torch.Tensor,
    batch: int,
    acc: Accelerator,
    compile: bool,
) -> None:
    """Per-block NLL of `blocks`: the plain batched forward against `block_nll`."""
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


def iteration_seconds(
    out: Path,
    diversity: str,
    compile: bool,
    ranks: int = 1,
    lenses: bool = False,
    regime: str = "replace",
    T: int = 3,
    at: tuple[int, ...] = (1,),
) -> dict[str, float] | dict[int, dict[str, float]]:
    """Wall seconds of iteration t = 1 (train, evaluate, generate, pool) of a demo-size
    run, in all and per phase, as the run itself records them: t = 1, not 0, so that
    runtime.compile's compiling is behind it; without the synthetic world's exact
    measurements and (unless `lenses`) the lenses, neither of which is part of the
    paper's iteration. With several t `at`, {t: seconds} of a T-iteration run in `regime`.
    `ranks` = 2: the run as
    `accelerate launch` starts it on two CPU processes of one thread each
    (launchers/accelerate/cpu-2proc.yaml), each rank training its own models."""
    from ecosys.rundir.layout import read_metrics

    name = f"{diversity}-r{ranks}-c{int(compile)}-l{int(lenses)}-{regime}-T{T}"
    overrides = [
        f"diversity={diversity}",
        f"regime={regime}",
        f"T={T}",
        "tracking=none",
        "runtime.progress=false",
        f"runtime.compile={str(compile).lower()}",
        "measure.exact=false",
        f"lenses.enabled={str(lenses).lower()}",
        f"out_dir={out}",
        f"run_name={name}",
    ]
    if ranks == 1:
        from ecosys.schedule import loop

        run = loop.run(compose_cfg(*overrides))
    else:
        launch = Path(sys.executable).with_name("accelerate")
        config_file = ROOT / "launchers" / "accelerate" / "cpu-2proc.yaml"
        cmd = [str(launch), "launch", "--config_file", str(config_file)]
        cmd += ["--num_processes", str(ranks), "-m", "ecosys", "runtime.threads=1", *overrides]
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
        if proc.returncode:
            raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stderr[-3000:]}")
        run = out / name
    rows = {r["t"]: r for r in read_metrics(run) if r.get("scope") == "ecosystem"}
    seconds = {t: {k[5:-2]: v for k, v in rows[t].items() if k.startswith("time/")} for t in at}
    return seconds[1] if at == (1,) else seconds
