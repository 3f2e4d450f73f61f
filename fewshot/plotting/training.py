"""Training curves of the leaves of a split run (``curves.png``): one line per trained job
(leaf or one-shot supernet) in each panel: training loss, training accuracy and held-out
(validation) accuracy against the optimiser step at each epoch's end.

Fed by :func:`fewshot.analysis.frames.training_logs` (the leaves' ``metrics.jsonl``); nothing
here reads a file or computes a statistic.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402

from fewshot.plotting.output import save_figure  # noqa: E402

PANELS = (
    ("train_loss", "training loss"),
    ("train_acc", "training accuracy (fraction)"),
    ("val_acc", "held-out accuracy (fraction)"),
)


def plot_training_curves(
    logs: Mapping[str, Sequence[Mapping[str, Any]]],
    path: str | os.PathLike[str],
    *,
    title: str = "",
) -> Path:
    """One panel per logged quantity of :data:`PANELS`, one line per job of ``logs`` (job id
    -> per-epoch rows with ``step`` and the quantities); writes ``path`` (PNG)."""
    panels = [
        (k, label) for k, label in PANELS if any(k in r for rows in logs.values() for r in rows)
    ]
    panels = panels or list(PANELS[:1])
    fig, axes = plt.subplots(1, len(panels), figsize=(4.0 * len(panels), 3.4), squeeze=False)
    for ax, (key, label) in zip(axes[0], panels, strict=True):
        for job, rows in logs.items():
            points = [(r.get("step", r.get("epoch")), r[key]) for r in rows if key in r]
            if points:
                xs, ys = zip(*points, strict=True)
                name = "one-shot" if job == "oneshot" else f"leaf {job}"
                ax.plot(xs, ys, marker="o", ms=3, lw=1.2, label=name)
        ax.set_xlim(left=0)  # training starts at step 0 (a one-epoch run is one dot a leaf)
        ax.set_xlabel("optimiser step (epoch ends)")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=7, frameon=False, ncol=2 if len(logs) > 6 else 1)
    if title:
        fig.suptitle(title, fontsize=10)
    return save_figure(fig, path, dpi=110)


__all__ = ["PANELS", "plot_training_curves"]
