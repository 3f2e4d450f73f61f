"""One search experiment from its settings: load the oracle and proxy, run, summarise, write.

This is the library behind ``python -m fewshot.search`` (and ``docs/search/reproduce.py``):
every function takes plain values, so the command-line layer only parses flags.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from fewshot.errors import UsageError
from fewshot.executor import Executor
from fewshot.io import atomic_write_json
from fewshot.scoring import ScoringSpec, load_scoring_data
from fewshot.search.algorithms import AlgoSettings, check_search, make_searcher
from fewshot.search.leaves import LeafSearch, leaf_masks, random_tree_masks
from fewshot.search.oracle import Oracle
from fewshot.search.proxy import ProxyTable, check_proxy, metric_scorer
from fewshot.search.run import SearchResult, curve_bands, run_repeats, summarise
from fewshot.search.searchable import Searchable
from fewshot.spaces import SearchSpace, get_space
from fewshot.spaces.base import DEFAULT_SPACE

log = logging.getLogger("fewshot")

DEFAULT_TARGETS = {"cifar10": 94.0, "cifar100": 73.0, "ImageNet16-120": 46.0}
"""Accuracy targets for ``models_to_target`` (SPEC 7 publishes only CIFAR-100's 73%)."""

SCORING_DATASETS = {
    "cifar10": "cifar10",
    "cifar100": "cifar100",
    "ImageNet16-120": "imagenet16-120",
}


def load_oracle(
    benchmark: str | Path | None,
    dataset: str,
    select: str = "auto",
    *,
    space: SearchSpace | None = None,
) -> Oracle:
    """``space``'s benchmark as arrays (``benchmark`` None: the space's ``find_benchmark``
    choice; ``space`` None: ``nb201``)."""
    space = get_space() if space is None else space
    path = space.find_benchmark(benchmark, required=True)
    assert path is not None
    return Oracle.from_benchmark(path, dataset, select, space=space)


def load_proxy(
    name: str,
    oracle: Oracle,
    *,
    tables: list[Path] = (),
    cache: Path | None = None,
    spec: ScoringSpec | None = None,
    data_root: Path | None = None,
    device: str = "cpu",
) -> ProxyTable:
    """A proxy table from scores CSVs. With ``spec`` (on-demand scoring), missing values are
    scored as it says (cached in ``cache``) and every table must have been scored with it;
    without, the tables must agree with each other (:class:`ProxyTable`)."""
    check_proxy(name)
    table = ProxyTable(name, oracle, cache=cache, spec=spec, data_root=data_root)
    for path in tables:
        table.load_csv(path)
    if spec is not None and not table.complete:
        table.scorer = make_scorer(name, spec, data_root=data_root, device=device)
    log.info("proxy %s: %d of %d archs known", name, int(table.known.sum()), len(oracle))
    return table


def make_scorer(
    name: str, spec: ScoringSpec, *, data_root: Path | None = None, device: str = "cpu"
):
    """A scorer with the batches, network and seed of ``spec`` (those of ``python -m
    fewshot.score`` with the same spec), built lazily: the data are loaded on the first
    missing value (none for a data-free metric)."""
    state: dict[str, Any] = {}

    def score(archs):
        if "fn" not in state:
            _, data = load_scoring_data(spec, data_root=data_root, metrics=[name])
            state["fn"] = metric_scorer(name, data, spec, device=device)
        return state["fn"](archs)

    return score


def proxy_spec(
    dataset: str,
    data_option: dict[str, Any] | None = None,
    *,
    space: SearchSpace | None = None,
) -> ScoringSpec:
    """The spec a search scores proxy values with: ``fewshot.score``'s defaults on the data set
    of the benchmark (:data:`SCORING_DATASETS`) or ``dataset`` when it is not a benchmark's, for
    the archs of ``space`` (default ``nb201``; named in the spec only when it is another, so
    NB201 specs stay as they were)."""
    named = {} if space is None or space.name == DEFAULT_SPACE else {"space": space.name}
    return ScoringSpec(
        dataset=SCORING_DATASETS.get(dataset, dataset),
        data_option=dict(data_option or {}),
        **named,  # type: ignore[arg-type]
    )


def run_search(
    algo: str,
    oracle: Oracle,
    settings: AlgoSettings,
    *,
    budget: int,
    repeats: int,
    seed: int = 0,
    proxy: ProxyTable | None = None,
    tree: Path | None = None,
    random_split: tuple[int, int] | None = None,
    leaf_choice: str = "results",
    leaf_stat: str = "median",
    executor: Executor | None = None,
) -> SearchResult:
    """``repeats`` runs of ``algo`` on the whole space, or across a tree's leaves (AE only);
    ``random_split=(depth, branch)`` draws a new random tree per repeat. ``executor``: run
    the repeats as its tasks (:func:`~fewshot.search.run.run_repeats`)."""
    if budget < 1:
        raise UsageError(f"the budget (trained models) must be >= 1, got {budget}")
    if tree is None and random_split is None:
        space = Searchable(oracle, None, proxy)
        check_search(algo, space, settings)
        return run_repeats(
            lambda rng: make_searcher(algo, space, rng, settings), oracle, budget, repeats, seed,
            executor,
        )  # fmt: skip
    if algo != "ae":
        raise UsageError(f"search across leaves runs aging evolution; got --algo {algo}")
    masks = leaf_masks(tree, oracle.space) if tree is not None else None

    def factory(rng: np.random.Generator) -> LeafSearch:
        leaves = (
            masks
            if masks is not None
            else random_tree_masks(*random_split, rng, space=oracle.space)
        )
        return LeafSearch(
            oracle, leaves, rng, settings, choice=leaf_choice, proxy=proxy, stat=leaf_stat
        )

    return run_repeats(factory, oracle, budget, repeats, seed, executor)


def summary_dict(
    result: SearchResult, oracle: Oracle, target: float, config: dict[str, Any]
) -> dict[str, Any]:
    """``summary.json``: statistics, every repeat's curve and trained archs, configuration."""
    return {
        **summarise(result.curves, target),
        "dataset": oracle.dataset,
        "selection": oracle.selection,
        "report": "test",
        "seconds": round(result.seconds, 3),
        "config": config,
        "bands": curve_bands(result.curves),
        "curves": np.round(result.curves, 4).tolist(),
        "trained": result.trained.tolist(),
    }


def write_summary(out: Path, summary: dict[str, Any], label: str) -> None:
    """``summary.json`` and ``curves.png`` (median and quartile band) into ``out``."""
    from fewshot.plotting.search import plot_search_curves

    atomic_write_json(out / "summary.json", summary)
    target = summary["models_to_target"]["target"]
    title = f"{summary['dataset']}: {label} ({summary['models_to_target']['repeats']} repeats)"
    plot_search_curves({label: summary["bands"]}, out / "curves.png", title=title, target=target)


__all__ = [
    "DEFAULT_TARGETS",
    "load_oracle",
    "load_proxy",
    "make_scorer",
    "proxy_spec",
    "run_search",
    "summary_dict",
    "write_summary",
]
