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
from fewshot.plotting.output import save_figure, set_scale  # noqa: E402


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
    """Accuracy (y) against ``corr.metric``'s scores (x) over archs with a finite score; the x
    axis log or symlog when the scores span orders of magnitude
    (:func:`fewshot.plotting.output.value_scale`)."""
    x, y = np.asarray(scores, dtype=float), np.asarray(accuracy, dtype=float)
    keep = np.isfinite(x) & np.isfinite(y)
    x, y = x[keep], y[keep]
    fig, ax = plt.subplots(figsize=(4.5, 3.6), dpi=120)
    ax.scatter(x, y, s=6, alpha=0.5, linewidths=0)
    scale = set_scale(ax, x)  # synflow spans ~50 decades: log, or symlog with zeros
    ax.set_xlabel(corr.metric if scale == "linear" else f"{corr.metric} ({scale} scale)")
    ax.set_ylabel(truth)
    ax.set_title(
        f"{corr.metric}: Spearman {_fmt(corr.spearman)}, Kendall {_fmt(corr.kendall)} (n={corr.n})",
        fontsize=9,
    )
    return save_figure(fig, path, dpi=120)


__all__ = ["plot_metric_scatter"]
