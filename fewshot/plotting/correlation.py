"""Scatter plots of a metric's scores against benchmark accuracy (one PNG per metric).

The numbers in the title come from :mod:`fewshot.correlation`; nothing here computes
a statistic.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from fewshot.correlation import Correlation  # noqa: E402

LOG_RANGE = 1e3
"""A positive metric spanning more than this ratio (e.g. synflow) is drawn on a log axis."""


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def plot_metric_scatter(
    scores: Sequence[float],
    accuracy: Sequence[float],
    corr: Correlation,
    path: str | os.PathLike[str],
    *,
    truth: str = "test accuracy (%)",
) -> Path:
    """Accuracy (y) against ``corr.metric``'s scores (x) over archs with a finite score."""
    x, y = np.asarray(scores, dtype=float), np.asarray(accuracy, dtype=float)
    keep = np.isfinite(x) & np.isfinite(y)
    x, y = x[keep], y[keep]
    fig, ax = plt.subplots(figsize=(4.5, 3.6), dpi=120)
    ax.scatter(x, y, s=6, alpha=0.5, linewidths=0)
    if len(x) and x.min() > 0 and x.max() / x.min() > LOG_RANGE:
        ax.set_xscale("log")
    ax.set_xlabel(corr.metric)
    ax.set_ylabel(truth)
    ax.set_title(
        f"{corr.metric}: Spearman {_fmt(corr.spearman)}, Kendall {_fmt(corr.kendall)} (n={corr.n})",
        fontsize=9,
    )
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


__all__ = ["plot_metric_scatter"]
