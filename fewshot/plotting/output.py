"""Writing a finished figure: one place for the layout, folder, resolution and closing."""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402


def save_figure(fig: plt.Figure, path: str | os.PathLike[str], *, dpi: int = 120) -> Path:
    """Lay ``fig`` out tightly, write it to ``path`` (its folder made) and close it."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(out, dpi=dpi)
    plt.close(fig)
    return out


__all__ = ["save_figure"]
