"""``python -m fewshot.distance RUNS...``: split distance of saved splitting trees (SPEC 6).

Reads tree files, run folders or folders of run folders; groups the trees by metric (one tree
per seed, one configuration per metric); prints the table of internal and external split
distance (overall and by level); writes ``split_distance.json``, ``table.md`` and the figures
``internal_external.png`` (Fig. 1) and ``by_level.png`` (Fig. 2) into ``--out``. The work is
:func:`fewshot.experiments.consistency.report_distance` (the sweep's analysis step).

From Python: ``fewshot.distance(...)`` calls :func:`fewshot.api.distance` (this module is callable;
see docs/api.md), which runs this command's code and returns a result object.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from fewshot.cli import callable_command, run_main
from fewshot.config import apply_common, parse_config
from fewshot.experiments.consistency import (
    FIG1_NAME,
    FIG2_NAME,
    JSON_NAME,
    TABLE_NAME,
    DistanceConfig,
    report_distance,
    write_outputs,
)


def _main(argv: Sequence[str] | None) -> int:
    config = parse_config(DistanceConfig, argv, prog="python -m fewshot.distance")
    apply_common(config)
    report_distance(config)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; user errors (bad paths, corrupt or mixed trees) exit 2 with one line."""
    return run_main(_main, argv)


__all__ = [
    "FIG1_NAME",
    "FIG2_NAME",
    "JSON_NAME",
    "TABLE_NAME",
    "DistanceConfig",
    "main",
    "write_outputs",
]


callable_command(__name__, "distance")  # fewshot.distance(...) is fewshot.api.distance


if __name__ == "__main__":
    sys.exit(main())
