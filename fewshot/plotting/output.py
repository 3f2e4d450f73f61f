"""Writing a finished figure (one place for the layout, folder, resolution and closing) and
the axis scale for values that span orders of magnitude."""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

ORDERS_OF_MAGNITUDE = 3.0
"""Values whose nonzero magnitudes span more than this many decades get a log axis."""


def value_scale(
    values: np.typing.ArrayLike, decades: float = ORDERS_OF_MAGNITUDE
) -> tuple[str, dict[str, float]]:
    """``(scale, options)`` for :meth:`matplotlib.axes.Axes.set_xscale` (or ``set_yscale``):
    ``linear`` unless the finite nonzero magnitudes span more than ``decades`` decades; then ``log`` when every value is positive, else
    ``symlog`` (zeros or negative values, e.g. synflow's 0 for a network cut off from its input
    beside 1e48 for a large one), linear within the smallest nonzero magnitude."""
    x = np.asarray(values, dtype=float)
    x = x[np.isfinite(x)]
    mags = np.abs(x[x != 0])
    if len(mags) < 2 or np.log10(mags.max() / mags.min()) <= decades:
        return "linear", {}
    if (x > 0).all():
        return "log", {}
    return "symlog", {"linthresh": float(mags.min())}


def set_scale(
    ax: plt.Axes,
    values: np.typing.ArrayLike,
    axis: str = "x",
    decades: float = ORDERS_OF_MAGNITUDE,
) -> str:
    """Give ``ax``'s ``axis`` the scale :func:`value_scale` picks; returns its name."""
    scale, options = value_scale(values, decades)
    (ax.set_xscale if axis == "x" else ax.set_yscale)(scale, **options)
    return scale


def save_figure(fig: plt.Figure, path: str | os.PathLike[str], *, dpi: int = 120) -> Path:
    """Lay ``fig`` out tightly, write it to ``path`` (its folder made) and close it."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(out, dpi=dpi)
    plt.close(fig)
    return out


__all__ = ["ORDERS_OF_MAGNITUDE", "save_figure", "set_scale", "value_scale"]
