"""fewshot from Python: the commands as functions, their run folders as DataFrames.

Each function takes the command's typed configuration (``SplitConfig``, ``ScoreConfig``, ...),
or its fields as keyword arguments (the names of the flags, with underscores; values as on the
command line or in ``--config`` YAML), or both (the keywords override the configuration's
fields). It resolves the configuration as the command does, runs the command's own code
(``execute``), so the same files are written and the same closing table is printed, and
returns a result object that knows where the files are and loads them as DataFrames. Mistakes
raise :class:`fewshot.errors.UsageError` (the command's exit code 2) instead of exiting.

>>> import fewshot
>>> run = fewshot.split(metric="snip", depth=2, C=8, N=1)        # doctest: +SKIP
>>> run.leaves()                                                   # doctest: +SKIP

``fewshot.split`` is both the command module (``python -m fewshot.split``) and, called, this
module's :func:`split`: see :class:`fewshot.cli.CommandModule` and docs/api.md.

Defaults: every default is the command's. One difference bites: ``split`` uses the
``ly-manson`` recipe (the framework paper's code) and ``score`` the ``zero-cost-nas`` recipe
(Abdelfattah et al.'s conventions, under which the published correlations were measured);
pass ``recipe=...`` to either to make them agree.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import fewshot.score as _score_cmd
import fewshot.search.__main__ as _search_cmd
import fewshot.split as _split_cmd
import fewshot.train as _train_cmd
from fewshot.analysis.frames import (
    load_curves,
    load_leaves,
    load_ranking,
    load_scores,
    load_search,
    load_search_run,
    load_splits,
)
from fewshot.config import CommonOptions, make_config, values_from_mapping
from fewshot.experiments.consistency import DistanceConfig, report_distance
from fewshot.run_folder import CURVES_FIGURE, SEARCH_FIGURE, TREE, TREE_FIGURE
from fewshot.score import ScoreConfig
from fewshot.search.__main__ import SearchConfig
from fewshot.splitting.run import SplitConfig
from fewshot.splitting.tree import SplitTree, load_tree
from fewshot.train import TrainConfig

if TYPE_CHECKING:
    import pandas as pd

    from fewshot.analysis.split_distance import DistanceReport

C = TypeVar("C", bound=CommonOptions)


class CommandFailed(RuntimeError):
    """A command finished with failed tasks (its exit code 1): running it again does only what
    is missing."""


def configure(cls: type[C], config: C | None, options: dict[str, Any], name: str) -> C:
    """``config`` (or the defaults) with ``options`` applied, checked and resolved as the
    command resolves its flags."""
    options = {k: _comma_list(cls, k, v) for k, v in options.items()}
    values = values_from_mapping(cls, options, f"fewshot.{name}()")
    if config is not None:
        if not isinstance(config, cls):
            raise TypeError(f"fewshot.{name}() takes a {cls.__name__}, not {type(config)}")
        base = {f.name: getattr(config, f.name) for f in dataclasses.fields(config) if f.init}
        values = {**base, **values}
    return make_config(cls, values)


def _comma_list(cls: type, key: str, value: Any) -> Any:
    """A list given for a text field that takes a comma list (``score``'s ``archs``) joined,
    as the command line would give it; every other value unchanged."""
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        return value
    field = {f.name: f for f in dataclasses.fields(cls)}.get(key.replace("-", "_"))
    if field is None or "list" in str(field.type):  # a list field takes the list itself
        return value
    return ",".join(value)


def _run(execute: Any, config: CommonOptions, name: str) -> None:
    code = execute(config)
    if code:
        raise CommandFailed(f"fewshot.{name} finished with failures (see above); run it again")


# -- results -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class SplitResult:
    """A split run folder: ``tree.json``, ``config.yaml``, ``tree.png``."""

    run_dir: Path
    config: SplitConfig

    @property
    def tree(self) -> SplitTree:
        return load_tree(self.run_dir / TREE)

    @property
    def figure(self) -> Path:
        return self.run_dir / TREE_FIGURE

    def leaves(self) -> pd.DataFrame:
        """One row per leaf (:func:`fewshot.analysis.frames.load_leaves`)."""
        return load_leaves(self.run_dir)

    def splits(self) -> pd.DataFrame:
        """One row per split, with ``decided_by`` (:func:`fewshot.analysis.frames.load_splits`)."""
        return load_splits(self.run_dir)


@dataclass(frozen=True)
class ScoreResult:
    """A score folder: ``scores.csv``, ``config.yaml``, and when judged ``correlations.json``
    and ``plots/<metric>.png``."""

    out: Path
    config: ScoreConfig

    def scores(self) -> pd.DataFrame:
        """One row per arch, joined with the benchmark's accuracy when judged."""
        return load_scores(self.out, benchmark=self.config.benchmark)

    def correlations(self) -> pd.DataFrame:
        """One row per metric: Spearman, Kendall and their intervals (empty when unjudged)."""
        import pandas as pd

        path = self.out / "correlations.json"
        return pd.DataFrame(json.loads(path.read_text()) if path.is_file() else [])


@dataclass(frozen=True)
class TrainResult:
    """A trained split run folder: ``leaves/<id>/``, ``search.json``, ``search.png``,
    ``curves.png``."""

    run_dir: Path
    config: TrainConfig

    def search(self) -> pd.DataFrame:
        """One row per (search, leaf, arch) (:func:`fewshot.analysis.frames.load_search`)."""
        return load_search(self.config.output_dir)

    def curves(self) -> pd.DataFrame:
        """One row per (leaf, epoch) (:func:`fewshot.analysis.frames.load_curves`)."""
        return load_curves(self.config.output_dir)

    @property
    def figure(self) -> Path:
        """``search.png`` (held-out vs benchmark accuracy; drawn when judged)."""
        return self.config.output_dir / SEARCH_FIGURE

    @property
    def curves_figure(self) -> Path:
        """``curves.png``: the leaves' training curves."""
        return self.config.output_dir / CURVES_FIGURE


@dataclass(frozen=True)
class DistanceResult:
    """A split-distance folder: ``split_distance.json``, ``table.md``, the two figures."""

    out: Path
    config: DistanceConfig
    report: DistanceReport

    def table(self) -> pd.DataFrame:
        """One row per (metric, kind, level): ``kind`` internal or external, ``level`` 0 for
        all levels together, mean, std and pair counts (a "-" of the table is NaN here)."""
        import pandas as pd

        rows = []
        for metric, m in self.report.metrics.items():
            parts = [("internal", 0, m.internal), ("external", 0, m.external)]
            parts += [("internal", lv, s) for lv, s in m.internal_by_level.items()]
            parts += [("external", lv, s) for lv, s in m.external_by_level.items()]
            for kind, level, s in parts:
                rows.append({
                    "metric": metric, "kind": kind, "level": int(level), "mean": s.mean,
                    "std": s.std, "pairs": s.n_pairs, "skipped": s.n_skipped,
                })  # fmt: skip
        return pd.DataFrame(rows).astype({"mean": float, "std": float})


@dataclass(frozen=True)
class SearchRunResult:
    """A ``fewshot.search`` folder: ``summary.json`` and ``curves.png`` (or ``filter.json``)."""

    out: Path
    config: SearchConfig

    @property
    def summary(self) -> dict[str, Any]:
        name = "filter.json" if self.config.filter else "summary.json"
        return json.loads((self.out / name).read_text())

    def archs(self) -> pd.DataFrame:
        """One row per (repeat, model trained) (:func:`fewshot.analysis.frames.load_search_run`)."""
        return load_search_run(self.out)


# -- the commands as functions ---------------------------------------------------------------


def split(config: SplitConfig | None = None, /, **options: Any) -> SplitResult:
    """``python -m fewshot.split``: split the supernet with a metric (the ``ly-manson`` recipe
    by default). Writes ``OUT/NAME/{tree.json, config.yaml, tree.png}``; a finished run folder
    with the same settings is reported, not redone."""
    cfg = configure(SplitConfig, config, options, "split")
    _run(_split_cmd.execute, cfg, "split")
    return SplitResult(Path(cfg.out) / str(cfg.name), cfg)


def score(config: ScoreConfig | None = None, /, **options: Any) -> ScoreResult:
    """``python -m fewshot.score``: score archs with zero-cost metrics (the ``zero-cost-nas``
    recipe by default, unlike ``split``), correlated with NATS-Bench when the data is the
    benchmark's. ``metrics`` takes a list or a comma string."""
    cfg = configure(ScoreConfig, config, options, "score")
    _run(_score_cmd.execute, cfg, "score")
    return ScoreResult(Path(cfg.out), cfg)


def train(
    run_dir: str | Path | None = None, config: TrainConfig | None = None, /, **options: Any
) -> TrainResult:
    """``python -m fewshot.train RUN_DIR``: train the leaves of a split run (a path, or the
    :class:`SplitResult` of :func:`split`), search inside them, judge the search."""
    if isinstance(run_dir, TrainConfig):
        run_dir, config = None, run_dir
    if isinstance(run_dir, SplitResult):
        run_dir = run_dir.run_dir
    if run_dir is not None:
        options = {"run_dir": run_dir, **options}
    cfg = configure(TrainConfig, config, options, "train")
    _run(_train_cmd.execute, cfg, "train")
    return TrainResult(Path(str(cfg.run_dir)), cfg)


def distance(*paths: str | Path | SplitResult, **options: Any) -> DistanceResult:
    """``python -m fewshot.distance PATH...``: internal and external split distance of split
    trees (tree files, run folders, folders of run folders, or :class:`SplitResult` objects)."""
    config = options.pop("config", None)
    if paths:
        options["paths"] = [str(p.run_dir if isinstance(p, SplitResult) else p) for p in paths]
    cfg = configure(DistanceConfig, config, options, "distance")
    from fewshot.config import apply_common

    apply_common(cfg)
    report = report_distance(cfg)
    return DistanceResult(Path(cfg.out), cfg, report)


def search(config: SearchConfig | None = None, /, **options: Any) -> SearchRunResult:
    """``python -m fewshot.search``: zero-cost-guided NAS on NATS-Bench (or ``filter=True``,
    the proxy-filtered pipeline)."""
    cfg = configure(SearchConfig, config, options, "search")
    _run(_search_cmd.execute, cfg, "search")
    return SearchRunResult(Path(str(cfg.out)), cfg)


__all__ = [
    "CommandFailed",
    "DistanceConfig",
    "DistanceResult",
    "ScoreConfig",
    "ScoreResult",
    "SearchConfig",
    "SearchRunResult",
    "SplitConfig",
    "SplitResult",
    "TrainConfig",
    "TrainResult",
    "configure",
    "distance",
    "load_curves",
    "load_leaves",
    "load_ranking",
    "load_scores",
    "load_search",
    "load_search_run",
    "load_splits",
    "score",
    "search",
    "split",
    "train",
]
