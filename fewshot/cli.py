"""What every ``python -m fewshot.<command>`` shares: logging and clean errors.

:func:`run_main` turns the errors a user can fix (unknown metric, missing data, corrupt file,
bad values: :func:`fewshot.errors.is_user_error`) into one clear line on stderr and exit code
2, never a traceback from inside torch. Commands declare their configuration as a dataclass
(:mod:`fewshot.config`: parser, ``--config`` YAML, ``--print-config``, resume checks).

The argparse helpers below (:func:`add_config_argument`, :func:`parse_with_config`) are the
older, dict-based way, kept for commands not yet migrated to :mod:`fewshot.config`.
``UsageError`` lives in :mod:`fewshot.errors` and is re-exported here for compatibility.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import yaml

from fewshot.errors import UsageError, is_user_error
from fewshot.io import atomic_write_text

log = logging.getLogger("fewshot")


def add_config_argument(parser: argparse.ArgumentParser) -> None:
    """Add ``--config`` (YAML defaults for the other flags) and ``--print-config``."""
    parser.add_argument("--config", type=Path, help="YAML file of defaults for these flags")
    parser.add_argument(
        "--print-config", action="store_true", help="print the resolved configuration and exit"
    )


def load_yaml_config(path: Path) -> dict[str, Any]:
    """Read a YAML mapping; keys may use dashes or underscores."""
    if not path.is_file():
        raise UsageError(f"config file {path} does not exist")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise UsageError(f"config file {path} is not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise UsageError(f"config file {path} must hold a mapping of flag: value")
    return {str(k).replace("-", "_"): v for k, v in data.items()}


def parse_with_config(
    parser: argparse.ArgumentParser, argv: Sequence[str] | None = None
) -> argparse.Namespace:
    """Parse ``argv``; values from ``--config`` become defaults that explicit flags override."""
    args = parser.parse_args(argv)
    if getattr(args, "config", None) is not None:
        config = load_yaml_config(args.config)
        known = {a.dest for a in parser._actions}
        unknown = sorted(set(config) - known)
        if unknown:
            raise UsageError(f"config file {args.config} has unknown keys {unknown}")
        parser.set_defaults(**config)
        args = parser.parse_args(argv)
    if getattr(args, "print_config", False):
        print(dump_config(resolved_config(args)), end="")
        raise SystemExit(0)
    return args


def resolved_config(args: argparse.Namespace) -> dict[str, Any]:
    """The namespace as a YAML/JSON-friendly dict (paths as strings, no meta flags)."""
    skip = {"config", "print_config"}
    return {
        k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items() if k not in skip
    }


def dump_config(config: dict[str, Any]) -> str:
    return yaml.safe_dump(config, sort_keys=True)


def save_config(run_dir: Path, config: dict[str, Any], name: str = "config.yaml") -> Path:
    """Write the resolved configuration into the run folder (atomically)."""
    return atomic_write_text(run_dir / name, dump_config(config))


def setup_logging(verbose: bool = False) -> None:
    """Log ``fewshot`` messages to stderr (INFO, or DEBUG with ``verbose``)."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(message)s",
        datefmt="%H:%M:%S",
    )


def run_main(
    main: Callable[[Sequence[str] | None], int | None], argv: Sequence[str] | None = None
) -> int:
    """Run a command's ``main``; user errors print one line and return exit code 2.

    Ctrl-C returns 130 after the command's own cleanup (runs save as they go, so an
    interrupted run can be resumed with ``--resume``).
    """
    try:
        return int(main(argv) or 0)
    except Exception as exc:
        if not is_user_error(exc):
            raise
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(
            "interrupted; the run folder holds everything done so far (use --resume)",
            file=sys.stderr,
        )
        return 130


__all__ = [
    "UsageError",
    "add_config_argument",
    "dump_config",
    "load_yaml_config",
    "parse_with_config",
    "resolved_config",
    "run_main",
    "save_config",
    "setup_logging",
]
