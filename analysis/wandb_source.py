"""The W&B reader: W&B runs → a Sweep, live (the public API) or from offline files.

W&B mirrors each run's config and per-iteration metrics (ecosys/rundir/tracking.py), not its
per-block perplexities (only their histograms): these sweeps have μ_{m,t} and the
combined std but no blocks, and the bootstrap resamples models and seeds only. Both
sources go through `from_records`; only where the records come from differs. The
config's flattened keys tell the runs' conditions apart as config.yaml does for run dirs.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator
from pathlib import Path

import pandas as pd

from analysis.load import run_row
from analysis.sweep import DEFAULTS, LABELS, RUN, Sweep, settings, with_variant
from ecosys.config import upgraded
from ecosys.rundir import wandb_files

Record = tuple[dict, list[dict]]  # (a run's config, its history rows)
WORLD = ("entropy_rate_ppl", "oracle_test_ppl")
# What tracking puts in a W&B config besides the flattened resolved config (keys like
# train.lr), and W&B's own keys (_wandb): not config, so never a variant.
NOT_CONFIG = {*LABELS, "diversity", "run", "D", "M", "run_dir", *WORLD, "_wandb"}


def from_records(records: Iterable[Record]) -> Sweep:
    read, configs = [], []
    for config, history in records:
        info = {
            "name": config["run"],
            "condition": {k: config.get(k, DEFAULTS.get(k)) for k in LABELS},
            **{k: config[k] for k in ("D", "M", "seed", "T")},
            "world": {k: config[k] for k in WORLD if k in config},
        }
        rows = {
            int(h["t"]): h for h in history if "t" in h
        }  # one per t (a resume never repeats one)
        read.append((run_row(info, sum(t >= 0 for t in rows), config.get("run_dir", "")), rows))
        configs.append(
            settings(upgraded({k: v for k, v in config.items() if k not in NOT_CONFIG})) or None
        )
    runs = with_variant([row for row, _ in read], configs)
    means, std, table = [], [], []
    for row, (_, rows) in zip(runs, read, strict=True):
        key = {k: row[k] for k in RUN}
        for t, h in sorted(rows.items()):
            table.append({**h, **key, "scope": "ecosystem"})
            for m in range(row["M"]):  # each model's metrics were logged as <metric>/m{m}
                own = {k.removesuffix(f"/m{m}"): v for k, v in h.items() if k.endswith(f"/m{m}")}
                table.append({**own, **key, "scope": "model", "t": t, "m": m})
                table[-1]["ppl/mean"] = float(h[f"ppl/m{m}"])
            std.append({**key, "t": t, "std": float(h["ppl/std"])})
            means += [
                {**key, "m": m, "t": t, "mu_mt": float(h[f"ppl/m{m}"])} for m in range(row["M"])
            ]
    return Sweep(
        pd.DataFrame(runs), pd.DataFrame(means), pd.DataFrame(std), rows=pd.DataFrame(table)
    )


def api_records(path: str, group: str | None = None) -> Iterator[Record]:
    """Runs of a W&B project ("entity/project"), optionally one group, via the public API."""
    import wandb

    for run in wandb.Api().runs(path, filters={"group": group} if group else None):
        yield dict(run.config), list(run.scan_history())


def offline_records(*roots: str | Path) -> Iterator[Record]:
    """Offline W&B runs under `roots`: every session of one run id (a resume adds one)
    merged in order, read with W&B's own reader (`wandb leet inspect --json`)."""
    sessions: dict[str, list[Path]] = defaultdict(list)
    for root in roots:
        for d in sorted(Path(root).rglob("offline-run-*")):
            sessions[d.name.split("-", 3)[3]].append(d)  # offline-run-<date>_<time>-<id>
    for _, dirs in sorted(sessions.items()):
        config, history = {}, []
        for d in sorted(dirs):
            for record in wandb_files.records(d):
                if record["type"] == "run":
                    config |= record["run"]["config"]["update"]
                elif record["type"] == "config":
                    config |= record["config"].get("update", {})
                elif record["type"] == "history":
                    history.append(record["history"]["item"])
        if "run" in config:
            yield config, history
