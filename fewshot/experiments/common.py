"""What every experiment command does first and last: first parse its flags, apply the common
options, and keep Lightning to warnings (one log line per trained supernet is enough) unless
``--verbose``; last write its results JSON with the ``NAME_table.md`` beside it."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypeVar

from fewshot.config import CommonOptions, apply_common, parse_config
from fewshot.io import atomic_write_json, atomic_write_text

C = TypeVar("C", bound=CommonOptions)


def start_experiment(config_cls: type[C], argv: Sequence[str] | None, *, prog: str) -> C:
    """The parsed configuration of an experiment command, logging and threads set up."""
    config = parse_config(config_cls, argv, prog=prog)
    apply_common(config)
    if not config.verbose:  # no Lightning banners and tips between the experiment's own lines
        logging.getLogger("pytorch_lightning").setLevel(logging.WARNING)
    return config


def table_path(path: str | os.PathLike[str]) -> Path:
    """The Markdown table beside the results JSON ``path``: ``NAME.json`` -> ``NAME_table.md``."""
    path = Path(path)
    return path.with_name(f"{path.stem}_table.md")


def write_results(
    path: str | os.PathLike[str],
    result: Any,
    table_text: str,
    *,
    table: str | os.PathLike[str] | None = None,
) -> Path:
    """Write ``result`` as the JSON ``path``, then ``table_text`` as its Markdown table (at
    :func:`table_path` unless ``table`` names another file); return the table's path.

    Each file is written atomically (:mod:`fewshot.io`), so a crash leaves either file whole or
    as it was; the JSON goes first, so a table never describes numbers that were not saved.
    """
    atomic_write_json(path, result)
    return atomic_write_text(table_path(path) if table is None else table, table_text)


SAMPLING_DEFAULT = "uniform"
"""``--sampling``'s default: :data:`fewshot.training.sampling.DEFAULT_SAMPLING`, restated so
that declaring an experiment's flags imports no torch (a test holds the two equal)."""


def sampling_rules() -> list[str]:
    """The path-sampling rules ``--sampling`` accepts (imports the training layer when called)."""
    from fewshot.training.sampling import SAMPLING_RULES

    return list(SAMPLING_RULES)


def sampling_option(**kwargs: object) -> object:
    """The ``--sampling`` field of the experiments that train supernets: the archs of each
    optimiser step (:mod:`fewshot.training.sampling`); result-affecting, so a run resumed with
    another rule is refused."""
    from fewshot.config import option

    return option(
        SAMPLING_DEFAULT,
        help="path-sampling rule of supernet training: uniform (one uniform path per step), "
        "fairnas (every op once per step), sandwich (largest, smallest, 2 uniform), balanced "
        "(a group of equally nonlinear archs, then an arch in it)",
        choices=sampling_rules,
        **kwargs,
    )


__all__ = [
    "SAMPLING_DEFAULT",
    "sampling_option",
    "sampling_rules",
    "start_experiment",
    "table_path",
    "write_results",
]
