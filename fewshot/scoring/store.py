"""The scores CSV: ``arch, index, <metric>..., seconds, error``, one row per arch.

The header is written atomically and each row is appended and fsynced as soon as its arch is
scored, so a killed run loses at most the arch in progress, and reopening the file skips every
arch already in it (a half-written last line is dropped first).

May import: :mod:`fewshot.io`, :mod:`fewshot.errors` (no torch, no metric).
"""

from __future__ import annotations

import csv
import io
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fewshot.errors import UsageError
from fewshot.io import atomic_write_text

FIXED_COLUMNS = ("arch", "index")
TAIL_COLUMNS = ("seconds", "error")


@dataclass(frozen=True)
class ScoreRow:
    """One arch's scores. A metric missing from ``values`` failed (see ``error``)."""

    arch: str
    index: int | None
    values: dict[str, float]
    seconds: float
    error: str = ""

    def cells(self, metrics: Sequence[str]) -> list[str]:
        """The CSV cells in column order (empty for a missing value or index)."""
        vals = [repr(self.values[m]) if m in self.values else "" for m in metrics]
        index = "" if self.index is None else str(self.index)
        return [self.arch, index, *vals, f"{self.seconds:.4f}", self.error]


def columns_for(metrics: Sequence[str]) -> list[str]:
    return [*FIXED_COLUMNS, *metrics, *TAIL_COLUMNS]


def _csv_line(cells: Sequence[str]) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow(cells)
    return buf.getvalue()


class ScoreFile:
    """An append-only scores CSV for a fixed metric list (see the module docstring)."""

    def __init__(self, path: str | os.PathLike[str], metrics: Sequence[str]) -> None:
        self.path, self.metrics = Path(path), list(metrics)
        self.columns = columns_for(self.metrics)
        if not self.path.is_file():
            atomic_write_text(self.path, _csv_line(self.columns))
        self.rows = self._load()

    def _load(self) -> list[dict[str, str]]:
        text = self.path.read_text(encoding="utf-8")
        if text and not text.endswith("\n"):  # killed mid-write: drop the partial line
            text = text[: text.rfind("\n") + 1]
            atomic_write_text(self.path, text)
        reader = csv.DictReader(io.StringIO(text))
        if reader.fieldnames != self.columns:
            raise UsageError(
                f"{self.path} has columns {reader.fieldnames}, expected {self.columns}: it was "
                "written for other metrics; use another --out or --overwrite"
            )
        return list(reader)

    def drop_failed(self) -> list[str]:
        """Remove the rows of archs that got no value at all (to score them again)."""
        failed = [r for r in self.rows if r["error"] and not any(r[m] for m in self.metrics)]
        if failed:
            self.rows = [r for r in self.rows if r not in failed]
            lines = [_csv_line(self.columns)]
            lines += [_csv_line([r[c] for c in self.columns]) for r in self.rows]
            atomic_write_text(self.path, "".join(lines))
        return [r["arch"] for r in failed]

    def done(self) -> set[str]:
        """Arch strings already in the file (scored or failed)."""
        return {row["arch"] for row in self.rows}

    def append(self, row: ScoreRow) -> None:
        """Append one row and fsync it (a crash keeps every finished arch)."""
        cells = row.cells(self.metrics)
        with self.path.open("a", encoding="utf-8", newline="") as f:
            f.write(_csv_line(cells))
            f.flush()
            os.fsync(f.fileno())
        self.rows.append(dict(zip(self.columns, cells, strict=True)))

    def column(self, metric: str) -> np.ndarray:
        """One metric's values over the rows (NaN where it failed)."""
        return np.array([_to_float(row[metric]) for row in self.rows])

    def archs(self) -> list[str]:
        return [row["arch"] for row in self.rows]


def _to_float(cell: str) -> float:
    try:
        return float(cell) if cell else math.nan
    except ValueError:
        return math.nan


def read_score_metrics(path: str | os.PathLike[str]) -> list[str]:
    """The metric columns of an existing scores CSV."""
    with Path(path).open(encoding="utf-8", newline="") as f:
        header = next(csv.reader(f), [])
    if header[: len(FIXED_COLUMNS)] != list(FIXED_COLUMNS) or header[-2:] != list(TAIL_COLUMNS):
        raise UsageError(f"{path} is not a scores CSV (header {header})")
    return header[len(FIXED_COLUMNS) : -len(TAIL_COLUMNS)]


__all__ = ["ScoreFile", "ScoreRow", "columns_for", "read_score_metrics"]
