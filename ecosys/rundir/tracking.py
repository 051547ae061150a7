"""Tracking: W&B as a mirror of the run store (which stays the source of truth).

After every iteration the loop calls `sync`, which logs every iteration the store has
committed and W&B has not yet seen: one `wandb.log` per t, with `t` as the step
metric. The W&B run id derives from the run id (kept in layout.TRACKING_STATE), so a
resumed or requeued run continues the same W&B run; it asks W&B what it already
holds (the resumed run's summary online; the earlier sessions' files offline, through
W&B's own reader) and logs only later iterations: no step twice, none lost to a
SIGKILL that beat W&B's writer. Without an API key W&B runs offline and the one
command that uploads the run is printed at the end.

Per t the log holds the ecosystem row (`ppl/mean`, `ppl/std`, `ppl/m{m}`,
`ppl/mu_T`, …), every model row as `<metric>/m{m}`, and the distribution of all
models' per-block perplexities as the histogram `ppl/blocks`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import DictConfig, OmegaConf

from ecosys.config.inputs import wandb_credentials
from ecosys.rundir import layout, wandb_files
from ecosys.rundir.layout import read_metrics
from ecosys.rundir.summary import ROW_KEYS

log = logging.getLogger(__name__)


def flatten(tree: dict, prefix: str = "") -> dict[str, Any]:
    out = {}
    for k, v in tree.items():
        if isinstance(v, dict) and v:
            out |= flatten(v, f"{prefix}{k}.")
        else:
            out[f"{prefix}{k}"] = v
    return out


def history(run_dir: Path) -> dict[int, dict[str, Any]]:
    """What a W&B log per t holds, built from the run store alone."""
    by_t: dict[int, dict[str, Any]] = defaultdict(dict)
    for row in read_metrics(run_dir):
        t = row["t"]
        metrics = {k: v for k, v in row.items() if k not in ROW_KEYS}
        if row["scope"] == "ecosystem":
            by_t[t] |= metrics
        else:
            m = row["model"]
            by_t[t] |= {f"{k}/m{m}": v for k, v in metrics.items() if k != "ppl/mean"}
    for t in by_t:
        by_t[t]["t"] = t
    return dict(sorted(by_t.items()))


def block_ppl(run_dir: Path, t: int) -> np.ndarray:
    """All models' per-block test perplexities at t (t = -1: the bases)."""
    paths = sorted(Path(run_dir).glob(layout.ppl_glob(t)))
    return np.concatenate([np.load(p) for p in paths])


class Tracker:
    """No tracking: `tracking=none`."""

    def sync(self) -> None:
        pass

    def finish(self) -> None:
        pass


class WandbTracker(Tracker):
    def __init__(self, cfg: DictConfig, run_dir: Path, info: dict[str, Any], group: str | None):
        import wandb  # only when tracking: importing it costs a second or two

        self.wandb, self.run_dir = wandb, Path(run_dir)
        self.state_path = self.run_dir / layout.TRACKING_STATE
        self.state = self._load_state(info["run_id"])
        tc = cfg.tracking
        mode = resolve_mode(tc.mode)
        os.environ.setdefault("WANDB_SILENT", "true")
        cond = info["condition"]
        config = {
            **cond,  # model, data, scale, data_quality, diversity, protocol
            "run": info["name"],
            "D": info["D"],
            "M": info["M"],
            "seed": info["seed"],
            "run_dir": str(self.run_dir),
            **info.get("world", {}),  # the synthetic world's exp(H) and oracle perplexity
            **flatten(OmegaConf.to_container(cfg, resolve=True, enum_to_str=True)),
        }
        self.run = wandb.init(
            project=tc.project,
            entity=tc.entity,
            dir=str(self.run_dir / layout.TRACKING),
            id=self.state["id"],
            resume="allow",
            name=info["name"],
            group=tc.group or group,
            job_type="/".join(cond[k] for k in ("model", "data", "scale", "data_quality")),
            tags=[cond[k] for k in ("model", "data", "scale", "data_quality", "diversity")],
            config=config,
            mode=mode,
        )
        self.run.define_metric("t")
        self.run.define_metric("*", step_metric="t")
        self.mode = mode
        self.logged_t = self._already_logged()
        self.state["group"] = self.run.group or None  # the sweep's: the analysis logs to it
        self._save_state()

    def _load_state(self, run_id: str) -> dict[str, Any]:
        if self.state_path.exists():
            return json.loads(self.state_path.read_text())
        # the run id (a config hash) plus where the run lives: two copies of one config
        # in different out_dirs are two W&B runs, a resumed one is the same
        where = hashlib.sha256(str(self.run_dir.resolve()).encode()).hexdigest()[:6]
        return {"id": f"{run_id}-{where}"}

    def _save_state(self) -> None:
        self.state_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.state_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.state))
        os.replace(tmp, self.state_path)

    def _already_logged(self) -> float | None:
        """The last t this W&B run holds from earlier sessions (None: nothing yet)."""
        if self.mode == "online":
            return self.run.summary.get("t")
        this = Path(self.run.dir).parent
        last = None
        for session in sorted(this.parent.glob(f"offline-run-*-{self.state['id']}")):
            if session != this:
                for t in _offline_steps(session):
                    last = t if last is None else max(last, t)
        return last

    def sync(self) -> None:
        before = self.logged_t
        for t, values in history(self.run_dir).items():
            if self.logged_t is not None and t <= self.logged_t:
                continue
            self.run.log(values | {"ppl/blocks": self.wandb.Histogram(block_ppl(self.run_dir, t))})
            if "ppl/mu_T" in values:
                self.run.summary["mu_T"] = values["ppl/mu_T"]
            self.logged_t = t
        if self.logged_t != before:  # what a finished run's rerun checks (caught_up)
            self.state["logged_t"] = self.logged_t
            self._save_state()

    def finish(self) -> None:
        self.run.finish()
        if self.mode == "offline":
            log.info(
                "W&B (offline): upload with `wandb sync %s`",
                self.run_dir / layout.TRACKING_WANDB / f"offline-run-*-{self.state['id']}",
            )


def _offline_steps(session: Path) -> list[int]:
    """The t of every history record in an offline W&B session (a session killed
    before W&B wrote holds none)."""
    items = [
        r["history"]["item"] for r in wandb_files.records(session) if r.get("type") == "history"
    ]
    return [int(item["t"]) for item in items if "t" in item]


def resolve_mode(mode: str) -> str:
    """W&B's mode for `auto`: online where W&B has a key (WANDB_API_KEY or `wandb
    login`), else offline; any other mode as it is."""
    if mode == "auto":
        return "online" if wandb_credentials() else "offline"
    return mode


def caught_up(cfg: DictConfig, run_dir: Path, T: int) -> bool:
    """Read-only: has the tracker mirrored iterations up to T - 1 (or is it off)?"""
    if cfg.tracking.mode == "disabled":
        return True
    state = Path(run_dir) / layout.TRACKING_STATE
    logged = json.loads(state.read_text()).get("logged_t") if state.exists() else None
    return logged is not None and logged >= T - 1


def open_tracker(
    cfg: DictConfig, run_dir: Path, info: dict[str, Any], group: str | None = None
) -> Tracker:
    if cfg.tracking.mode == "disabled":
        return Tracker()
    return WandbTracker(cfg, run_dir, info, group)
