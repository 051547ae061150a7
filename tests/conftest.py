"""Fixtures, and the config schema registered once for Hydra's compose API; the helpers
tests import live in helpers.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from ecosys import config

config.register()


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory) -> Path:
    """One base-model cache for the session: the small world's base is pretrained once."""
    return tmp_path_factory.mktemp("cache")
