"""Local paths first, the HuggingFace hub second, and one clear line when neither works.

Offline clusters are common: when the hub cannot be reached, `transformers` and
`datasets` retry for ~25 s and end in a stack trace. A 3-second connection probe
(written by hand: huggingface_hub has no reachability check) lets ecosys go
straight to the local cache and, if the files are not there, stop before any
compute with the keys that fix it.
"""

from __future__ import annotations

import contextlib
import functools
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlparse

from huggingface_hub import constants

from ecosys.config import ConfigError

T = TypeVar("T")


@functools.cache
def reachable(timeout: float = 3.0) -> bool:
    """Can this machine open a connection to the hub endpoint (HF_ENDPOINT)?"""
    if constants.HF_HUB_OFFLINE:
        return False
    url = urlparse(constants.ENDPOINT)
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        socket.create_connection((url.hostname, port), timeout=timeout).close()
        return True
    except OSError:
        return False


def fetch(load: Callable[[bool], T], name: str, key: str, fix: str) -> T:
    """`load(offline)`, offline-aware: a local path never touches the network, a hub id
    comes from the local cache when the hub is out of reach, and a ConfigError naming
    `key` says so when the files are in neither place."""
    local = Path(name).expanduser().exists()
    online = not local and reachable()
    try:
        return load(not online)
    except Exception as err:  # transformers/datasets raise OSError, ValueError, ConnectionError…
        if local:
            where = "its local directory"
        else:
            where = "the hub" if online else "the hub (unreachable) or the local HF cache"
        raise ConfigError(
            key,
            f"cannot load {name!r} from {where}: {type(err).__name__}: {_gist(err)}",
            f"{fix}; HF_HUB_OFFLINE=1 uses the local cache only",
        ) from err


@contextlib.contextmanager
def offline(on: bool = True) -> Iterator[None]:
    """`datasets` and huggingface_hub in offline mode (the cache only) for a while."""
    import datasets

    saved = constants.HF_HUB_OFFLINE, datasets.config.HF_HUB_OFFLINE
    if on:
        constants.HF_HUB_OFFLINE = datasets.config.HF_HUB_OFFLINE = True
    try:
        yield
    finally:
        constants.HF_HUB_OFFLINE, datasets.config.HF_HUB_OFFLINE = saved


def _gist(err: Exception) -> str:
    """The first line of a loader's message, short: the error stays one line."""
    lines = str(err).strip().splitlines()
    return lines[0][:160] if lines else ""
