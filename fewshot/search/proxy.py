"""Proxy tables: a zero-cost metric's value for every benchmark arch, loaded or computed lazily.

A :class:`ProxyTable` holds one value per benchmark index (``NaN`` where the metric failed)
and which indices are known. It is filled from :mod:`fewshot.score` CSVs (``scores.csv``:
``arch, index, <metric>..., seconds, error``; rows are matched to the benchmark by arch
string) and, for archs no table has, by an optional *scorer* that computes the values on
demand and appends them to a cache CSV of the same format (so a second run reads them back).

Higher proxy values mean "predicted better", as for every zero-cost metric here; a failed value
ranks below every finite one (:meth:`ProxyTable.rank_key`).

Every table was scored with one :class:`~fewshot.scoring.ScoringSpec` (:func:`table_spec`: its
spec record, else the ``config.yaml`` ``fewshot.score`` saved beside it, else unknown and
assumed to match, with a warning). A :class:`ProxyTable` holds values of one spec only: a
table of another spec than the search's (or than the tables loaded before it) is refused with
a :class:`~fewshot.errors.UsageError` naming both.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from fewshot.errors import UsageError
from fewshot.metrics import ScoringData, data_free
from fewshot.scoring import (
    ScoreFile,
    ScoreRow,
    ScoringSpec,
    read_record_root,
    read_score_metrics,
    read_spec_record,
    score_arch,
    scoring_difference,
    write_spec_record,
)
from fewshot.search.oracle import Oracle
from fewshot.spaces import Arch

log = logging.getLogger("fewshot")

Scorer = Callable[[list[Arch]], list[float]]
"""Computes one proxy value per arch (``NaN`` for a failure)."""


def check_proxy(name: str) -> str:
    """``name`` if it is a registered scalar metric; ``UsageError`` listing them otherwise."""
    from fewshot.metrics import list_metrics

    scalar = list_metrics(kind="scalar")
    if name not in scalar:
        raise UsageError(f"unknown proxy {name!r}; scalar metrics: {', '.join(scalar)}")
    return name


class ProxyTable:
    """One proxy's values over an oracle's archs, filled from CSVs and an on-demand scorer.

    Args:
        name: the metric name (a CSV column).
        oracle: gives the arch <-> index mapping.
        scorer: computes missing values (``None``: a missing value is an error).
        cache: a scores CSV the scorer's values are appended to (and read back next time).
        spec: the spec the values must have been scored with (the scorer's); ``None``: the
            first table loaded with a known spec sets it.
        data_root: the data folder of ``spec`` (where a folder data set's classes are listed).
    """

    def __init__(
        self,
        name: str,
        oracle: Oracle,
        *,
        scorer: Scorer | None = None,
        cache: str | Path | None = None,
        spec: ScoringSpec | None = None,
        data_root: str | Path | None = None,
    ) -> None:
        self.name, self.oracle, self.scorer, self.spec = name, oracle, scorer, spec
        self.data_root = data_root
        self.values = np.full(len(oracle), np.nan)
        self.known = np.zeros(len(oracle), dtype=bool)
        self.computed = 0
        self.cache = Path(cache) if cache is not None else None
        self._store = None
        if self.cache is not None and self.cache.is_file():
            self.load_csv(self.cache)

    @classmethod
    def from_values(cls, name: str, oracle: Oracle, values: Sequence[float]) -> ProxyTable:
        """A complete table from one value per benchmark index (tests, derived tables)."""
        table = cls(name, oracle)
        table.values = np.asarray(values, dtype=float).copy()
        if table.values.shape != (len(oracle),):
            raise ValueError(f"need {len(oracle)} values, got {table.values.shape}")
        table.known[:] = True
        return table

    # -- loading --------------------------------------------------------------------------------
    def load_csv(self, path: str | Path) -> int:
        """Add the values of a scores CSV; returns how many benchmark archs it covered."""
        path = Path(path)
        if not path.is_file():
            raise UsageError(f"proxy table {path} does not exist")
        self._check_spec(path)
        metrics = read_score_metrics(path)
        if self.name not in metrics:
            raise UsageError(f"{path} has no {self.name!r} column (it has: {', '.join(metrics)})")
        store = ScoreFile(path, metrics)
        column = store.column(self.name)
        added = 0
        for arch_str, value in zip(store.archs(), column, strict=True):
            try:
                index = self.oracle.index(arch_str)
            except ValueError:
                continue  # an arch this benchmark does not hold
            self.values[index], self.known[index] = value, True
            added += 1
        log.info("proxy %s: %d values from %s", self.name, added, path)
        return added

    def _check_spec(self, path: Path) -> None:
        """Refuse a table scored with another spec than this table's (naming both)."""
        spec, origin, root = table_spec(path)
        if spec is None:
            log.warning("%s: %s", path, origin)
            return
        if self.spec is None:
            self.spec, self.data_root = spec, root
            return
        diff = scoring_difference(spec, self.spec, [self.name], (root, self.data_root))
        if diff:
            raise UsageError(
                f"proxy table {path} was scored with {spec.describe()} ({origin}), but this "
                f"search's {self.name} values are scored with {self.spec.describe()}; they differ "
                f"in {', '.join(diff)}: mixing them would rank archs on two scales; use a table "
                "of the same spec (or one alone with --no-scoring)"
            )

    @property
    def complete(self) -> bool:
        return bool(self.known.all())

    # -- look-ups -------------------------------------------------------------------------------
    def get(self, indices: np.ndarray | Sequence[int]) -> np.ndarray:
        """Values of ``indices``, computing (and caching) the unknown ones first."""
        indices = np.asarray(indices, dtype=np.int64)
        missing = np.unique(indices[~self.known[indices]])
        if len(missing):
            self._compute(missing)
        return self.values[indices]

    def rank_key(self, indices: np.ndarray | Sequence[int]) -> np.ndarray:
        """Values for sorting (higher = better): failed values become ``-inf``."""
        v = self.get(indices)
        return np.where(np.isfinite(v), v, -np.inf)

    def _compute(self, missing: np.ndarray, chunk: int = 16) -> None:
        """Score ``missing`` in chunks, caching each chunk at once (an interrupted run keeps
        what it computed)."""
        if self.scorer is None:
            raise UsageError(
                f"the {self.name} table lacks {len(missing)} of the archs this search needs "
                "and no scorer is configured: load a complete table or allow on-demand scoring"
            )
        for start in range(0, len(missing), chunk):
            part = missing[start : start + chunk]
            values = np.asarray(self.scorer([self.oracle.arch(i) for i in part]), dtype=float)
            self.values[part], self.known[part] = values, True
            self.computed += len(part)
            if self.cache is not None:
                self._append(part, values)

    def _append(self, indices: np.ndarray, values: np.ndarray) -> None:
        if self._store is None:
            self._store = ScoreFile(self.cache, [self.name])
            if self.spec is not None:
                free = data_free([self.name])
                write_spec_record(self.cache, self.spec, data_free=free, data_root=self.data_root)
        for i, v in zip(indices, values, strict=True):
            arch = self.oracle.arch(i).to_string()
            vals = {self.name: float(v)} if np.isfinite(v) else {}
            self._store.append(ScoreRow(arch, int(i), vals, 0.0, "" if vals else "failed"))


def metric_scorer(
    name: str, data: ScoringData, spec: ScoringSpec, *, device: str = "cpu"
) -> Scorer:
    """A :data:`Scorer` computing metric ``name`` with :func:`fewshot.scoring.score_arch`
    as ``spec`` says (the network, initialisation and batches of ``python -m fewshot.score``
    with the same spec)."""

    def score(archs: list[Arch]) -> list[float]:
        rows = [score_arch(a, data, [name], spec, device=device) for a in archs]
        return [row.values.get(name, np.nan) for row in rows]

    return score


def table_spec(path: str | Path) -> tuple[ScoringSpec | None, str, str | None]:
    """(the spec a scores CSV was scored with, where that comes from, its data folder): its
    spec record; for older tables the ``config.yaml`` ``fewshot.score`` saved beside its
    ``scores.csv``; no spec (and what is assumed) when neither exists."""
    path = Path(path)
    spec = read_spec_record(path)
    if spec is not None:
        return spec, "its spec record", read_record_root(path)
    config_path = path.with_name("config.yaml")
    if path.name == "scores.csv" and config_path.is_file():
        from fewshot.config import load_saved_config
        from fewshot.splitting.recipes import scoring_spec

        config = load_saved_config(config_path)
        return scoring_spec(config), f"from {config_path}", config.get("data_root")
    return (
        None,
        (
            "no spec record and no fewshot.score config.yaml beside it: assumed to be scored with "
            "the search's spec"
        ),
        None,
    )


__all__ = ["ProxyTable", "Scorer", "check_proxy", "metric_scorer", "table_spec"]
