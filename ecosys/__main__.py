"""Run one ecosystem, or a grid of them, from the Hydra config tree in conf/ (shipped in
the package as ecosys.conf; `--config-dir DIR` adds a folder of your own options).

python -m ecosys                                     # synthetic world, D = 1, T = 10
python -m ecosys diversity=d4 data_quality=temp1     # any group option, any key
python -m ecosys --multirun diversity=d1,d2,d4,d16   # a grid (Hydra's basic launcher)
python -m ecosys experiment=primary                  # a paper experiment's preset grid
python -m ecosys --help                              # groups, options, examples
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.errors import ConfigCompositionException, MissingConfigException, OverrideParseException
from hydra.types import RunMode
from omegaconf import DictConfig
from omegaconf.errors import OmegaConfBaseException

from ecosys import config
from ecosys.config.cli import refuse
from ecosys.data.hub import CorruptCache
from ecosys.rundir.store import RunLocked

config.register()


# the package, not a path beside this file: found from a wheel and from any directory
@hydra.main(version_base="1.3", config_path=f"pkg://{config.CONF}", config_name="config")
def main(cfg: DictConfig) -> str:
    try:
        config.validate(cfg)  # before torch loads: a bad value fails in a second
        from ecosys.schedule import loop

        # runs land in Hydra's output dir: hydra.run.dir, or hydra.sweep.dir in a multirun,
        # and a multirun is one tracking group, named after its sweep dir
        hc = HydraConfig.get()
        root = os.path.normpath(hc.runtime.output_dir)
        group = Path(hc.sweep.dir).resolve().name if hc.mode == RunMode.MULTIRUN else None
        return str(loop.run(cfg, root=root, group=group))
    except (config.ConfigError, RunLocked, CorruptCache) as err:
        refuse(err)


def cli() -> None:
    # `+experiment=NAME` is how preset grids are often written; the group has a null
    # default here, so Hydra would refuse the `+`: both spellings select the preset
    sys.argv = [a.removeprefix("+") if a.startswith("+experiment=") else a for a in sys.argv]
    # Hydra prints a composition error (an unknown option or key, a value of the wrong type
    # or outside its enum) over several lines; with HYDRA_FULL_ERROR it raises it instead,
    # and it gets the one line a bad value gets from validate
    os.environ.setdefault("HYDRA_FULL_ERROR", "1")
    try:
        main()
    except (ConfigCompositionException, OverrideParseException) as err:
        refuse(composition_error(err))


def composition_error(err: Exception) -> config.ConfigError:
    """Hydra's composition error as a ConfigError: the key or group, the problem, a fix."""
    cause, help_ = err.__cause__, "python -m ecosys --help lists every group, option and key"
    if isinstance(cause, OmegaConfBaseException) and getattr(cause, "full_key", None):
        if new := config.RENAMED.get(cause.full_key):
            return config.ConfigError(cause.full_key, f"renamed {new}", f"set {new}=… instead")
        return config.ConfigError(cause.full_key, str(cause.msg).splitlines()[0], help_)
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    if isinstance(err, MissingConfigException) and err.missing_cfg_file and err.options:
        group = err.missing_cfg_file.rpartition("/")[0] or err.missing_cfg_file
        return config.ConfigError(group, lines[0], f"pick one of {', '.join(err.options)}")
    return config.ConfigError("overrides", "; ".join(lines), help_)


if __name__ == "__main__":
    cli()
