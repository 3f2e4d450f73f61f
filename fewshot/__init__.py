"""fewshot: few-shot NAS driven by zero-cost proxies, on NAS-Bench-201 and other search spaces.

Python API (docs/api.md; every function is the command of the same name, same defaults, same
files written, and returns a result object whose methods load the files as DataFrames):

    fewshot.split(metric="snip", depth=3, branch=2)   -> SplitResult (.tree, .leaves(), .splits())
    fewshot.score(num=50, metrics="synflow,snip")     -> ScoreResult (.scores(), .correlations())
    fewshot.train(run_dir, epochs=1)                  -> TrainResult (.search(), .curves())
    fewshot.distance(*runs, out="runs/distance")     -> DistanceResult (.report, .table())
    fewshot.search(algo="ae", proxy="synflow")        -> SearchRunResult (.summary, .archs())

Each takes the command's typed configuration (``fewshot.SplitConfig``, ``ScoreConfig``,
``TrainConfig``, ``DistanceConfig``, ``SearchConfig``) and/or its fields as keywords. Loaders
of run folders as pandas DataFrames (one row per thing):

    fewshot.load_scores(out)       scores.csv joined with the benchmark's accuracy
    fewshot.load_leaves(run_dir)   a split tree's leaves     fewshot.load_splits(run_dir)  its splits
    fewshot.load_search(run_dir)   train's search, one row per (search, leaf, arch)
    fewshot.load_curves(run_dir)   per-epoch training metrics of every leaf
    fewshot.load_search_run(out)   a fewshot.search run, one row per (repeat, model trained)

``fewshot.split`` etc. stay the command modules (``python -m fewshot.split``,
``from fewshot.split import SplitConfig``): calling the module calls the function
(:class:`fewshot.cli.CommandModule`). Defaults differ in one place: ``split`` uses the
``ly-manson`` recipe, ``score`` the ``zero-cost-nas`` recipe (pass ``recipe=`` to align them).

Search spaces (``--space``, ``space=``): ``nb201`` (default), ``nas-bench-macro``,
``tnb101-micro``; ``fewshot.spaces.get_space(name)`` gives one (docs/spaces.md).

The package is layered as the pipeline runs, bottom to top: plumbing (errors, io, registry,
tables; cli, correlation; config; executor, run_folder), spaces, models and the benchmark,
metrics, data, scoring, splitting, training, analysis, plotting, search and refine,
experiments, the commands (``split``, ``score``, ``train``, ``distance``; ``search`` and
``refine`` keep theirs in their packages), and on top the console script and the Python API
(``api``). Each layer imports only the layers below it and no library module imports a
command module: the contracts in ``.importlinter``, checked by ``.ci/run`` (``lint-imports``)
and ``tests/test_import_layers.py``. Nothing heavy (torch) is imported until an API name is
used.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

COMMANDS = ("split", "score", "train", "distance", "search")
"""Command modules that are also API functions (called, they run :mod:`fewshot.api`'s)."""

_FROM_API = (
    "load_scores", "load_leaves", "load_splits", "load_search", "load_curves",
    "load_search_run", "load_ranking", "SplitConfig", "ScoreConfig", "TrainConfig", "DistanceConfig",
    "SearchConfig", "SplitResult", "ScoreResult", "TrainResult", "DistanceResult",
    "SearchRunResult", "CommandFailed",
)  # fmt: skip

__all__ = ["__version__", *COMMANDS, *_FROM_API]


def __getattr__(name: str) -> Any:
    """The API, imported on first use (``import fewshot`` stays cheap)."""
    if name in COMMANDS:
        importlib.import_module("fewshot.api")  # the modules' calls resolve there
        return importlib.import_module(f"fewshot.{name}")
    if name in _FROM_API:
        return getattr(importlib.import_module("fewshot.api"), name)
    raise AttributeError(f"module 'fewshot' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
