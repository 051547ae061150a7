"""ecosys as a user's project gets it: a wheel installed in a fresh venv, its commands run
from a directory outside the checkout, where only the installed package can supply the
config tree (pkg://ecosys.conf) and the SLURM launcher plugin (hydra_plugins)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import venv
from importlib.metadata import version
from pathlib import Path

import pytest
from helpers import ROOT

pytestmark = pytest.mark.slow

# what a wheel is built from: the checkout, less what it runs and caches
NOT_SOURCE = shutil.ignore_patterns(
    ".git", ".venv", "runs", ".cache", "__pycache__", "build", "*.egg-info", ".*_cache"
)


def run(*args: str | Path, cwd: Path, env: dict[str, str] | None = None) -> str:
    proc = subprocess.run(
        [str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, f"{args}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    return proc.stdout


def build_wheel(tmp: Path) -> Path:
    """The wheel of this checkout, built from a copy (pip builds in its source tree). With
    setuptools at hand it builds offline; else pip fetches it (build isolation)."""
    src = tmp / "src"
    shutil.copytree(ROOT, src, symlinks=True, ignore=NOT_SOURCE)
    isolation = [] if int(version("setuptools").split(".")[0]) >= 68 else ["--use-pep517"]
    offline = ["--no-build-isolation"] if not isolation else []
    pip = [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", *offline, *isolation]
    run(*pip, "-w", tmp / "dist", src, cwd=tmp)
    (wheel,) = (tmp / "dist").glob("ecosys-*.whl")
    return wheel


def fresh_venv(tmp: Path, wheel: Path) -> Path:
    """A venv holding only the wheel, which then sees this venv's packages (torch and the
    rest: not downloaded again) through a .pth line; their .pth files are not read there,
    so an editable ecosys in this venv stays out."""
    env = tmp / "venv"
    venv.create(env, with_pip=False)
    python = env / "bin" / "python"
    run(sys.executable, "-m", "pip", "--python", python, "install", "-q", "--no-deps",
        "--no-index", wheel, cwd=tmp)  # fmt: skip
    purelib = run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])",
                  cwd=tmp).strip()  # fmt: skip
    Path(purelib, "outer.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return env / "bin"


def test_a_wheel_runs_from_any_directory(tmp_path: Path) -> None:
    bin_ = fresh_venv(tmp_path, build_wheel(tmp_path))
    work = tmp_path / "elsewhere"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "WANDB_SERVICE")}

    where = run(
        bin_ / "python", "-c", "import ecosys; print(ecosys.__file__)", cwd=work, env=env
    ).strip()
    assert Path(where).is_relative_to(bin_.parent), where  # the wheel's, not the checkout's

    run(bin_ / "ecosys-run", "debug=smoke", "T=1", cwd=work, env=env)
    (run_dir,) = (work / "runs").glob("*/run.json")
    # the same cell as a multirun (a no-op: it is done), then the sweep's status
    run(bin_ / "ecosys-run", "--multirun", "debug=smoke", "T=1", cwd=work, env=env)
    status = run(bin_ / "ecosys-sweep", "status", "runs", cwd=work, env=env)
    assert run_dir.parent.name in status and " done " in f" {status} ", status

    # a user's own option, in a folder of their own, composes with the shipped ones
    (work / "my_conf" / "model").mkdir(parents=True)
    (work / "my_conf" / "model" / "mine.yaml").write_text(
        "defaults:\n  - tiny\n  - _self_\nname: mine\nn_layer: 3\n"
    )
    args = ["debug=smoke", "model=mine", "--config-dir", "my_conf", "--cfg", "job"]
    composed = run(bin_ / "ecosys-run", *args, cwd=work, env=env)
    assert "name: mine" in composed and "n_layer: 3" in composed

    # the SLURM launcher plugin is found in the wheel too (its options compose only once
    # Hydra's plugin scan has registered its schema)
    hydra = run(bin_ / "ecosys-run", "hydra/launcher=slurm", "--cfg", "hydra", cwd=work, env=env)
    assert "ecosys_launcher" in hydra
    plugin = "import hydra_plugins.ecosys_launcher as p; print(p.__file__)"
    assert Path(run(bin_ / "python", "-c", plugin, cwd=work, env=env).strip()).is_relative_to(
        bin_.parent
    )
