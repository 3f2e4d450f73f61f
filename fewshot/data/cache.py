"""The on-disk cache of decoded data sets: one file per (data set, source, image size).

A decoded data set (uint8 tensors and labels of its training and test splits) is saved as one
``torch.save`` file, written atomically, and reused while the source is unchanged: the file
records a fingerprint of the source (number of files, total bytes, newest modification time)
and the key (data set, absolute source path, image size, format version); any difference
rebuilds it. An unreadable cache file is rebuilt too (with a warning).

Where: the user's cache folder, ``$FEWSHOT_CACHE/tensors/<hash of the absolute source
path>/`` (default ``~/.cache/fewshot``), never inside the data folder: a user's data folder is
theirs (it may be shared, backed up, read-only, or under version control). To keep the cache
beside the data, ask for it: point ``FEWSHOT_CACHE`` there (e.g. ``<data>/.fewshot-cache``).
Caches that older versions wrote into ``<source>/.fewshot-cache/`` are ignored by the source
fingerprint and can be deleted.

Imports: torch and the standard library only.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from fewshot.io import atomic_write

log = logging.getLogger("fewshot")

FORMAT = 1
CACHE_FOLDER = ".fewshot-cache"
"""The in-data cache folder of older versions (skipped when fingerprinting a source)."""


def default_cache_root() -> Path:
    """``$FEWSHOT_CACHE`` or ``~/.cache/fewshot``."""
    env = os.environ.get("FEWSHOT_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "fewshot"


def source_fingerprint(source: Path) -> dict[str, int]:
    """Number of files, total bytes and newest ``mtime_ns`` under ``source`` (cache excluded)."""
    count = size = newest = 0
    for dirpath, dirnames, filenames in os.walk(source):
        dirnames[:] = sorted(d for d in dirnames if d != CACHE_FOLDER)
        for name in filenames:
            st = os.stat(os.path.join(dirpath, name))
            count, size, newest = count + 1, size + st.st_size, max(newest, st.st_mtime_ns)
    return {"files": count, "bytes": size, "newest_mtime_ns": newest}


def cache_path(source: Path, name: str) -> Path:
    """Where the cache file ``name`` of ``source`` lives: under :func:`default_cache_root`,
    in a folder named by a hash of the absolute source path (see the module docstring)."""
    source = source.resolve()
    digest = hashlib.sha1(str(source).encode()).hexdigest()[:16]
    return default_cache_root() / "tensors" / digest / name


def _read(path: Path) -> dict[str, Any] | None:
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unreadable file is rebuilt, never trusted
        log.warning("%s is not a readable data cache (%s): rebuilding it", path, exc)
        return None
    return blob if isinstance(blob, dict) else None


def cached_tensors(
    source: Path, name: str, key: dict[str, Any], build: Callable[[], dict[str, Tensor]]
) -> dict[str, Tensor]:
    """The tensors ``build()`` returns for ``source``, from the cache file ``name`` when its
    key and the source's fingerprint match, else built now and saved (atomically)."""
    path = cache_path(source, name)
    key = {"format": FORMAT, "source": str(source.resolve()), **key}
    fingerprint = source_fingerprint(source)
    if path.is_file():
        blob = _read(path)
        if blob and blob.get("key") == key and blob.get("fingerprint") == fingerprint:
            return blob["tensors"]
        log.info("%s is stale (the source or the settings changed): rebuilding it", path)
    tensors = build()
    try:
        blob = {"key": key, "fingerprint": fingerprint, "tensors": tensors}
        atomic_write(path, lambda f: torch.save(blob, f))
        log.info("cached the decoded data set in %s", path)
    except OSError as exc:
        log.warning("could not write the data cache %s (%s); decoding again next time", path, exc)
    return tensors
