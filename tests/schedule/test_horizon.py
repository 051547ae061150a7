"""T is no part of a run's identity: a larger T continues a finished run to the same
numbers as a run started with it, a smaller one reads as done, and a finished run's
rerun (a grid run again to finish its missing cells) writes not a byte."""

from __future__ import annotations

import pytest
from helpers import WANDB, cli, fingerprint, only_run_dir, small_args, snapshot

pytestmark = pytest.mark.slow


def test_a_larger_T_continues_the_run_to_the_numbers_of_one_started_with_it(tmp_path, cache_dir):
    args = small_args(tmp_path / "grown", cache_dir, "diversity=d2")
    cli(*args, "T=2")
    grown = only_run_dir(tmp_path / "grown")
    assert not (grown / "pools" / "t01.npy").exists()  # the last iteration pools nothing
    proc = cli(*args, "T=4")
    assert "extending the run from T = 2" in proc.stdout + proc.stderr
    assert only_run_dir(tmp_path / "grown") == grown  # the same run dir, continued
    cli(*small_args(tmp_path / "whole", cache_dir, "diversity=d2", "T=4"))
    assert snapshot(grown) == snapshot(only_run_dir(tmp_path / "whole"))


def test_a_finished_run_reruns_without_writing_a_byte_and_a_smaller_T_reads_as_done(
    tmp_path, cache_dir
):
    args = small_args(tmp_path, cache_dir, "diversity=d2", *WANDB)
    cli(*args, "T=3")
    run = only_run_dir(tmp_path)
    before = fingerprint(run)
    for T in ("T=3", "T=2"):
        proc = cli(*args, T)
        assert "nothing to do" in proc.stdout + proc.stderr
        assert fingerprint(run) == before, T
