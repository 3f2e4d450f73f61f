"""The search inside trained leaves judged against the benchmark: held-out accuracy of each
scored arch (the trained supernet's prediction, x) against its true benchmark accuracy (y),
one colour per leaf, one panel per search (few-shot, one-shot).

The numbers (Kendall tau per search) come from :mod:`fewshot.training.evaluate`; nothing here
computes a statistic.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402

from fewshot.plotting.output import save_figure  # noqa: E402


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def plot_leaf_search(
    evaluation: Mapping[str, Mapping[str, Any]], path: str | os.PathLike[str]
) -> Path:
    """One scatter panel per search of ``evaluation`` (``search.json``'s ``evaluation``: per
    search, ``leaves`` with their ``archs`` and ``overall`` with ``kendall_tau``); writes
    ``path`` (PNG). The chosen arch of each leaf is drawn as a star, the search's overall pick
    (the best held-out accuracy across its leaves) ringed in black."""
    names = list(evaluation)
    fig, axes = plt.subplots(1, len(names), figsize=(4.6 * len(names), 3.8), dpi=110,
                             squeeze=False)  # fmt: skip
    for ax, name in zip(axes[0], names, strict=True):
        result = evaluation[name]
        for leaf, res in result["leaves"].items():
            x = [a["predicted"] for a in res["archs"]]
            y = [a["true"] for a in res["archs"]]
            (dots,) = ax.plot(x, y, "o", markersize=4, alpha=0.7, label=f"leaf {leaf}")
            ax.plot(x[:1], y[:1], "*", markersize=12, color=dots.get_color())
        _ring_overall_pick(ax, result)
        tau = result["overall"].get("kendall_tau")
        ax.set_title(
            f"{name}: Kendall tau {_fmt(tau)}\n(star: each leaf's pick, ring: overall pick)",
            fontsize=9,
        )
        ax.set_xlabel("held-out accuracy in the trained supernet (%)")
        ax.set_ylabel(f"benchmark accuracy, {result.get('dataset', '')} (%)")
        ax.legend(fontsize=7, loc="best")
    return save_figure(fig, path, dpi=110)


_CLEAR = (0.0, 0.0, 0.0, 0.0)
"""A transparent marker face: the ring shows the point under it."""


def _ring_overall_pick(ax: plt.Axes, result: Mapping[str, Any]) -> None:
    """A black ring around the arch the search picked overall (``overall.chosen``)."""
    chosen = result.get("overall", {}).get("chosen") or {}
    leaf = result["leaves"].get(str(chosen.get("leaf")), {})
    for a in leaf.get("archs", []):
        if a["arch"] == chosen.get("arch"):
            ax.plot([a["predicted"]], [a["true"]], "o", markersize=15, mfc=_CLEAR, mec="black",
                    mew=1.5, label=f"overall pick ({a['true']:.2f}%)")  # fmt: skip
            return


__all__ = ["plot_leaf_search"]
