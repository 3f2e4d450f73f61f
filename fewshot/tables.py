"""One Markdown table writer for every report (correlations, split distance, search, trees).

Presentation only: callers format their numbers into strings and choose the alignment;
:func:`markdown_table` lays them out (optionally padded so the table reads well as plain text).
:func:`outputs_block` lists the files and figures a command wrote, the last lines it prints.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

_RULES = {"left": "---", "right": "---:", "center": ":---:"}


def markdown_table(
    header: Sequence[str],
    rows: Sequence[Sequence[object]],
    *,
    align: Sequence[str] | None = None,
    pad: bool = False,
) -> str:
    """A GitHub-flavoured Markdown table, one line per row, ending in a newline.

    ``align``: per column ``left`` (default), ``right`` or ``center``. ``pad``: pad cells to the
    column width, so the table is aligned in a terminal too. Every row must have as many cells
    as the header (``ValueError`` otherwise).
    """
    header = [str(h) for h in header]
    body = [[str(c) for c in row] for row in rows]
    for row in body:
        if len(row) != len(header):
            raise ValueError(f"row {row} has {len(row)} cells, the header {len(header)}")
    align = list(align) if align is not None else ["left"] * len(header)
    if len(align) != len(header) or not set(align) <= set(_RULES):
        raise ValueError(f"align must give one of {sorted(_RULES)} per column, got {align}")
    rule = [_RULES[a] for a in align]
    lines = [header, rule, *body]
    if pad:
        widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
        lines = [[c.ljust(w) for c, w in zip(line, widths, strict=True)] for line in lines]
    return "\n".join("| " + " | ".join(line) + " |" for line in lines) + "\n"


def outputs_block(
    files: Sequence[str | os.PathLike[str]], figures: Sequence[str | os.PathLike[str]] = ()
) -> str:
    """The closing lines of a long command: the files it wrote and the figures it drew, one
    path a line under ``files:`` and ``figures:`` (the latter only when there are figures),
    so a user sees where everything landed without reading the log."""
    lines = ["files:", *(f"  {p}" for p in files)]
    if figures:
        lines += ["figures:", *(f"  {p}" for p in figures)]
    return "\n".join(lines) + "\n"


def format_number(value: float | None, digits: int = 3) -> str:
    """A table cell for ``value``: ``digits`` decimals, ``-`` where there is none."""
    return "-" if value is None else f"{value:.{digits}f}"


__all__ = ["format_number", "markdown_table", "outputs_block"]
