"""Split-distance figures (the paper's Fig. 1 and Fig. 2), drawn from a :class:`DistanceReport`.

One function per figure; each writes a PNG and returns its path. Computation lives in
:mod:`fewshot.analysis.split_distance`; nothing here computes a distance.
"""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from fewshot.analysis.split_distance import DistanceReport, DistanceSummary  # noqa: E402
from fewshot.plotting.output import save_figure  # noqa: E402

INTERNAL_COLOR = "tab:blue"
EXTERNAL_COLOR = "tab:orange"


REFERENCE_STYLE = {"color": "0.35", "linestyle": "--", "linewidth": 1.0, "zorder": 1}


def _bar_values(summaries: list[DistanceSummary]) -> tuple[np.ndarray, np.ndarray]:
    """Means (NaN without pairs) and error bars ``(below, above)``: ± std, the lower bar cut
    at 0 (a distance is never negative; mean - std below 0 would draw an impossible value)."""
    means = np.array([np.nan if s.mean is None else s.mean for s in summaries])
    stds = np.array([0.0 if s.std is None else s.std for s in summaries])
    below = np.minimum(stds, np.nan_to_num(means, nan=0.0))
    return means, np.vstack([below, stds])


def _reference(ax: plt.Axes, report: DistanceReport, *, label: bool = True) -> None:
    """The random-split level (:attr:`DistanceReport.random_reference`) as a dashed line."""
    ref = report.random_reference
    if ref is not None:
        text = f"random splits ({ref:.2f})" if label else None
        ax.axhline(ref, label=text, **REFERENCE_STYLE)


def _strip(ax: plt.Axes, x: float, values: list[float | None], seed: int) -> None:
    """Jittered dots: one per seed (internal) or per pair of seeds (external)."""
    vals = np.array([v for v in values if v is not None], dtype=float)
    if not len(vals):
        return
    jitter = np.random.default_rng(seed).uniform(-0.12, 0.12, len(vals))
    ax.scatter(x + jitter, vals, s=9, color="black", alpha=0.5, zorder=3, linewidths=0)


def plot_internal_external(report: DistanceReport, path: str | os.PathLike[str]) -> Path:
    """Fig. 1: per metric, internal vs external split distance (bars: mean ± std over pairs;
    dots: each seed's internal mean and each seed pair's external mean; error bars cut at 0),
    the random-split level dashed."""
    names = list(report.metrics)
    x = np.arange(len(names), dtype=float)
    width = 0.38
    fig, ax = plt.subplots(figsize=(max(6.0, 1.1 * len(names) + 3.5), 3.8))
    bars = ((-width / 2, "internal", INTERNAL_COLOR), (width / 2, "external", EXTERNAL_COLOR))
    for offset, kind, color in bars:
        summaries = [getattr(report.metrics[n], kind) for n in names]
        means, stds = _bar_values(summaries)
        ax.bar(x + offset, means, width, yerr=stds, capsize=3, color=color, alpha=0.8, label=kind)
        for i, n in enumerate(names):
            m = report.metrics[n]
            dots = (
                list(m.internal_per_seed.values())
                if kind == "internal"
                else [v for _, _, v in m.external_per_pair]
            )
            _strip(ax, x[i] + offset, dots, seed=i)
    _reference(ax, report)
    ax.set_xticks(x, names, rotation=30, ha="right")
    ax.set_ylabel("split distance")
    ax.set_ylim(bottom=0)
    ax.set_title("Split distance per metric (bars: mean ± std over pairs,\ndashed: two random "
                 "splits on average; lower is more consistent)", fontsize=9)  # fmt: skip
    ax.legend(frameon=False, fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return save_figure(fig, path, dpi=130)


def plot_by_level(report: DistanceReport, path: str | os.PathLike[str]) -> Path:
    """Fig. 2: split distance by tree level, internal (top) and external (bottom) panels,
    one line per metric (markers at mean, bars ± std cut at 0; levels without pairs left out),
    the random-split level dashed."""
    levels = report.levels
    names = list(report.metrics)
    fig, axes = plt.subplots(2, 1, sharex=True, sharey=True, figsize=(7.0, 5.5))
    spread = 0.25 / max(1, len(names))
    for ax, kind in zip(axes, ("internal", "external"), strict=True):
        for i, name in enumerate(names):
            by_level = getattr(report.metrics[name], f"{kind}_by_level")
            summaries = [by_level.get(lv, DistanceSummary(None, None, 0)) for lv in levels]
            means, stds = _bar_values(summaries)
            xs = np.array(levels, dtype=float) + (i - (len(names) - 1) / 2) * spread
            ok = ~np.isnan(means)
            ax.errorbar(
                xs[ok], means[ok], yerr=stds[:, ok], marker="o", ms=4, capsize=2, label=name
            )
        _reference(ax, report, label=kind == "internal")
        ax.set_ylabel(f"{kind} split distance")
        ax.grid(alpha=0.3)
    axes[0].set_ylim(bottom=0)  # after both panels are drawn: the shared axis fits both
    axes[-1].set_xticks(levels)
    axes[-1].set_xlabel("level (1 = root split)")
    axes[0].legend(frameon=False, fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.suptitle("Split distance by level")
    return save_figure(fig, path, dpi=130)
