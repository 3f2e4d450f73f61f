"""Bulk scoring of standalone NB201 architectures with zero-cost metrics, into a resumable CSV.

The engine behind ``python -m fewshot.score`` (and ``tools/benchmark_metrics.py``):

- :func:`resolve_metrics` / :func:`select_archs`: what to score (``all`` scalar metrics; a
  seeded random sample, every arch, or a given list).
- :func:`score_arch`: build the arch's standalone network (seeded init) and compute every asked
  metric in one combined pass (:func:`fewshot.metrics.compute_metrics`, shared probes). A
  metric undefined on this network leaves its cell empty and its message in ``error``; any
  other failure leaves every cell empty. Nothing is raised for one bad arch.
- :class:`ScoreFile`: the CSV ``arch, index, <metric>..., seconds, error``; the header is
  written atomically and each row is appended and fsynced as soon as its arch is scored, so a
  killed run loses at most the arch in progress, and reopening the file skips every arch
  already in it (a half-written last line is dropped first).
"""

from __future__ import annotations

import csv
import io
import logging
import math
import os
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from fewshot.errors import UsageError
from fewshot.io import atomic_write_text
from fewshot.metrics import ScoringData, compute_metrics, list_metrics
from fewshot.metrics.settings import DEFAULT_SETTINGS, MetricSettings
from fewshot.models.init import initialize
from fewshot.models.supernet import build_network
from fewshot.space import Arch, all_archs

log = logging.getLogger("fewshot")

FIXED_COLUMNS = ("arch", "index")
TAIL_COLUMNS = ("seconds", "error")
ERROR_CHARS = 300


# -- what to score --------------------------------------------------------------------------


def resolve_metrics(spec: str | Sequence[str]) -> list[str]:
    """Metric names from ``"snip,synflow"`` (or a list); ``all``: every scalar metric."""
    names = [s.strip() for s in spec.split(",")] if isinstance(spec, str) else list(spec)
    names = list(dict.fromkeys(n for n in names if n))
    scalar = list_metrics(kind="scalar")
    if names == ["all"]:
        return scalar
    if not names:
        raise UsageError("no metric given; pass --metrics snip,synflow (or 'all')")
    unknown = [n for n in names if n not in scalar]
    if unknown:
        raise UsageError(
            f"unknown or non-scalar metric(s) {unknown}; scalar metrics: {', '.join(scalar)}"
        )
    return names


def parse_archs(value: str | os.PathLike[str]) -> list[Arch]:
    """Archs from a file (one arch string per line, ``#`` comments) or a comma-separated list."""
    text = str(value)
    if "|" not in text:  # arch strings always hold '|': anything else names a file
        path = Path(value)
        if not path.is_file():
            raise UsageError(f"--archs {value}: no such file, and not a list of arch strings")
        text = path.read_text(encoding="utf-8")
    text = text.replace(",", "\n")
    archs = []
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        try:
            archs.append(Arch.from_string(line))
        except ValueError as exc:
            raise UsageError(f"--archs: {line!r} is not an NB201 arch string ({exc})") from exc
    if not archs:
        raise UsageError(f"--archs {value}: no arch string found (not a file, or empty)")
    return list(dict.fromkeys(archs))


def sample_archs(num: int, seed: int) -> list[Arch]:
    """``num`` distinct archs drawn with ``seed``; a larger ``num`` extends the same sample."""
    space = list(all_archs())
    if not 1 <= num <= len(space):
        raise UsageError(f"--num must be between 1 and {len(space)}, got {num}")
    order = np.random.default_rng(seed).permutation(len(space))
    return [space[i] for i in order[:num]]


def select_archs(
    *, num: int | None, seed: int, every: bool = False, archs: str | None = None
) -> list[Arch]:
    """The archs to score: a given list, every arch (``every``), or a seeded sample of ``num``."""
    if sum([archs is not None, every, num is not None]) > 1:
        raise UsageError("choose one of --archs, --all and --num")
    if archs is not None:
        return parse_archs(archs)
    if every:
        return list(all_archs())
    return sample_archs(100 if num is None else num, seed)


# -- scoring one arch -----------------------------------------------------------------------


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


def _short(exc: BaseException) -> str:
    text = " ".join(f"{type(exc).__name__}: {exc}".split())
    return text if len(text) <= ERROR_CHARS else text[: ERROR_CHARS - 3] + "..."


def score_arch(
    arch: Arch,
    data: ScoringData,
    metrics: Sequence[str],
    *,
    C: int = 16,
    N: int = 5,
    seed: int = 0,
    index: int | None = None,
    device: str | torch.device = "cpu",
    settings: MetricSettings = DEFAULT_SETTINGS,
    init: str = "pytorch",
) -> ScoreRow:
    """Every metric for ``arch``'s standalone network (init seeded by ``seed``), in one pass.

    ``settings`` and ``init`` (from a recipe, :mod:`fewshot.recipes`) say how the network is
    initialised and the metrics computed; the defaults are zero-cost-nas's conventions.
    """
    start = time.perf_counter()
    errors: dict[str, str] = {}
    try:
        torch.manual_seed(seed)
        net = build_network(arch, C=C, N=N, num_classes=data.num_classes)
        net = initialize(net, init).to(device)
        results = compute_metrics(net, data, metrics, seed=seed, errors=errors, settings=settings)
        values = {name: r.value for name, r in results.items()}
        error = "; ".join(f"{name}: {' '.join(msg.split())}" for name, msg in errors.items())
    except Exception as exc:  # one bad arch must not lose the run: record it, go on
        values, error = {}, _short(exc)
    if error:
        log.warning("arch %s: %s", arch.to_string(), error)
    return ScoreRow(arch.to_string(), index, values, time.perf_counter() - start, error[:2000])


# -- the CSV ------------------------------------------------------------------------------


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


# -- scoring many archs ---------------------------------------------------------------------


@dataclass
class ScoringSummary:
    """What one :func:`score_archs` call did."""

    scored: int = 0
    skipped: int = 0
    failed: list[str] = field(default_factory=list)
    seconds: float = 0.0


def score_archs(
    archs: Iterable[Arch],
    data: ScoringData,
    store: ScoreFile,
    *,
    C: int = 16,
    N: int = 5,
    seed: int = 0,
    index_of: Callable[[Arch], int | None] | None = None,
    device: str | torch.device = "cpu",
    progress: bool = True,
    settings: MetricSettings = DEFAULT_SETTINGS,
    init: str = "pytorch",
) -> ScoringSummary:
    """Score every arch not yet in ``store`` and append its row; returns counts and timing."""
    archs = list(archs)
    done = store.done()
    todo = [a for a in archs if a.to_string() not in done]
    summary = ScoringSummary(skipped=len(archs) - len(todo))
    bar = tqdm(todo, unit="arch", disable=not progress, dynamic_ncols=True, desc="scoring")
    for arch in bar:
        index = index_of(arch) if index_of is not None else None
        row = score_arch(
            arch, data, store.metrics, C=C, N=N, seed=seed, index=index, device=device,
            settings=settings, init=init,
        )  # fmt: skip
        store.append(row)
        summary.scored += 1
        summary.seconds += row.seconds
        if row.error:
            summary.failed.append(row.arch)
        bar.set_postfix(failed=len(summary.failed), refresh=False)
    return summary


__all__ = [
    "ScoreFile",
    "ScoreRow",
    "ScoringSummary",
    "columns_for",
    "parse_archs",
    "read_score_metrics",
    "resolve_metrics",
    "sample_archs",
    "score_arch",
    "score_archs",
    "select_archs",
]
