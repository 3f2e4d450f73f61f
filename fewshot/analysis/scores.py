"""A scores CSV against the benchmark: rank correlations per metric and the proxies' vote.

Numbers only (the score command prints and writes them, :mod:`fewshot.plotting` draws them).

May import: :mod:`fewshot.scoring` (the CSV), :mod:`fewshot.spaces` (the benchmark adapter of
the scored space), :mod:`fewshot.metrics` (the vote), :mod:`fewshot.correlation`.
"""

from __future__ import annotations

import logging
from pathlib import Path

from fewshot.correlation import Correlation, rank_correlations
from fewshot.metrics.vote import VOTE_METRICS, finite_vote
from fewshot.scoring.store import ScoreFile
from fewshot.spaces import SearchSpace, get_space

log = logging.getLogger("fewshot")


def correlate(
    store: ScoreFile, benchmark_path: Path, dataset: str, *, space: SearchSpace | None = None
) -> tuple[list[Correlation], list[float], list[int]]:
    """(correlations, accuracies, kept row numbers) of every metric column vs the benchmark of
    the scored ``space`` (default ``nb201``), opened through the space's adapter."""
    bench = (space or get_space()).open_benchmark(benchmark_path)
    keep, acc = [], []
    for i, arch in enumerate(store.archs()):
        try:
            acc.append(bench.accuracy(arch, dataset))
            keep.append(i)
        except ValueError:
            log.warning("arch %s is not in the benchmark: left out of the correlations", arch)
    columns = {m: store.column(m)[keep] for m in store.metrics}
    return rank_correlations(columns, acc), acc, keep


def vote(store: ScoreFile, acc: list[float], keep: list[int]) -> float | None:
    """Abdelfattah et al.'s vote (majority of synflow, jacob_cov, snip) as the fraction of arch
    pairs ordered correctly, over the archs where all three are finite; ``None`` when one of
    the three was not scored."""
    if not set(VOTE_METRICS) <= set(store.metrics):
        return None
    return finite_vote({m: store.column(m)[keep] for m in VOTE_METRICS}, acc)[1]


__all__ = ["correlate", "vote"]
