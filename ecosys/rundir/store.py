"""The run store: one directory per run, the source of truth for everything it produced.

    config.yaml     resolved config (what decides results, plus runtime settings)
    run.json        run id, name, sizes, world facts, versions
    metrics.jsonl   one row per (t, model) and per (t, ecosystem), in unit order
    units/          one manifest per committed unit: its files' sha256 and its info
    ppl/ gen/ pools/ ckpt/   per-block perplexities, generated blocks, pools, weights
    log.txt         the run's log, appended by every attempt

(ecosys/rundir/layout.py spells every name.)

A unit (phase, t, model) commits atomically: its files are written under temporary
names and renamed, then its manifest is renamed into place — a unit without a
manifest never happened. A file whose checksum no longer matches its manifest is
never used: the unit is redone. A file lock keeps a second process (a duplicated
SLURM job) out of a run dir that one process is writing.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import socket
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from filelock import FileLock, Timeout
from omegaconf import DictConfig

from ecosys import config as config_mod
from ecosys.rundir import layout
from ecosys.rundir.layout import Unit

log = logging.getLogger(__name__)


class RunLocked(RuntimeError):
    """Another process holds the run dir."""


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _npy_bytes(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=False)
    return buf.getvalue()


class RunStore:
    """Open with `RunStore.open(run_dir, cfg)`; use as a context manager (holds the lock)."""

    def __init__(self, root: Path, lock: FileLock | None):
        self.root = root
        self._lock = lock
        self._log_handler: logging.Handler | None = None

    # -- opening, config, lock ---------------------------------------------------------

    @classmethod
    def open(cls, root: Path, cfg: DictConfig, info: dict[str, Any]) -> RunStore:
        """Lock `root`, refuse it if it holds a different config, write config and info.

        Raises ConfigError (different config) before anything is written, and
        RunLocked when another process holds the dir past runtime.lock_timeout.
        """
        root = Path(root)
        cls._check_same_config(root, cfg)
        root.mkdir(parents=True, exist_ok=True)
        lock = FileLock(str(root / layout.LOCK), timeout=cfg.runtime.lock_timeout)
        try:
            lock.acquire()
        except Timeout:
            owner_file = root / layout.LOCK_OWNER
            owner = owner_file.read_text().strip() if owner_file.exists() else "?"
            raise RunLocked(
                f"run dir {root} is in use by another process ({owner}); wait for it to "
                "finish, or raise runtime.lock_timeout to wait for it"
            ) from None
        store = cls(root, lock)
        try:
            (root / layout.LOCK_OWNER).write_text(
                f"host {socket.gethostname()}, pid {os.getpid()}\n"
            )
            cls._check_same_config(root, cfg)  # a process may have created it meanwhile
            for stale in root.rglob(".*.tmp*"):  # half-written files of a killed attempt
                stale.unlink()
            new = not (root / layout.RUN_INFO).exists()
            planned = store.planned_T()
            extended = planned is not None and planned < cfg.T
            if extended:
                store._extend(planned)
            if new or extended:
                text = yaml.safe_dump(config_mod.resolved(cfg), sort_keys=False)
                _write_atomic(root / layout.CONFIG, text.encode())
                _write_atomic(root / layout.RUN_INFO, json.dumps(info, indent=1).encode())
            store._rebuild_metrics()
            store._attach_log()
            if extended:
                log.info("extending the run from T = %d to T = %d", planned, cfg.T)
        except BaseException:
            store.close()
            raise
        return store

    def planned_T(self) -> int | None:
        """The horizon the run dir was last opened with (None: a new run dir)."""
        path = self.root / layout.RUN_INFO
        return json.loads(path.read_text()).get("T") if path.exists() else None

    def _extend(self, planned: int) -> None:
        """A larger T continues the run: its last iteration's summary was written without
        a pool after it; undone, it is summarized again once generate and pool have run."""
        self.invalidate(Unit.of("summary", planned - 1))

    @classmethod
    def finished(cls, root: Path, cfg: DictConfig) -> bool:
        """Read-only: has the run dir committed every iteration up to cfg.T - 1 (a run
        that holds more reads as finished for a smaller T), with every file of every
        unit and each model's latest checkpoint intact? A damaged run is not finished:
        opening it redoes what is damaged. Raises ConfigError where it holds another
        config."""
        root = Path(root)
        cls._check_same_config(root, cfg)
        summaries = [Unit.of("summary", t) for t in range(cfg.T)]
        if not all((root / layout.manifest(unit)).exists() for unit in summaries):
            return False
        view = cls(root, None)
        units = view._committed_units()
        last = max((u.t for u in units if u.phase == "train"), default=-1)
        for unit in units:
            man = view.manifest(unit)
            if man is None or not all(view._intact(r, d) for r, d in man["files"].items()):
                return False
            if unit.phase == "train" and unit.t == last:  # the weights the run ends with
                ((rel, digest),) = man["checkpoint"].items()
                if not view._intact(rel, digest):
                    return False
        return True

    @classmethod
    def attach(cls, root: Path) -> RunStore:
        """The store another process of this run (rank 0) has opened and holds locked."""
        return cls(Path(root), None)

    @staticmethod
    def _check_same_config(root: Path, cfg: DictConfig) -> None:
        path = root / layout.CONFIG
        if not path.exists():
            return
        # both as their departures from the schema's defaults: a key an older config.yaml
        # lacks counts as its default, one it names as before a rename under its new
        # name; T is no part of a run's identity
        stored = config_mod.departures(config_mod.upgraded(yaml.safe_load(path.read_text())))
        stored.pop("T", None)
        current = config_mod.identity(cfg)
        if stored != current:
            diff = ", ".join(_diff(stored, current)[:3])
            raise config_mod.ConfigError(
                "run_name",
                f"run dir {root} holds a different config ({diff})",
                "use another run_name or out_dir, or delete that run dir",
            )

    def _attach_log(self) -> None:
        handler = logging.FileHandler(self.root / layout.LOG)
        handler.setFormatter(logging.Formatter("[%(asctime)s][%(name)s] %(message)s"))
        logging.getLogger("ecosys").addHandler(handler)
        self._log_handler = handler

    def close(self) -> None:
        if self._log_handler is not None:
            logging.getLogger("ecosys").removeHandler(self._log_handler)
            self._log_handler.close()
            self._log_handler = None
        if self._lock is not None:
            self._lock.release()

    def __enter__(self) -> RunStore:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- units ---------------------------------------------------------------------------

    def _manifest_path(self, unit: Unit) -> Path:
        return self.root / layout.manifest(unit)

    def manifest(self, unit: Unit) -> dict[str, Any] | None:
        path = self._manifest_path(unit)
        if not path.exists():
            return None
        try:
            return json.loads(path.read_text())
        except json.JSONDecodeError:
            return None

    def done(self, unit: Unit) -> bool:
        """Committed, with every file (but superseded checkpoints) intact."""
        man = self.manifest(unit)
        if man is None:
            return False
        for rel, digest in man["files"].items():
            if not self._intact(rel, digest):
                log.warning("%s: %s is missing or corrupt; redoing the unit", unit.key, rel)
                self.invalidate(unit)
                return False
        return True

    def _intact(self, rel: str, digest: str) -> bool:
        path = self.root / rel
        return path.exists() and _sha256(path) == digest

    def invalidate(self, unit: Unit) -> None:
        self._manifest_path(unit).unlink(missing_ok=True)

    def commit(
        self,
        unit: Unit,
        arrays: dict[str, np.ndarray] | None = None,
        checkpoint: Path | None = None,
        info: dict[str, Any] | None = None,
        rows: list[dict[str, Any]] | None = None,
    ) -> None:
        """Write the unit's arrays, adopt its checkpoint, then its manifest; append rows."""
        files = {}
        for name, array in (arrays or {}).items():
            rel = layout.npy(name)
            data = _npy_bytes(array)
            _write_atomic(self.root / rel, data)
            files[rel] = hashlib.sha256(data).hexdigest()
        man = {"unit": unit.key, "files": files, "info": info or {}, "rows": rows or []}
        if checkpoint is not None:
            man["checkpoint"] = {str(checkpoint.relative_to(self.root)): _sha256(checkpoint)}
        _write_atomic(self._manifest_path(unit), json.dumps(man, indent=1).encode())
        log.debug("commit %s", unit.key)
        if rows:
            with open(self.root / layout.METRICS, "a") as f:
                f.writelines(json.dumps(r) + "\n" for r in rows)

    def array(self, name: str) -> np.ndarray:
        return np.load(self.root / layout.npy(name), allow_pickle=False)

    def info_of(self, unit: Unit) -> dict[str, Any]:
        man = self.manifest(unit)
        if man is None:
            raise KeyError(f"unit {unit.key} is not committed")
        return man["info"]

    # -- checkpoints ---------------------------------------------------------------------

    def checkpoint_path(self, m: int, t: int) -> Path:
        return self.root / layout.checkpoint(m, t)

    def temp_checkpoint_path(self, m: int, t: int) -> Path:
        path = self.checkpoint_path(m, t)
        path.parent.mkdir(parents=True, exist_ok=True)
        return path.with_name(f".{path.name}.tmp{os.getpid()}")

    def adopt_checkpoint(self, tmp: Path, m: int, t: int) -> Path:
        """Move a fully written temporary checkpoint to its final name (atomic)."""
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        final = self.checkpoint_path(m, t)
        os.replace(tmp, final)
        return final

    def verified_checkpoint(self, unit: Unit) -> Path | None:
        """The unit's checkpoint if it is intact; else None (and the unit is invalidated)."""
        man = self.manifest(unit)
        if man is None:
            return None
        ((rel, digest),) = man["checkpoint"].items()
        if self._intact(rel, digest):
            return self.root / rel
        log.warning("%s: checkpoint %s is missing or corrupt; redoing the unit", unit.key, rel)
        self.invalidate(unit)
        return None

    def prune_checkpoints(self, m: int, before: int) -> None:
        """Drop model m's checkpoints of iterations before `before`. Their units stay
        committed; should one be needed again, it is redone from an earlier one."""
        for t in range(before):
            self.checkpoint_path(m, t).unlink(missing_ok=True)

    # -- metrics -------------------------------------------------------------------------

    def _rebuild_metrics(self) -> None:
        """metrics.jsonl = the rows of the committed units, in unit order.

        Repairs what a crash can leave: a torn last line, or rows of a unit whose
        manifest was committed just before the crash but never appended.
        """
        units = sorted(self._committed_units())
        lines = []
        for unit in units:
            man = self.manifest(unit)
            if man is not None:
                lines += [json.dumps(r) + "\n" for r in man["rows"]]
        text = "".join(lines)
        path = self.root / layout.METRICS
        if not path.exists() or path.read_text() != text:
            _write_atomic(path, text.encode())

    def _committed_units(self) -> list[Unit]:
        return [Unit.parse(path.stem) for path in self.root.glob(layout.manifest_glob())]


def _diff(a: Any, b: Any, prefix: str = "") -> list[str]:
    """The keys where two configs' departures from the defaults differ; a key one of them
    lacks (`...` here) is at its default."""
    a = {} if a is ... and isinstance(b, dict) else a
    b = {} if b is ... and isinstance(a, dict) else b
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for k in sorted(set(a) | set(b)):
            out += _diff(a.get(k, ...), b.get(k, ...), f"{prefix}{k}.")
        return out
    if a == b:
        return []
    a, b = ("default" if x is ... else x for x in (a, b))
    return [f"{prefix.rstrip('.')}: {a} → {b}"]
