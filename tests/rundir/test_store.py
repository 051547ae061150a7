"""The run store: atomic units, checksums, metrics repair, and the run-dir lock."""

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from helpers import make_cfg

from ecosys.config import ConfigError
from ecosys.rundir.layout import Unit, read_metrics
from ecosys.rundir.store import RunLocked, RunStore


@pytest.fixture
def cfg():
    return make_cfg("runtime.lock_timeout=0")


def test_units_commit_and_are_skipped(tmp_path, cfg):
    with RunStore.open(tmp_path / "r", cfg, {"name": "r"}) as store:
        unit = Unit.of("evaluate", 0, 1)
        assert not store.done(unit)
        store.commit(unit, arrays={"ppl/t00.m01": np.arange(4.0)}, info={"ppl": 1.5})
        assert store.done(unit)
        assert store.info_of(unit) == {"ppl": 1.5}
        np.testing.assert_array_equal(store.array("ppl/t00.m01"), np.arange(4.0))


def test_a_corrupt_or_truncated_array_is_detected_and_the_unit_undone(tmp_path, cfg):
    with RunStore.open(tmp_path / "r", cfg, {}) as store:
        for i, damage in enumerate([lambda b: b[:-3], lambda b: b[:-8] + b"\x00" * 8]):
            unit = Unit.of("evaluate", i, 0)
            store.commit(unit, arrays={f"ppl/t{i:02d}": np.arange(10.0)})
            path = store.root / f"ppl/t{i:02d}.npy"
            path.write_bytes(damage(path.read_bytes()))
            assert not store.done(unit)
            assert store.manifest(unit) is None  # undone: the loop will redo it


def test_a_corrupt_checkpoint_is_never_used(tmp_path, cfg):
    with RunStore.open(tmp_path / "r", cfg, {}) as store:
        tmp = store.temp_checkpoint_path(0, 3)
        tmp.write_bytes(b"weights" * 100)
        unit = Unit.of("train", 3, 0)
        store.commit(unit, checkpoint=store.adopt_checkpoint(tmp, 0, 3))
        assert store.verified_checkpoint(unit) == store.checkpoint_path(0, 3)
        store.checkpoint_path(0, 3).write_bytes(b"weights" * 99)
        assert store.verified_checkpoint(unit) is None
        assert not store.done(unit)


def test_metrics_are_rebuilt_from_committed_units_after_a_torn_write(tmp_path, cfg):
    root = tmp_path / "r"
    with RunStore.open(root, cfg, {}) as store:
        store.commit(Unit.of("summary", 0), rows=[{"t": 0, "ppl/mean": 3.0}])
        store.commit(Unit.of("summary", 1), rows=[{"t": 1, "ppl/mean": 4.0}])
    good = (root / "metrics.jsonl").read_text()
    with open(root / "metrics.jsonl", "a") as f:
        f.write('{"t": 2, "ppl/me')  # a crash mid-append
    (root / "units" / "t01.summary.json").unlink()  # and a unit that never committed
    with RunStore.open(root, cfg, {}):
        pass
    assert read_metrics(root) == [{"t": 0, "ppl/mean": 3.0}]
    assert good.startswith((root / "metrics.jsonl").read_text())


def test_units_order_by_iteration_then_phase_then_model():
    keys = [
        Unit.of("summary", 0),
        Unit.of("train", 1, 0),
        Unit.of("train", 0, 1),
        Unit.of("evaluate", 0, 0),
        Unit.of("evaluate", -1),
    ]
    assert [u.key for u in sorted(keys)] == [
        "base.evaluate",
        "t00.train.m01",
        "t00.evaluate.m00",
        "t00.summary",
        "t01.train.m00",
    ]


def test_a_different_config_is_refused_before_writing(tmp_path, cfg):
    with RunStore.open(tmp_path / "r", cfg, {}):
        pass
    before = sorted(p.name for p in (tmp_path / "r").iterdir())
    with pytest.raises(ConfigError, match=r"train\.lr"):
        RunStore.open(tmp_path / "r", make_cfg("train.lr=0.5"), {})
    assert sorted(p.name for p in (tmp_path / "r").iterdir()) == before


def test_a_second_process_is_refused_while_the_first_holds_the_run_dir(tmp_path, cfg):
    root = tmp_path / "r"
    root.mkdir()
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(f"""
            import time
            from filelock import FileLock
            lock = FileLock({str(root / ".lock")!r}); lock.acquire()
            open({str(root / ".lock.owner")!r}, 'w').write('host h, pid 42\\n')
            print('held', flush=True); time.sleep(60)
        """),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(RunLocked, match=r"in use by another process \(host h, pid 42\)"):
            RunStore.open(root, cfg, {})
    finally:
        holder.kill()
        holder.wait()
    with RunStore.open(root, cfg, {}) as store:  # the lock dies with its process
        assert json.loads((store.root / "run.json").read_text()) == {}
