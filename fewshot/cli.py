"""What every ``python -m fewshot.<command>`` shares: logging and clean errors.

:func:`run_main` turns the errors a user can fix (unknown metric, missing data, corrupt file,
bad values: :func:`fewshot.errors.is_user_error`) into one clear line on stderr and exit code
2, never a traceback from inside torch. Commands declare their configuration as a dataclass
(:mod:`fewshot.config`: parser, ``--config`` YAML, ``--print-config``, resume checks).

``UsageError`` lives in :mod:`fewshot.errors` and is re-exported here for compatibility.
"""

from __future__ import annotations

import importlib
import logging
import signal
import sys
import types
from collections.abc import Callable, Sequence
from typing import Any

from fewshot import faults
from fewshot.errors import UsageError, is_user_error

log = logging.getLogger("fewshot")


class StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """A handler writing to ``sys.stderr`` as it is *now*, not as it was when logging was set
    up: a worker that runs several commands, each with stderr redirected to its own log
    (:func:`fewshot.executor.run_in_log`), logs each into its own file, never into an
    earlier, closed one."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property  # type: ignore[override]
    def stream(self) -> object:
        return sys.stderr

    @stream.setter
    def stream(self, value: object) -> None:
        """Ignored: the stream is always the current ``sys.stderr``."""


def setup_logging(verbose: bool = False) -> None:
    """Log ``fewshot`` messages to stderr (INFO, or DEBUG with ``verbose``)."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(message)s",
        datefmt="%H:%M:%S",
        handlers=[StderrHandler()],
    )


def run_main(
    main: Callable[[Sequence[str] | None], int | None], argv: Sequence[str] | None = None
) -> int:
    """Run a command's ``main``; user errors print one line and return exit code 2.

    Also one line each, never a traceback: another command holding the run folder (exit 2,
    :func:`fewshot.faults.lock_folder`), a full disk (exit 2: the path and the space needed;
    files are written atomically, so nothing partial is left and the same command continues
    once space is freed), and SIGTERM or Ctrl-C (exit 128 + the signal: runs save as they go,
    a training saves a checkpoint at its next step, and the same command resumes). The run
    folder locks the command took are released when it returns.
    """
    mark = faults.held_count()
    handlers = faults.install_signal_handlers()
    try:
        return int(main(argv) or 0)
    except Exception as exc:
        if faults.is_disk_full(exc):
            print(f"error: {faults.disk_full_message(exc)}", file=sys.stderr)  # type: ignore[arg-type]
            return 2
        if not is_user_error(exc):
            raise
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except (KeyboardInterrupt, faults.Preempted) as exc:
        signum = exc.signum if isinstance(exc, faults.Preempted) else signal.SIGINT
        where = exc.where if isinstance(exc, faults.Preempted) else ""
        print(
            f"interrupted by {signal.Signals(signum).name}"
            + (f"; checkpoint saved: {where}" if where else "")
            + "; the run folder holds everything done so far: run the same command again to "
            "resume (fewshot.split: with --resume)",
            file=sys.stderr,
        )
        return 128 + signum
    finally:
        faults.restore_signal_handlers(handlers)
        faults.release_since(mark)


# -- command modules that are also the Python API's functions ----------------------------------


class CommandModule(types.ModuleType):
    """A command module (``fewshot.split``) that can be called like the Python API function of
    the same name: ``fewshot.split(metric="snip")`` is :func:`fewshot.api.split`.

    The module stays a module (``python -m fewshot.split``, ``from fewshot.split import
    SplitConfig`` and ``fewshot.split.main`` are unchanged); calling it looks the function up
    in :mod:`fewshot.api` when called, so no layer below the API imports it (docs/api.md)."""

    __api_name__: str

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._api_function()(*args, **kwargs)

    @property
    def __signature__(self) -> Any:
        """The API function's signature (what ``inspect`` and notebooks show for a call)."""
        import inspect

        return inspect.signature(self._api_function())

    def _api_function(self) -> Callable[..., Any]:
        return getattr(importlib.import_module("fewshot.api"), self.__api_name__)


def callable_command(module_name: str, api_name: str) -> None:
    """Make the imported module ``module_name`` a :class:`CommandModule` calling
    ``fewshot.api.<api_name>`` (a module run as ``__main__`` is left alone)."""
    if module_name == "__main__":
        return
    module = sys.modules[module_name]
    module.__class__ = CommandModule
    module.__api_name__ = api_name  # type: ignore[attr-defined]


__all__ = ["CommandModule", "UsageError", "callable_command", "run_main", "setup_logging"]
