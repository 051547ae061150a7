"""The local HF cache: a damaged file there is reported as what it is (with the folder
to delete), not as a bad config value."""

from __future__ import annotations

import hashlib
import json

import pytest
from helpers import SHARED_DATA, cli
from huggingface_hub import constants

from ecosys.data import hub

WIKI = SHARED_DATA / "wikitext-2"
FILES = [
    "data=files",
    f"data.train={WIKI / 'train.txt'}",
    f"data.valid={WIKI / 'valid.txt'}",
    f"data.test={WIKI / 'test.txt'}",
]
CONFIG = json.dumps({"model_type": "gpt2", "n_positions": 1024, "vocab_size": 50257}).encode()


def git_hash(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def cached_repo(hub_cache, repo: str, files: dict[str, tuple[str, bytes]]):
    """A repo in the HF hub cache's layout: blobs named by their hash, a snapshot of
    links to them, refs/main. files: name → (blob name, bytes written)."""
    root = hub_cache / f"models--{repo.replace('/', '--')}"
    snap = root / "snapshots" / ("0" * 40)
    (root / "blobs").mkdir(parents=True)
    snap.mkdir(parents=True)
    (root / "refs").mkdir()
    (root / "refs" / "main").write_text("0" * 40)
    for name, (blob, data) in files.items():
        (root / "blobs" / blob).write_bytes(data)
        (snap / name).symlink_to(root / "blobs" / blob)
    return root


def test_damaged_finds_the_files_that_fail_their_hash(tmp_path, monkeypatch):
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path))
    weights = b"\x00" * 1000
    files = {
        "config.json": (git_hash(CONFIG), CONFIG),
        "model.safetensors": (hashlib.sha256(weights).hexdigest(), weights),
    }
    root = cached_repo(tmp_path, "org/intact", files)
    (root / "blobs" / "partial.incomplete").write_bytes(b"half")  # a download under way
    assert hub.damaged("org/intact") == []
    files["model.safetensors"] = (hashlib.sha256(weights).hexdigest(), weights[:500])
    root = cached_repo(tmp_path, "org/torn", files)
    assert hub.damaged("org/torn") == [root / "blobs" / files["model.safetensors"][0]]


@pytest.mark.skipif(not (WIKI / "train.txt").exists(), reason=f"needs WikiText-2 in {SHARED_DATA}")
def test_a_corrupt_hub_cache_is_one_line_naming_the_folder_to_delete(tmp_path):
    hf_home = tmp_path / "hf"
    torn = CONFIG[: len(CONFIG) // 2]  # a config.json cut short: not JSON any more
    root = cached_repo(hf_home / "hub", "gpt2", {"config.json": (git_hash(CONFIG), torn)})
    proc = cli(
        "model=gpt2",
        *FILES,
        "T=1",
        f"out_dir={tmp_path / 'runs'}",
        f"cache_dir={tmp_path / 'cache'}",
        env={"HF_HUB_OFFLINE": "1", "HF_HOME": str(hf_home)},
        check=False,
    )
    assert proc.returncode == 2, proc.stdout + proc.stderr
    (line,) = [x for x in proc.stderr.splitlines() if x.strip()]
    assert line.startswith("ecosys: error: the local HF cache's copy of 'gpt2' is damaged")
    assert str(root) in line and "model.path" not in line
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())
