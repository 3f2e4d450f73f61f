"""What every experiment command does first: parse its flags, apply the common options, and
keep Lightning to warnings (one log line per trained supernet is enough) unless ``--verbose``."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TypeVar

from fewshot.config import CommonOptions, apply_common, parse_config

C = TypeVar("C", bound=CommonOptions)


def start_experiment(config_cls: type[C], argv: Sequence[str] | None, *, prog: str) -> C:
    """The parsed configuration of an experiment command, logging and threads set up."""
    config = parse_config(config_cls, argv, prog=prog)
    apply_common(config)
    if not config.verbose:  # no Lightning banners and tips between the experiment's own lines
        logging.getLogger("pytorch_lightning").setLevel(logging.WARNING)
    return config


__all__ = ["start_experiment"]
