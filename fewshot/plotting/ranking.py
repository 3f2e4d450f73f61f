"""The few-shot vs one-shot figure: pooled Kendall tau per method (one dot per seed, the mean as
a bar), and the tau difference to the one-shot baseline with its bootstrap interval per budget.
Everything plotted is read from the results document of ``tools/few_vs_one_shot.py``; nothing
here computes statistics (see :mod:`fewshot.analysis.ranking`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from fewshot.plotting.output import save_figure  # noqa: E402

_STYLE = {  # comparison -> colour, x offset
    "papers": ("tab:blue", -0.2),
    "equal-compute": ("tab:orange", 0.0),
    "vs-random": ("tab:green", 0.2),
    "sampling": ("tab:purple", 0.0),
}


_LABEL = {
    "papers": "- one-shot (same epochs per supernet)",
    "equal-compute": "- one-shot (same total epochs)",
    "vs-random": "- random split (same depth)",
    "sampling": "- one-shot (the run's sampling rule, same epochs)",
}


def plot_few_vs_one_shot(
    result: Mapping[str, Any], path: str | os.PathLike[str], *copies: str | os.PathLike[str]
) -> Path:
    """Two panels: tau per method and seed; tau difference to one-shot per budget. Writes PNG
    to ``path`` and to each of ``copies`` (drawn once)."""
    methods = result["methods"]
    names = list(methods)
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(max(6.0, 0.6 * len(names)), 7.0))
    _tau_panel(top, methods, names)
    _difference_panel(bottom, result["tau_difference"], names)
    return save_figure(fig, path, *copies)


def _tau_panel(ax: Any, methods: Mapping[str, Any], names: list[str]) -> None:
    for x, name in enumerate(names):
        taus = [q["kendall_tau"] for q in methods[name]["seeds"].values()]
        taus = [t for t in taus if t is not None]
        color = "grey" if methods[name]["family"] == "one-shot" else "tab:green"
        if taus:
            ax.bar(x, np.mean(taus), color=color, alpha=0.35, width=0.7)
            ax.scatter([x] * len(taus), taus, color=color, s=14, zorder=3)
    ax.axhline(0, color="black", linewidth=0.6)
    ax.set_xticks(range(len(names)), names, rotation=45, ha="right", fontsize=8)
    ax.set_ylabel("pooled Kendall tau")
    ax.set_title("ranking quality per method (dots: seeds, bar: mean)")


def _difference_panel(ax: Any, differences: Mapping[str, Any], names: list[str]) -> None:
    for comparison, diffs in differences.items():
        color, shift = _STYLE.get(comparison, ("black", 0.0))
        xs = [names.index(n) + shift for n in diffs]
        est = np.array([d["estimate"] for d in diffs.values()])
        low = np.array([d["low"] for d in diffs.values()])
        high = np.array([d["high"] for d in diffs.values()])
        ax.errorbar(xs, est, yerr=[est - low, high - est], fmt="o", color=color, capsize=3,
                    markersize=4, label=_LABEL.get(comparison, comparison))  # fmt: skip
    ax.axhline(0, color="black", linewidth=0.6)
    ax.set_xticks(range(len(names)), names, rotation=45, ha="right", fontsize=8)
    ax.set_xlim(-0.5, len(names) - 0.5)
    ax.set_ylabel("tau difference")
    ax.set_title("tau difference to the baseline\n(mean over seeds, 95% bootstrap interval)")
    if differences:  # a run of one-shot arms only compares nothing here
        ax.legend(fontsize=8)


def plot_tau_vs_steps(
    result: Mapping[str, Any], path: str | os.PathLike[str], *copies: str | os.PathLike[str]
) -> Path:
    """Kendall tau of the one-shot supernet against optimiser steps, one line per regime (mean
    over seeds, seeds as dots), with the tau = 0.3 goal line. Reads the document of
    :mod:`fewshot.experiments.ranking_budget`. Writes PNG to ``path`` and to each of
    ``copies`` (drawn once)."""
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    for name, regime in result["regimes"].items():
        steps = sorted(int(s) for s in regime["budgets"])
        means = [regime["budgets"][str(s)]["kendall_tau_mean"] for s in steps]
        (line,) = ax.plot(steps, means, marker="o", label=name)
        for s in steps:
            taus = [q["kendall_tau"] for q in regime["budgets"][str(s)]["seeds"].values()]
            ax.scatter([s] * len(taus), taus, color=line.get_color(), s=10, alpha=0.5)
    ax.axhline(0.3, color="grey", linestyle="--", linewidth=0.8, label="goal tau = 0.3")
    ax.axhline(0, color="black", linewidth=0.6)
    ax.set_xscale("log", base=2)
    ax.set_xlabel("optimiser steps (batch 64, one cosine schedule per budget)")
    ax.set_ylabel(_truth_label(result.get("config") or {}))
    ax.set_title("one-shot supernet ranking quality against training budget")
    ax.legend(fontsize=8)
    return save_figure(fig, path, *copies)


def _truth_label(config: Mapping[str, Any]) -> str:
    """The ground truth taus are against: NATS-Bench CIFAR-10 for NB201 (a study saved before
    ``--space``), else the space's benchmark and data set."""
    space = config.get("space")
    if space in (None, "nb201"):
        return "Kendall tau vs NATS-Bench CIFAR-10"
    return f"Kendall tau vs the {space} benchmark ({config.get('benchmark_dataset', '')})"


__all__ = ["plot_few_vs_one_shot", "plot_tau_vs_steps"]
