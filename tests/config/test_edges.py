"""Edges a new user meets before any compute, each one line on stderr and nothing
written: an out_dir the filesystem will not make, and W&B online without credentials."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from helpers import cli, make_cfg, small_args

from ecosys import config
from ecosys.config import checks

PROC = Path("/proc")


@pytest.mark.skipif(not (PROC / "self").exists(), reason="needs Linux's /proc")
def test_an_out_dir_the_filesystem_refuses_is_one_line_before_hydra_makes_anything(tmp_path):
    proc = cli(*small_args(PROC / "ecosys-runs", tmp_path / "cache"), check=False)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    (line,) = [x for x in proc.stderr.splitlines() if x.strip()]
    assert line.startswith("ecosys: error: out_dir: ") and "Traceback" not in proc.stdout


@pytest.mark.skipif(not (PROC / "self").exists(), reason="needs Linux's /proc")
def test_the_filesystems_answer_counts_not_the_permission_bits(monkeypatch):
    monkeypatch.setattr(checks.os, "access", lambda path, mode: True)  # as root sees /proc
    with pytest.raises(config.ConfigError, match="/proc refuses a new directory"):
        checks.check_out_dir(str(PROC / "ecosys-runs" / "grid"))


def test_checking_an_out_dir_leaves_nothing_behind(tmp_path):
    checks.check_out_dir(str(tmp_path / "runs" / "grid"))
    checks.check_out_dir(str(tmp_path))
    assert list(tmp_path.iterdir()) == []


@pytest.fixture
def no_wandb_key(monkeypatch, tmp_path):
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.setenv("NETRC", str(tmp_path / "no-netrc"))


ONLINE = ["tracking=wandb", "tracking.mode=online"]


def test_wandb_online_without_credentials_is_one_line_before_compute(no_wandb_key, tmp_path):
    out = tmp_path / "runs"
    proc = cli(*small_args(out, tmp_path / "cache"), *ONLINE, check=False)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    (line,) = [x for x in proc.stderr.splitlines() if x.strip()]
    assert line.startswith("ecosys: error: tracking.mode: ")
    for fix in ("wandb login", "WANDB_API_KEY", "tracking.mode=offline"):
        assert fix in line
    assert not out.exists() or not any(out.iterdir())  # no run dir, no metrics.jsonl
    assert not (tmp_path / "cache").exists()  # no base model built either


def test_wandb_online_passes_with_a_key_or_a_login(no_wandb_key, monkeypatch, tmp_path):
    cfg = make_cfg(*ONLINE, f"out_dir={tmp_path}")
    with pytest.raises(config.ConfigError):
        config.validate(cfg)
    netrc = tmp_path / "netrc"
    netrc.write_text("machine api.wandb.ai\n  login user\n  password k\n")
    monkeypatch.setenv("NETRC", str(netrc))
    config.validate(cfg)
    monkeypatch.setenv("NETRC", str(tmp_path / "no-netrc"))
    monkeypatch.setenv("WANDB_API_KEY", "k" * 40)
    config.validate(cfg)
    assert os.environ["WANDB_API_KEY"]
