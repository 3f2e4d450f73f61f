"""The errors a user can fix, in one module that imports nothing from the library.

:class:`UsageError` (bad flags, bad values, a run folder that cannot be resumed) is defined
here; library modules raise it with ``from fewshot.errors import UsageError`` and never import
the command-line layer. The other user-facing errors stay next to the code that raises them
(a corrupt tree file in :mod:`fewshot.splitting.tree`, an unknown registry name in
:mod:`fewshot.registry`, ...) and are re-exported here lazily, so ``from fewshot.errors import
TreeFileError`` works without this module importing torch.

:func:`is_user_error` tells the command-line layer (:func:`fewshot.cli.run_main`) whether an
exception's message is enough for the user (one line, exit code 2) or a bug (traceback). It
checks the exception's class hierarchy by qualified name, so it needs no import either: a
module that raised one of these errors has been imported already.
"""

from __future__ import annotations

import importlib
from typing import Any


class UsageError(ValueError):
    """A problem with the user's input that the user can fix; printed without a traceback."""


USER_ERRORS: dict[str, str] = {
    "UnknownNameError": "fewshot.registry",
    "TreeFileError": "fewshot.splitting.tree",
    "MetricError": "fewshot.metrics.base",
    "BenchmarkNotFoundError": "fewshot.benchmark",
    "DataNotFoundError": "fewshot.data.base",
}
"""User-facing error classes defined elsewhere: class name -> module (re-exported lazily)."""

_QUALIFIED = frozenset(f"{module}.{name}" for name, module in USER_ERRORS.items())


def is_user_error(exc: BaseException) -> bool:
    """True for errors whose message is enough for the user: :class:`UsageError`, the classes
    of :data:`USER_ERRORS` (and their subclasses), and ``FileNotFoundError``."""
    if isinstance(exc, UsageError | FileNotFoundError):
        return True
    return any(f"{c.__module__}.{c.__qualname__}" in _QUALIFIED for c in type(exc).__mro__)


def __getattr__(name: str) -> Any:
    """Lazy re-export: ``fewshot.errors.TreeFileError`` imports :mod:`fewshot.splitting.tree` on use."""
    if name in USER_ERRORS:
        return getattr(importlib.import_module(USER_ERRORS[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["USER_ERRORS", "UsageError", "is_user_error", *USER_ERRORS]
