"""``python -m fewshot.distance RUNS...``: split distance of saved splitting trees (SPEC 6).

Reads tree files, run folders or folders of run folders; groups the trees by metric (one tree
per seed, one configuration per metric); prints the table of internal and external split
distance (overall and by level); writes ``split_distance.json``, ``table.md`` and the figures
``internal_external.png`` (Fig. 1) and ``by_level.png`` (Fig. 2) into ``--out``.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from fewshot.analysis.split_distance import DistanceReport, analyse_paths, format_table
from fewshot.cli import run_main
from fewshot.config import CommonOptions, apply_common, option, parse_config, save_config
from fewshot.errors import UsageError
from fewshot.io import atomic_write_json, atomic_write_text

JSON_NAME = "split_distance.json"
TABLE_NAME = "table.md"
FIG1_NAME = "internal_external.png"
FIG2_NAME = "by_level.png"


@dataclass(kw_only=True)
class DistanceConfig(CommonOptions):
    """Internal/external split distance of splitting trees across seeds.

    The common ``--device``/``--data-option`` are accepted for a uniform vocabulary; the
    analysis reads tree files only and uses neither.
    """

    paths: list[Path] = option(
        [], positional=True, help="tree.json files, run folders, or parents", metavar="PATH"
    )
    out: Path = option(Path("runs/split_distance"), help="output folder")
    same_edge_only: bool = option(
        False, help="compare only splits on the same edge (default: any two splits, as partitions)"
    )
    allow_incomplete: bool = option(False, help="include trees of unfinished runs")
    no_plots: bool = option(False, help="write the JSON and table only")

    def resolve(self) -> DistanceConfig:
        if not self.paths:
            raise UsageError("give at least one tree file or run folder (see --help)")
        return self


def write_outputs(report: DistanceReport, out: Path, *, plots: bool = True) -> list[Path]:
    """Write the JSON report, the Markdown table and (unless ``plots`` is off) both figures."""
    written = [
        atomic_write_json(out / JSON_NAME, report.to_dict()),
        atomic_write_text(out / TABLE_NAME, format_table(report)),
    ]
    if plots:
        from fewshot.plotting.split_distance import plot_by_level, plot_internal_external

        written.append(plot_internal_external(report, out / FIG1_NAME))
        written.append(plot_by_level(report, out / FIG2_NAME))
    return written


def _main(argv: Sequence[str] | None) -> int:
    config = parse_config(DistanceConfig, argv, prog="python -m fewshot.distance")
    apply_common(config)
    report = analyse_paths(
        config.paths,
        same_edge_only=config.same_edge_only,
        allow_incomplete=config.allow_incomplete,
        progress=not config.no_progress,
    )
    print(format_table(report), end="")
    written = write_outputs(report, config.out, plots=not config.no_plots)
    save_config(config.out, config)
    print(f"wrote {', '.join(str(p) for p in written)}", file=sys.stderr)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; user errors (bad paths, corrupt or mixed trees) exit 2 with one line."""
    return run_main(_main, argv)


if __name__ == "__main__":
    sys.exit(main())
