"""Figures of design-space refinement (da Silva et al.): one function per figure.

Inputs are numbers prepared by :mod:`fewshot.analysis.refinement` (or read from a run's
``refinement.json``); nothing here computes a statistic beyond sorting for an EDF.

- :func:`plot_score_edf`: EDF of the predictor's scores per iteration (the paper's Fig. 4);
- :func:`plot_subspace_size`: subspace size per iteration (Fig. 5);
- :func:`plot_hyperparameter_intervals`: one hyperparameter kind's interval per stage and
  iteration (Figs. 6-9: depth, width, group width, bottleneck ratio);
- :func:`plot_complexities`: FLOPs and parameters of the sampled nets per iteration (Fig. 10);
- :func:`plot_kendall`: Kendall correlation between predictors (Fig. 2).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from fewshot.plotting.output import save_figure, set_scale  # noqa: E402

LOG_DECADES = 2.0
"""Scores spanning more than this many decades are drawn on a log (or symlog) axis."""
KIND_LABELS = {"d": "depth d", "w": "width w", "g": "group width g", "b": "bottleneck ratio b"}


def plot_score_edf(
    scores_per_iteration: Sequence[np.ndarray], predictor: str, path: str | os.PathLike[str]
) -> Path:
    """Empirical distribution function of the scores, one line per iteration."""
    fig, ax = plt.subplots(figsize=(5, 3.5))
    cmap = plt.get_cmap("viridis", max(len(scores_per_iteration), 2))
    for k, scores in enumerate(scores_per_iteration):
        s = np.sort(np.asarray(scores, dtype=float))
        if s.size:
            ax.step(s, np.arange(1, s.size + 1) / s.size, where="post", color=cmap(k), label=f"{k}")
    values = np.concatenate([np.asarray(v, dtype=float) for v in scores_per_iteration])
    scale = set_scale(
        ax, values, decades=LOG_DECADES
    )  # scores spanning orders of magnitude (snip, synflow, ...)
    ax.set_xlabel(f"{predictor} score" + ("" if scale == "linear" else f" ({scale} scale)"))
    ax.set_ylabel("EDF")
    ax.legend(title="iteration", fontsize=7)
    ax.set_title(f"{predictor}: scores per iteration")
    return save_figure(fig, path)


def plot_subspace_size(
    sizes: Sequence[float], predictor: str, path: str | os.PathLike[str]
) -> Path:
    """Number of nets the ranges allow, per iteration (log scale)."""
    fig, ax = plt.subplots(figsize=(5, 3.5))
    ax.semilogy(range(len(sizes)), sizes, marker="o")
    ax.set_xlabel("iteration")
    ax.set_ylabel("subspace size (nets)")
    ax.set_xticks(range(len(sizes)))
    ax.set_title(f"{predictor}: subspace size")
    return save_figure(fig, path)


def plot_hyperparameter_intervals(
    series: Mapping[str, Mapping[str, np.ndarray]],
    kind: str,
    predictor: str,
    path: str | os.PathLike[str],
) -> Path:
    """Interval (bar) and median (dot) of each stage's ``kind`` hyperparameter per iteration.

    ``series``: ``{"d1": {"low": [...], "high": [...], "median": [...]}, "d2": ...}``.
    """
    names = sorted(series)
    fig, axes = plt.subplots(1, len(names), figsize=(3.2 * len(names), 3.2), sharey=True)
    for ax, name in zip(np.atleast_1d(axes), names, strict=True):
        s = series[name]
        it = np.arange(len(s["low"]))
        ax.vlines(it, s["low"], s["high"], lw=6, alpha=0.4)
        ax.plot(it, s["median"], "o", color="black", ms=4)
        ax.set_title(name)
        ax.set_xlabel("iteration")
        ax.set_xticks(it)
        if kind in ("w", "g"):
            ax.set_yscale("log", base=2)
    np.atleast_1d(axes)[0].set_ylabel(KIND_LABELS.get(kind, kind))
    fig.suptitle(f"{predictor}: 95% bootstrap interval and median of {KIND_LABELS.get(kind, kind)}")
    return save_figure(fig, path)


def plot_complexities(
    flops_per_iteration: Sequence[np.ndarray],
    params_per_iteration: Sequence[np.ndarray],
    predictor: str,
    path: str | os.PathLike[str],
) -> Path:
    """Box plots of the sampled nets' MFLOPs and parameters (M) per iteration."""
    fig, (a, b) = plt.subplots(1, 2, figsize=(8, 3.4))
    a.boxplot(
        [np.asarray(f) / 1e6 for f in flops_per_iteration],
        positions=range(len(flops_per_iteration)),
    )
    a.set_ylabel("MFLOPs (multiply-adds, 32x32)")
    b.boxplot(
        [np.asarray(p) / 1e6 for p in params_per_iteration],
        positions=range(len(params_per_iteration)),
    )
    b.set_ylabel("parameters (M)")
    for ax in (a, b):
        ax.set_xlabel("iteration")
    fig.suptitle(f"{predictor}: complexity of the sampled nets")
    return save_figure(fig, path)


