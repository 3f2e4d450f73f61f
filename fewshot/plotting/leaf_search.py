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


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def plot_leaf_search(
    evaluation: Mapping[str, Mapping[str, Any]], path: str | os.PathLike[str]
) -> Path:
    """One scatter panel per search of ``evaluation`` (``search.json``'s ``evaluation``: per
    search, ``leaves`` with their ``archs`` and ``overall`` with ``kendall_tau``); writes
    ``path`` (PNG). The chosen arch of each leaf is drawn as a larger marker."""
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
        tau = result["overall"].get("kendall_tau")
        ax.set_title(f"{name}: Kendall tau {_fmt(tau)} (star: chosen)", fontsize=9)
        ax.set_xlabel("held-out accuracy in the trained supernet (%)")
        ax.set_ylabel(f"benchmark accuracy, {result.get('dataset', '')} (%)")
        ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


__all__ = ["plot_leaf_search"]
