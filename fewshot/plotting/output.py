"""Writing a finished figure (one place for the layout, folder, resolution and closing) and
the axis scale for values that span orders of magnitude."""

from __future__ import annotations

import io
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
    """Give ``ax``'s ``axis`` the scale :func:`value_scale` picks, with at most
    :data:`MAX_TICKS` labelled powers of ten on a wide log or symlog axis (and 0 on a symlog
    one) so the labels never overlap; returns the scale's name."""
    from matplotlib.ticker import FixedLocator, LogLocator, NullLocator

    scale, options = value_scale(values, decades)
    (ax.set_xscale if axis == "x" else ax.set_yscale)(scale, **options)
    target = ax.xaxis if axis == "x" else ax.yaxis
    if scale == "log":
        target.set_major_locator(LogLocator(base=10, numticks=MAX_TICKS))
        target.set_minor_locator(NullLocator())
    elif scale == "symlog":
        x = np.asarray(values, dtype=float)
        x = x[np.isfinite(x)]
        target.set_major_locator(FixedLocator(_symlog_ticks(x, options["linthresh"])))
        target.set_minor_locator(NullLocator())
    return scale


MAX_TICKS = 7
"""At most this many labelled ticks on a log or symlog axis."""


def _symlog_ticks(x: np.ndarray, linthresh: float) -> list[float]:
    """0 and powers of ten (of either sign, as the values need) from the linear threshold to
    the largest magnitude, every k-th decade so that at most :data:`MAX_TICKS` remain."""
    lo, hi = int(np.floor(np.log10(linthresh))), int(np.ceil(np.log10(np.abs(x).max())))
    sides = [s for s, present in ((1.0, (x > 0).any()), (-1.0, (x < 0).any())) if present]
    step = max(1, int(np.ceil((hi - lo + 1) * len(sides) / (MAX_TICKS - 1))))
    powers = [10.0**k for k in range(hi, lo - 1, -step)]
    return sorted([0.0] + [s * p for s in sides for p in powers])


def save_figure(
    fig: plt.Figure,
    path: str | os.PathLike[str],
    *copies: str | os.PathLike[str],
    dpi: int = 120,
) -> Path:
    """Lay ``fig`` out tightly, render it once and write it to ``path`` and to each of
    ``copies`` (e.g. a run folder's figure and the one beside ``--results``), then close it.

    Each file is written atomically (folder made, temp file renamed over it), so an
    interrupted run never leaves half a PNG; the format comes from ``path``'s suffix.
    """
    from fewshot.io import atomic_write

    out = Path(path)
    fig.tight_layout()
    image = io.BytesIO()
    fig.savefig(image, dpi=dpi, format=out.suffix.lstrip(".") or "png")
    plt.close(fig)
    for target in (out, *copies):
        atomic_write(target, lambda f: f.write(image.getbuffer()))
    return out


__all__ = ["MAX_TICKS", "ORDERS_OF_MAGNITUDE", "save_figure", "set_scale", "value_scale"]
