"""What the command line does with a bad value: one line on stderr, exit status 2 —
also where Hydra acts before the task (and its checks) runs."""

from __future__ import annotations

import sys
from typing import Any, NoReturn

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from ecosys.config.checks import check_out_dir
from ecosys.config.errors import ConfigError


def refuse(err: Exception) -> NoReturn:
    """The one line a user sees for a bad value, and exit status 2."""
    print(f"ecosys: error: {err}", file=sys.stderr)
    sys.exit(2)


class OutDirFirst(Callback):
    """Hydra makes its output dir (hydra.run.dir, or hydra.sweep.dir in a multirun; both
    are out_dir unless set) before the task runs, so an out_dir under a regular file would
    end in Hydra's traceback: check it first. Hydra turns a callback's exceptions into
    warnings, hence the exit here."""

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        _check(config, "run")

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        _check(config, "sweep")


def _check(config: DictConfig, mode: str) -> None:
    path = config.hydra[mode].dir
    try:
        check_out_dir(path, "out_dir" if path == config.out_dir else f"hydra.{mode}.dir")
    except ConfigError as err:
        refuse(err)
