"""Repeats of a search, their curves and the summary statistics of SPEC 7's protocol.

A run trains ``budget`` archs in the order its searcher proposes them. Its *curve* at ``k`` is
the reported (test) accuracy of the arch with the best selection accuracy among the first
``k`` trained (the earliest among ties); with test-for-selection this is the best test
accuracy so far. :func:`summarise` gives, over repeats, ``acc_at_50`` (median and quartiles of
the curve after 50 trained models) and ``models_to_target`` (trained models until the curve
first reaches the target; runs that never do count as ``budget + 1``, printed ``>budget``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from fewshot.errors import UsageError
from fewshot.search.algorithms import AlgoSettings, Searcher, check_search, make_searcher
from fewshot.search.oracle import Oracle
from fewshot.search.searchable import Searchable

if TYPE_CHECKING:
    from fewshot.executor import Executor

SearcherFactory = Callable[[np.random.Generator], Searcher]


def repeat_rng(seed: int, repeat: int) -> np.random.Generator:
    """The generator of one repeat: depends only on ``(seed, repeat)``."""
    return np.random.default_rng([int(seed), int(repeat)])


def run_searcher(searcher: Searcher, oracle: Oracle, budget: int) -> np.ndarray:
    """Train ``budget`` archs proposed by ``searcher``; their benchmark indices in order."""
    trained = np.empty(budget, dtype=np.int64)
    for t in range(budget):
        index = searcher.propose()
        searcher.observe(index, float(oracle.select_acc[index]))
        trained[t] = index
    return trained


def curve(oracle: Oracle, trained: np.ndarray) -> np.ndarray:
    """Reported accuracy of the best-selected arch after each trained model."""
    sel = oracle.select_acc[trained]
    best = np.zeros(len(trained), dtype=np.int64)  # position of the best-so-far arch
    for t in range(1, len(trained)):
        best[t] = t if sel[t] > sel[best[t - 1]] else best[t - 1]
    return oracle.report_acc[trained[best]]


@dataclass
class SearchResult:
    """Every repeat's trained archs and curve, with how long they took."""

    trained: np.ndarray  # (repeats, budget) benchmark indices
    curves: np.ndarray  # (repeats, budget) reported accuracy of the best-selected arch
    seconds: float


@dataclass(frozen=True)
class RepeatJob:
    """What every repeat needs besides its number (shipped to Ray workers once)."""

    factory: SearcherFactory
    oracle: Oracle
    budget: int
    seed: int


def run_repeat(job: RepeatJob, repeat: int) -> np.ndarray:
    """One repeat's trained archs; a function of ``(seed, repeat)`` only, wherever it runs."""
    return run_searcher(job.factory(repeat_rng(job.seed, repeat)), job.oracle, job.budget)


def run_repeats(
    factory: SearcherFactory,
    oracle: Oracle,
    budget: int,
    repeats: int,
    seed: int,
    executor: Executor | None = None,
) -> SearchResult:
    """``repeats`` independent runs, repeat ``r`` driven by :func:`repeat_rng` ``(seed, r)``;
    one after the other here, or one task each on ``executor`` (the same result)."""
    if budget < 1:
        raise UsageError(f"the budget (trained models) must be >= 1, got {budget}")
    if repeats < 1:
        raise UsageError(f"repeats must be >= 1, got {repeats}")
    start = time.perf_counter()
    job = RepeatJob(factory, oracle, budget, seed)
    if executor is None:
        trained = np.stack([run_repeat(job, r) for r in range(repeats)])
    else:
        trained = np.stack(_repeats_on(executor, job, repeats))
    curves = np.stack([curve(oracle, t) for t in trained])
    return SearchResult(trained, curves, time.perf_counter() - start)


def _repeats_on(executor: Executor, job: RepeatJob, repeats: int) -> list[np.ndarray]:
    """Every repeat as a task, in repeat order; :class:`~fewshot.executor.TasksFailed` names
    the repeats that failed once all have finished."""
    from fewshot.executor import Task, TasksFailed

    tasks = [Task(f"repeat {r}", r) for r in range(repeats)]
    outcomes = sorted(executor.map(run_repeat, tasks, job), key=lambda o: o.index)
    failed = [o for o in outcomes if not o.ok]
    if failed:
        raise TasksFailed(failed)
    return [o.value for o in outcomes]


def search(
    algo: str,
    space: Searchable,
    cfg: AlgoSettings,
    *,
    budget: int,
    repeats: int,
    seed: int = 0,
) -> SearchResult:
    """Run ``algo`` on ``space`` (the factory for the common case)."""
    check_search(algo, space, cfg)
    return run_repeats(
        lambda rng: make_searcher(algo, space, rng, cfg), space.oracle, budget, repeats, seed
    )


# -- statistics -------------------------------------------------------------------------------


def quartiles(values: np.ndarray) -> dict[str, float]:
    q25, q50, q75 = np.quantile(np.asarray(values, dtype=float), [0.25, 0.5, 0.75])
    return {"median": float(q50), "q25": float(q25), "q75": float(q75)}


def models_to_target(curves: np.ndarray, target: float) -> np.ndarray:
    """Per repeat, trained models until the curve reaches ``target`` (``budget + 1``: never)."""
    reached = curves >= target
    return np.where(reached.any(axis=1), reached.argmax(axis=1) + 1, curves.shape[1] + 1)


def summarise(curves: np.ndarray, target: float, at: int = 50) -> dict:
    """``acc_at_<at>`` quartiles (``None`` when the budget is shorter) and models-to-target."""
    budget = curves.shape[1]
    steps = models_to_target(curves, target)
    med = float(np.median(steps))
    return {
        f"acc_at_{at}": quartiles(curves[:, at - 1]) if budget >= at else None,
        "final": quartiles(curves[:, -1]),
        "models_to_target": {
            "target": target,
            "median": med if med <= budget else None,
            "median_text": f"{med:g}" if med <= budget else f">{budget}",
            **{
                k: float(v)
                for k, v in zip(("q25", "q75"), np.quantile(steps, [0.25, 0.75]), strict=True)
            },
            "reached": int((steps <= budget).sum()),
            "repeats": int(len(steps)),
        },
    }


__all__ = [
    "SearchResult",
    "curve",
    "curve_bands",
    "models_to_target",
    "quartiles",
    "repeat_rng",
    "RepeatJob",
    "run_repeat",
    "run_repeats",
    "run_searcher",
    "search",
    "summarise",
]


def curve_bands(curves: np.ndarray) -> dict[str, list[float]]:
    """Per trained-model count, the quartiles of the curves over repeats (for the figure)."""
    q25, q50, q75 = np.quantile(curves, [0.25, 0.5, 0.75], axis=0)
    return {"q25": q25.tolist(), "median": q50.tolist(), "q75": q75.tolist()}
