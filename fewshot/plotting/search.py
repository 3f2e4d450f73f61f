"""The search figure (Abdelfattah et al., Fig. 4): median and quartile band of the best
accuracy against trained models, one line per search. Bands are computed by
:func:`fewshot.search.run.curve_bands`; nothing here computes statistics.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def plot_search_curves(
    bands: Mapping[str, Mapping[str, Sequence[float]]],
    path: str | os.PathLike[str],
    *,
    title: str = "",
    ylabel: str = "test accuracy (%)",
    target: float | None = None,
    ylim: tuple[float, float] | None = None,
) -> Path:
    """One line (median) and shaded band (quartiles) per label; writes ``path`` (PNG)."""
    fig, ax = plt.subplots(figsize=(6.0, 4.0))
    for label, band in bands.items():
        median = np.asarray(band["median"])
        x = np.arange(1, len(median) + 1)
        (line,) = ax.plot(x, median, label=label, linewidth=1.4)
        ax.fill_between(x, band["q25"], band["q75"], color=line.get_color(), alpha=0.15)
    if target is not None:
        ax.axhline(target, color="grey", linestyle=":", linewidth=1, label=f"target {target:g}")
    if ylim is not None:
        ax.set_ylim(*ylim)
    ax.set_xlabel("trained models")
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.set_title(title, fontsize=10)
    ax.legend(frameon=False, fontsize=8)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


__all__ = ["plot_search_curves"]
