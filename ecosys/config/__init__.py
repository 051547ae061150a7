"""Config schema (dataclasses in Hydra's ConfigStore) and validation before compute.

The schema types every key, so `train.epochs=abc`, `train.foo=1` or `model.dtype=int8`
fails inside Hydra at composition; `validate` then checks the values against each other
and names the key and the fix in one line. Nothing is written before both have passed.

    schema  the dataclasses and enums; RUNTIME_KEYS and SHAPE derived from their metadata
    checks  validate (a table of ranges, a function per group), check_context, check_budget
    names   identity and config hash, condition labels, run name, shares, block size
"""

from ecosys.config.checks import check_budget, check_context, validate
from ecosys.config.errors import ConfigError
from ecosys.config.names import (
    CONDITION_LABELS,
    PAPER,
    RENAMED,
    block_size,
    condition,
    config_hash,
    curation_label,
    data_quality_label,
    departures,
    diversity_label,
    hill_shannon,
    identity,
    resolved,
    run_name,
    shares,
    upgraded,
)
from ecosys.config.schema import (
    RUNTIME_KEYS,
    SHAPE,
    WANDB_PROJECT,
    Arch,
    Curation,
    DataSource,
    Dtype,
    Engine,
    MixedPrecision,
    ModelSource,
    Protocol,
    Regime,
    Schedule,
    Segments,
    TrackingMode,
    register,
)

CONF = "ecosys.conf"  # the config tree's package: conf/ (Hydra's pkg://ecosys.conf)

__all__ = [
    "CONDITION_LABELS",
    "CONF",
    "PAPER",
    "RENAMED",
    "RUNTIME_KEYS",
    "SHAPE",
    "WANDB_PROJECT",
    "Arch",
    "ConfigError",
    "Curation",
    "DataSource",
    "Dtype",
    "Engine",
    "MixedPrecision",
    "ModelSource",
    "Protocol",
    "Regime",
    "Schedule",
    "Segments",
    "TrackingMode",
    "block_size",
    "check_budget",
    "check_context",
    "condition",
    "config_hash",
    "curation_label",
    "data_quality_label",
    "departures",
    "diversity_label",
    "hill_shannon",
    "identity",
    "register",
    "resolved",
    "run_name",
    "shares",
    "upgraded",
    "validate",
]
