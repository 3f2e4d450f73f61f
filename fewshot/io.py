"""Small I/O helpers: atomic writes (nothing half-written survives a crash) and run metadata."""

from __future__ import annotations

import errno
import io
import json
import os
import platform
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO


def atomic_write(path: str | os.PathLike[str], write: Callable[[BinaryIO], None]) -> Path:
    """Write ``path`` atomically: ``write`` fills a buffer that goes to a temp file in the same
    folder, which is synced and then renamed over ``path`` (removed if anything fails).

    A full disk (or quota) raises ``OSError(ENOSPC)`` naming ``path`` and the bytes it needed,
    and leaves neither the temp file nor a partial ``path`` behind (``path``'s previous
    version, if any, stays as it was).
    """
    path = Path(path)
    buffer = io.BytesIO()
    write(buffer)
    data = buffer.getbuffer()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise _with_path(exc, path, len(data)) from None
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise _with_path(exc, path, len(data)) from None
        raise
    return path


def _with_path(exc: OSError, path: Path, size: int) -> OSError:
    """``exc`` naming ``path``; a full disk also says how many bytes the file needed."""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        needed = (
            f"{size} bytes" if size < 10_000
            else f"{size / 1e3:.0f} KB" if size < 1_000_000
            else f"{size / 1e6:.1f} MB"
        )  # fmt: skip
        return OSError(exc.errno, f"no space left on device to write {needed}", str(path))
    if exc.filename is None:
        return OSError(exc.errno, exc.strerror, str(path))
    return exc


def atomic_write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Write ``text`` to ``path`` atomically (temp file in the same folder, then rename)."""
    return atomic_write(path, lambda f: f.write(text.encode("utf-8")))


def atomic_write_json(path: str | os.PathLike[str], obj: Any) -> Path:
    """Serialise ``obj`` as indented JSON and write it atomically."""
    return atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")


def software_versions() -> dict[str, str]:
    """Versions of the packages that change results, saved into every run."""
    import numpy
    import torch

    import fewshot

    versions = {
        "fewshot": fewshot.__version__,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": numpy.__version__,
    }
    try:
        import networkx

        versions["networkx"] = networkx.__version__
    except ImportError:  # pragma: no cover - networkx is a dependency
        pass
    return versions
