"""``python -m fewshot.split``: split a search space's supernet (``--space``, default NB201) with
a metric (the main job).

Example::

    python -m fewshot.split --metric snip --depth 3 --branch 2

writes ``runs/snip-d3-b2-s0/``: ``tree.json`` (saved after every split), ``config.yaml`` (the
resolved configuration), ``tree.png``, and prints a summary table. Running the same command
again is safe: a finished run is reported (exit 0), an interrupted one continues (the splits
are the same as an uninterrupted run's), and other result-affecting settings are refused
naming the differences (exit 2; pick another ``--name``). A folder without a tree is never
overwritten.

From Python: ``fewshot.split(...)`` calls :func:`fewshot.api.split` (this module is callable;
see docs/api.md), which runs this command's code and returns a result object.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from fewshot.cli import callable_command, run_main
from fewshot.config import apply_common, parse_config
from fewshot.run_folder import CONFIG, TREE, TREE_FIGURE
from fewshot.splitting.run import SplitConfig, run_split
from fewshot.splitting.tree import SplitTree
from fewshot.tables import outputs_block

log = logging.getLogger("fewshot")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: user errors print one line and exit 2; Ctrl-C exits 130 (resumable)."""
    return run_main(_main, argv)


def _main(argv: Sequence[str] | None) -> int:
    """Resolve the configuration, split, report (:func:`execute`)."""
    return execute(parse_config(SplitConfig, argv, prog="python -m fewshot.split"))


def execute(config: SplitConfig) -> int:
    """What the command does with a resolved configuration: split
    (:func:`fewshot.splitting.run.run_split`), draw ``tree.png``, print the report; 0 when
    done. :func:`fewshot.api.split` calls it too."""
    apply_common(config)
    run = run_split(config, on_stop=_draw)
    if run.already_complete:
        _draw(run.tree, run.run_dir)  # cheap: the figure follows the installed version
        print(f"{run.run_dir} is already finished (same settings): nothing to do\n")
    return _finish(run.tree, run.run_dir)


def _draw(tree: SplitTree, run_dir: Path) -> None:
    from fewshot.plotting.tree import save_tree_figure

    save_tree_figure(tree, run_dir)


def _finish(tree: SplitTree, run_dir: Path) -> int:
    """Print the summary table, timings, leaf notes, (if incomplete) how to resume, and the
    paths of the files and figure the run folder holds."""
    from fewshot.splitting.tree_table import print_split_report

    print_split_report(tree, run_dir)
    figure = run_dir / TREE_FIGURE
    print(outputs_block([run_dir / TREE, run_dir / CONFIG], [figure] if figure.is_file() else []),
          end="")  # fmt: skip
    return 0


__all__ = ["SplitConfig", "execute", "main"]


callable_command(__name__, "split")  # fewshot.split(...) is fewshot.api.split


if __name__ == "__main__":
    sys.exit(main())
