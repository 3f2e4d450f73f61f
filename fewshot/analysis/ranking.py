"""How well a supernet ranks architectures: the arch sample, ranking quality, intervals.

Numpy/scipy only (figures live in :mod:`fewshot.plotting.ranking`). Used by the few-shot vs
one-shot experiment (``tools/few_vs_one_shot.py``), but nothing here knows about training:
a method is a vector of predicted scores for a fixed sample of archs, plus the leaf that
scored each arch.

Definitions (the experiment's README repeats them):

- **pooled** Kendall tau-b / Spearman rho: over every sampled arch, whatever leaf scored it;
- **per leaf**: the same within the archs of one leaf (``None`` with fewer than 3 archs);
- **picked accuracy**: the true accuracy of the arch with the highest predicted score (first
  in sample order on ties), i.e. the arch the method would return;
- **top-k regret**: the best true accuracy in the sample minus the best true accuracy among the
  method's top-k predicted archs (0 when the sample's best is in its top k);
- **top-10% tau**: Kendall tau among the archs whose true accuracy is in the sample's top 10%
  (what a search that already found the good region still has to get right).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

from fewshot.correlation import kendall_tau, spearman_rho

MIN_LEAF_ARCHS = 3
TOP_FRACTION = 0.1


def stratified_sample(accuracies: np.ndarray, n: int, seed: int) -> list[int]:
    """``n`` indices into ``accuracies``, one drawn uniformly from each of ``n`` equal-count
    strata of the sorted accuracies (so the sample spans the whole accuracy range).

    Deterministic given ``(accuracies, n, seed)``; returned in ascending index order.
    """
    acc = np.asarray(accuracies, dtype=float)
    if not 1 <= n <= acc.size:
        raise ValueError(f"cannot draw {n} archs from {acc.size}: need 1 <= n <= {acc.size}")
    if not np.all(np.isfinite(acc)):
        raise ValueError("the benchmark accuracies contain NaN or inf; cannot stratify")
    order = np.argsort(acc, kind="stable")
    rng = np.random.default_rng(seed)
    picks = [int(rng.choice(stratum)) for stratum in np.array_split(order, n)]
    return sorted(picks)


def top_fraction_tau(
    predicted: Sequence[float], true: Sequence[float], fraction: float = TOP_FRACTION
) -> float | None:
    """Kendall tau among the archs whose true accuracy ranks in the top ``fraction`` of the
    sample (at least 3 archs; ``None`` when fewer exist)."""
    pred, acc = np.asarray(predicted, dtype=float), np.asarray(true, dtype=float)
    n = max(MIN_LEAF_ARCHS, int(np.ceil(fraction * acc.size)))
    if acc.size < n:
        return None
    top = np.argsort(-acc, kind="stable")[:n]
    return kendall_tau(pred[top], acc[top])


def picked_index(predicted: np.ndarray) -> int:
    """Index of the highest predicted score (the first one on ties)."""
    return int(np.argmax(predicted))


def top_k_regret(predicted: np.ndarray, true: np.ndarray, k: int) -> float:
    """Best true accuracy in the sample minus the best among the ``k`` top-predicted archs."""
    top = np.argsort(-predicted, kind="stable")[:k]
    return float(true.max() - true[top].max())


@dataclass(frozen=True)
class RankingQuality:
    """Ranking quality of one method on one seed (see the module docstring)."""

    kendall_tau: float | None
    spearman: float | None
    picked_arch: int
    picked_accuracy: float
    regret_top_k: float
    top_k: int
    per_leaf: dict[str, dict[str, float | int | None]]
    kendall_tau_top: float | None = None

    def to_dict(self) -> dict[str, object]:
        return {
            "kendall_tau": self.kendall_tau,
            "spearman": self.spearman,
            "picked_arch": self.picked_arch,
            "picked_accuracy": self.picked_accuracy,
            f"regret_top{self.top_k}": self.regret_top_k,
            "kendall_tau_top10pct": self.kendall_tau_top,
            "per_leaf": self.per_leaf,
        }


def ranking_quality(
    predicted: Sequence[float],
    true: Sequence[float],
    leaves: Sequence[str],
    *,
    top_k: int = 10,
) -> RankingQuality:
    """Pooled and per-leaf rank correlations, the picked arch and its top-k regret.

    ``predicted[i]`` is the score the method gave sampled arch ``i`` (with the leaf
    ``leaves[i]`` that contains it), ``true[i]`` its benchmark accuracy. A non-finite
    prediction is an error: a method that cannot score an arch must say so, not rank it.
    """
    pred = np.asarray(predicted, dtype=float)
    acc = np.asarray(true, dtype=float)
    if not pred.shape == acc.shape == (len(leaves),):
        raise ValueError(
            f"predicted ({pred.size}), true ({acc.size}) and leaves ({len(leaves)}) differ in length"
        )
    if pred.size == 0:
        raise ValueError("no archs to rank")
    if not np.all(np.isfinite(pred)):
        raise ValueError(f"{int(np.sum(~np.isfinite(pred)))} predicted scores are NaN or inf")
    per_leaf: dict[str, dict[str, float | int | None]] = {}
    leaf_array = np.asarray(leaves)
    for leaf in dict.fromkeys(leaves):
        inside = leaf_array == leaf
        enough = int(inside.sum()) >= MIN_LEAF_ARCHS
        per_leaf[str(leaf)] = {
            "archs": int(inside.sum()),
            "kendall_tau": kendall_tau(pred[inside], acc[inside]) if enough else None,
            "spearman": spearman_rho(pred[inside], acc[inside]) if enough else None,
        }
    picked = picked_index(pred)
    return RankingQuality(
        kendall_tau=kendall_tau(pred, acc),
        spearman=spearman_rho(pred, acc),
        picked_arch=picked,
        picked_accuracy=float(acc[picked]),
        regret_top_k=top_k_regret(pred, acc, top_k),
        top_k=top_k,
        per_leaf=per_leaf,
        kendall_tau_top=top_fraction_tau(pred, acc),
    )


def mean_tau_difference(
    method: np.ndarray, baseline: np.ndarray, true: np.ndarray
) -> Callable[[np.ndarray], float]:
    """The statistic for :func:`tau_difference_interval`: given resampled arch indices, the
    mean over seeds of ``tau(method) - tau(baseline)`` on those archs."""

    def statistic(indices: np.ndarray) -> float:
        idx = np.asarray(indices, dtype=int)
        diffs = [
            (kendall_tau(m[idx], true[idx]) or 0.0) - (kendall_tau(b[idx], true[idx]) or 0.0)
            for m, b in zip(method, baseline, strict=True)
        ]
        return float(np.mean(diffs))

    return statistic


@dataclass(frozen=True)
class Interval:
    """A point estimate with a bootstrap confidence interval."""

    estimate: float
    low: float
    high: float
    confidence: float

    def to_dict(self) -> dict[str, float]:
        return {
            "estimate": self.estimate,
            "low": self.low,
            "high": self.high,
            "confidence": self.confidence,
        }


def tau_difference_interval(
    method: Sequence[Sequence[float]],
    baseline: Sequence[Sequence[float]],
    true: Sequence[float],
    *,
    confidence: float = 0.95,
    n_resamples: int = 1000,
    seed: int = 0,
    resample_seeds: bool = False,
) -> Interval:
    """Mean over seeds of Kendall tau(method) - tau(baseline), with a paired bootstrap over
    the sampled archs (``scipy.stats.bootstrap``, percentile method).

    ``resample_seeds``: each replicate also draws the training seeds with replacement (a
    two-level bootstrap over seeds and archs, paired: method and baseline share both draws), so
    the interval includes the spread between training runs, not only the arch sample's.

    ``method`` and ``baseline`` are ``(seeds, archs)`` predictions for the same archs; each
    bootstrap replicate resamples the archs once and applies the same resample to both methods
    and every seed, so the interval reflects which archs were sampled, paired across methods.
    With 3 training seeds the seeds' spread is reported separately (it is too few to resample).
    """
    m = np.asarray(method, dtype=float)
    b = np.asarray(baseline, dtype=float)
    acc = np.asarray(true, dtype=float)
    if m.shape != b.shape or m.ndim != 2 or m.shape[1] != acc.size:
        raise ValueError(
            f"method {m.shape} and baseline {b.shape} must both be (seeds, {acc.size} archs)"
        )
    statistic = mean_tau_difference(m, b, acc)
    indices = np.arange(acc.size)
    if resample_seeds:
        return _seed_and_arch_bootstrap(m, b, acc, confidence, n_resamples, seed)
    result = stats.bootstrap(
        (indices,),
        statistic,
        vectorized=False,
        n_resamples=n_resamples,
        confidence_level=confidence,
        method="percentile",
        rng=np.random.default_rng(seed),
    )
    ci = result.confidence_interval
    return Interval(statistic(indices), float(ci.low), float(ci.high), confidence)


def tau_interval(
    predicted: Sequence[float],
    true: Sequence[float],
    *,
    confidence: float = 0.95,
    n_resamples: int = 1000,
    seed: int = 0,
) -> Interval:
    """Kendall tau of one seed-free ranking (a free baseline: parameter count, a zero-cost
    score) against ``true``, with a percentile bootstrap interval over the archs."""
    pred, acc = np.asarray(predicted, dtype=float), np.asarray(true, dtype=float)
    if pred.shape != acc.shape or pred.ndim != 1:
        raise ValueError(f"predicted {pred.shape} and true {acc.shape} must be the same 1-d shape")
    rng = np.random.default_rng(seed)
    replicates = np.empty(n_resamples)
    for r in range(n_resamples):
        idx = rng.integers(0, acc.size, acc.size)
        replicates[r] = kendall_tau(pred[idx], acc[idx]) or 0.0
    alpha = (1.0 - confidence) / 2
    low, high = np.quantile(replicates, [alpha, 1.0 - alpha])
    return Interval(kendall_tau(pred, acc) or 0.0, float(low), float(high), confidence)


def _seed_and_arch_bootstrap(
    method: np.ndarray,
    baseline: np.ndarray,
    true: np.ndarray,
    confidence: float,
    n_resamples: int,
    seed: int,
) -> Interval:
    """Percentile interval of the mean tau difference, resampling seeds, then archs."""
    rng = np.random.default_rng(seed)
    n_seeds, n_archs = method.shape
    replicates = np.empty(n_resamples)
    for r in range(n_resamples):
        seeds = rng.integers(0, n_seeds, n_seeds)
        archs = rng.integers(0, n_archs, n_archs)
        replicates[r] = mean_tau_difference(method[seeds], baseline[seeds], true)(archs)
    alpha = (1.0 - confidence) / 2
    low, high = np.quantile(replicates, [alpha, 1.0 - alpha])
    estimate = mean_tau_difference(method, baseline, true)(np.arange(n_archs))
    return Interval(estimate, float(low), float(high), confidence)


__all__ = [
    "Interval",
    "RankingQuality",
    "mean_tau_difference",
    "picked_index",
    "ranking_quality",
    "stratified_sample",
    "tau_difference_interval",
    "tau_interval",
    "top_fraction_tau",
    "top_k_regret",
]