def plot_kendall(tau: np.ndarray, predictors: Sequence[str], path: str | os.PathLike[str]) -> Path:
    """Heat map of Kendall's tau between predictors (log scores)."""
    k = len(predictors)
    fig, ax = plt.subplots(figsize=(1 + 0.8 * k, 0.8 + 0.7 * k))
    im = ax.imshow(tau, vmin=-1, vmax=1, cmap="RdBu_r")
    ax.set_xticks(range(k), predictors, rotation=45, ha="right")
    ax.set_yticks(range(k), predictors)
    for i in range(k):
        for j in range(k):
            ax.text(j, i, f"{tau[i, j]:.2f}", ha="center", va="center", fontsize=7)
    fig.colorbar(im, ax=ax, fraction=0.046)
    ax.set_title("Kendall tau between predictors")
    return save_figure(fig, path)


def plot_tree_importances(trees: Sequence[Mapping], path: str | os.PathLike[str]) -> Path:
    """Heat map of each tertile tree's feature importances (predictors x hyperparameters)."""
    features = list(trees[0]["importances"])
    data = np.array([[t["importances"][f] for f in features] for t in trees])
    fig, ax = plt.subplots(figsize=(1 + 0.55 * len(features), 0.8 + 0.5 * len(trees)))
    im = ax.imshow(data, vmin=0, vmax=1, cmap="Greens")
    ax.set_xticks(range(len(features)), features, rotation=60, ha="right", fontsize=7)
    ax.set_yticks(range(len(trees)), [t["predictor"] for t in trees])
    fig.colorbar(im, ax=ax, fraction=0.046)
    ax.set_title("tertile trees: feature importance")
    return save_figure(fig, path)


def plot_mask_accuracy(
    accuracy: Sequence[Mapping[str, float]],
    predictor: str,
    path: str | os.PathLike[str],
    *,
    space: str = "NB201",
) -> Path:
    """A split space's refinement (``space``, for the title): benchmark accuracy (mean, max)
    and top-5% share of each iteration's mask."""
    it = np.arange(len(accuracy))
    fig, (a, b) = plt.subplots(1, 2, figsize=(8, 3.2))
    a.plot(it, [x["mean"] for x in accuracy], marker="o", label="mean")
    a.plot(it, [x["max"] for x in accuracy], marker="s", label="max")
    a.set_ylabel("test accuracy (%)")
    a.legend(fontsize=7)
    b.plot(it, [100 * x["share_top5"] for x in accuracy], marker="o")
    b.set_ylabel("archs in the top 5% (%)")
    for ax in (a, b):
        ax.set_xlabel("iteration")
        ax.set_xticks(it)
    fig.suptitle(f"{space}, {predictor}: accuracy of the sampled mask")
    return save_figure(fig, path)
