"""Rank correlation of metric scores with benchmark accuracy (pure numpy/scipy).

A low layer (it imports only :mod:`fewshot.tables`), so that training's evaluation, the
analyses, the plots and ``fewshot.score`` share it without importing one another.

Each metric is correlated over the archs where it has a finite value (pairwise-complete): a
metric undefined on some archs (e.g. naswot on a network that ignores its input) drops those
archs only, and the count of dropped archs is kept next to the coefficients so a reader can
see when two metrics were measured on different sets.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass

import numpy as np
from scipy import stats

from fewshot.tables import markdown_table


@dataclass(frozen=True)
class Correlation:
    """Spearman's rho and Kendall's tau (tau-b) of one metric against the ground truth.

    ``spearman``/``kendall`` are ``None`` when undefined (fewer than 3 archs or a constant
    column). ``n`` archs were used; ``dropped`` had no finite score.
    """

    metric: str
    n: int
    dropped: int
    spearman: float | None
    kendall: float | None

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def _defined(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def _undefined(x: np.ndarray, y: np.ndarray) -> bool:
    """A rank correlation needs two values and neither side constant."""
    return x.size < 2 or np.ptp(x) == 0 or np.ptp(y) == 0


def kendall_tau(x: Sequence[float], y: Sequence[float]) -> float | None:
    """Kendall tau-b of ``x`` vs ``y``; ``None`` when undefined (fewer than 2 values, a
    constant side)."""
    a, b = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    return None if _undefined(a, b) else _defined(stats.kendalltau(a, b).statistic)


def spearman_rho(x: Sequence[float], y: Sequence[float]) -> float | None:
    """Spearman rho of ``x`` vs ``y``; ``None`` when undefined (as :func:`kendall_tau`)."""
    a, b = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    return None if _undefined(a, b) else _defined(stats.spearmanr(a, b).statistic)


def tau_and_rho(predicted: Sequence[float], true: Sequence[float]) -> dict[str, float | None]:
    """``{"kendall_tau": ..., "spearman": ...}`` of ``predicted`` vs ``true`` (``None`` if
    undefined); unequal lengths raise."""
    if len(predicted) != len(true):
        raise ValueError(f"{len(predicted)} predictions but {len(true)} true values")
    return {"kendall_tau": kendall_tau(predicted, true), "spearman": spearman_rho(predicted, true)}


def rank_correlation(scores: Sequence[float], truth: Sequence[float], metric: str) -> Correlation:
    """Spearman and Kendall of ``scores`` vs ``truth`` over the finite entries of ``scores``."""
    x, y = np.asarray(scores, dtype=float), np.asarray(truth, dtype=float)
    if x.shape != y.shape:
        raise ValueError(f"{metric}: {x.shape[0]} scores but {y.shape[0]} ground-truth values")
    keep = np.isfinite(x) & np.isfinite(y)
    n, dropped = int(keep.sum()), int(x.size - keep.sum())
    if n < 3:
        return Correlation(metric, n, dropped, None, None)
    x, y = x[keep], y[keep]
    return Correlation(metric, n, dropped, spearman_rho(x, y), kendall_tau(x, y))


def spearman_interval(
    scores: Sequence[float],
    truth: Sequence[float],
    *,
    level: float = 0.95,
    resamples: int = 1000,
    seed: int = 0,
) -> tuple[float | None, float | None]:
    """Bootstrap percentile interval of Spearman's rho (archs resampled with replacement).

    How far a sample of a few hundred archs can be from the all-archs value by chance alone.
    :func:`scipy.stats.bootstrap` (paired, percentile method); resamples where rho is
    undefined (a constant column) are left out of the percentiles.
    """
    x, y = np.asarray(scores, dtype=float), np.asarray(truth, dtype=float)
    keep = np.isfinite(x) & np.isfinite(y)
    x, y = x[keep], y[keep]
    if x.size < 3:
        return None, None

    def rho(a: np.ndarray, b: np.ndarray) -> float:
        if np.ptp(a) == 0 or np.ptp(b) == 0:
            return math.nan
        return float(stats.spearmanr(a, b).statistic)

    with warnings.catch_warnings():  # a degenerate (e.g. perfect) rho warns; handled below
        warnings.simplefilter("ignore", stats.DegenerateDataWarning)
        result = stats.bootstrap(
            (x, y),
            rho,
            paired=True,
            vectorized=False,
            n_resamples=resamples,
            confidence_level=level,
            method="percentile",
            rng=np.random.default_rng(seed),
        )
    rhos = result.bootstrap_distribution
    rhos = rhos[np.isfinite(rhos)]
    if rhos.size == 0:
        return None, None
    lo, hi = np.quantile(rhos, [(1 - level) / 2, (1 + level) / 2])
    return float(lo), float(hi)


def rank_correlations(
    scores: Mapping[str, Sequence[float]], truth: Sequence[float]
) -> list[Correlation]:
    """:func:`rank_correlation` of every metric column of ``scores``, in the mapping's order."""
    return [rank_correlation(values, truth, name) for name, values in scores.items()]


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:+.3f}"


def format_correlations(rows: Sequence[Correlation], *, truth: str = "test accuracy") -> str:
    """A Markdown table: metric, archs used, dropped, Spearman, Kendall."""
    return markdown_table(
        ["metric", "archs", "dropped", f"Spearman vs {truth}", f"Kendall vs {truth}"],
        [[r.metric, r.n, r.dropped, _fmt(r.spearman), _fmt(r.kendall)] for r in rows],
        align=["left", "right", "right", "right", "right"],
    )


__all__ = [
    "Correlation",
    "format_correlations",
    "kendall_tau",
    "rank_correlation",
    "rank_correlations",
    "spearman_interval",
    "spearman_rho",
    "tau_and_rho",
]
