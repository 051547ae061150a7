"""Local paths first, the HuggingFace hub second, and one clear line when neither works,
or when the local cache holds the files but damaged.

Offline clusters are common: when the hub cannot be reached, `transformers` and
`datasets` retry for ~25 s and end in a stack trace. A 3-second connection probe
(written by hand: huggingface_hub has no reachability check) lets ecosys go
straight to the local cache and, if the files are not there, stop before any
compute with the keys that fix it.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
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


class CorruptCache(RuntimeError):
    """Files of the local HF cache that no longer match their checksums: no config value
    is wrong, and fetching them again fixes it."""


def fetch(load: Callable[[bool], T], name: str, key: str, fix: str, repo: str | None = None) -> T:
    """`load(offline)`, offline-aware: a local path never touches the network, a hub id
    comes from the local cache when the hub is out of reach, and a ConfigError naming
    `key` says so when the files are in neither place. Where the cache holds the hub
    repo's files (`repo`, default `name`) but one fails its checksum, a CorruptCache
    says that instead."""
    local = Path(name).expanduser().exists()
    online = not local and reachable()
    try:
        return load(not online)
    except Exception as err:  # transformers/datasets raise OSError, ValueError, ConnectionError…
        if not local and (bad := damaged(repo or name)):
            folder = bad[0].parents[1]
            raise CorruptCache(
                f"the local HF cache's copy of {repo or name!r} is damaged: {len(bad)} file(s) "
                f"fail their checksum ({type(err).__name__}: {_gist(err)[:80]}); delete "
                f"{folder} and run again to fetch it anew"
            ) from err
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


def damaged(repo: str) -> list[Path]:
    """The files of hub repo `repo` (a model's or a dataset's) in the local HF cache whose
    bytes no longer give the name they are stored under: an LFS file's sha256, any
    other file's git blob hash. Files named otherwise (partial downloads) are not read."""
    out = []
    for kind in ("models", "datasets"):
        blobs = Path(constants.HF_HUB_CACHE) / f"{kind}--{repo.replace('/', '--')}" / "blobs"
        out += [b for b in sorted(blobs.glob("*")) if b.is_file() and not _intact(b)]
    return out


def _intact(blob: Path) -> bool:
    if len(blob.name) == 64:
        digest = hashlib.sha256()
    elif len(blob.name) == 40:
        # git hashes a file as the header "blob <size>", a NUL byte, then its bytes
        digest = hashlib.sha1(b"blob %d\0" % blob.stat().st_size)
    else:
        return True
    with blob.open("rb") as f:
        while chunk := f.read(1 << 24):
            digest.update(chunk)
    return digest.hexdigest() == blob.name


def _gist(err: Exception) -> str:
    """The first line of a loader's message, short: the error stays one line."""
    lines = str(err).strip().splitlines()
    return lines[0][:160] if lines else ""
