"""What the benchmark adapters of the spaces share: finding the file, and a table held in memory.

- :class:`BestArch`: a benchmark's best arch on a data set and its score (one type for every
  adapter, NATS-Bench's included).
- :func:`find_benchmark_file`: the ``--benchmark`` flag, else the space's environment variable,
  else its default paths; a flag or variable naming nothing is an error, and a benchmark found
  nowhere is an error when required, else a note logged once per process.
- :class:`TabularBenchmark`: an adapter whose ground truth is read whole (an arch list in the
  benchmark's order and one column per data set): the arch <-> index look-ups, accuracies,
  ``best`` and ``params`` of :class:`~fewshot.spaces.base.BenchmarkAdapter`. A space's adapter
  reads its file and calls :meth:`TabularBenchmark._set_table`.

Imports numpy, the standard library and :mod:`fewshot.spaces.base` only.
"""

from __future__ import annotations

import logging
import os
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import ClassVar, NamedTuple

import numpy as np

from fewshot.spaces.base import Arch, SearchSpace

log = logging.getLogger("fewshot")

_ANNOUNCED: set[str] = set()  # the "not found" notes already given in this process


class BestArch(NamedTuple):
    """A benchmark's best arch on a data set and its score (percent where it is an accuracy)."""

    accuracy: float
    arch: Arch


def find_benchmark_file(
    flag: str | Path | None,
    *,
    env_var: str,
    defaults: Sequence[Path],
    as_file: Callable[[str | Path], Path],
    missing: Callable[[str, str | Path, Path], Exception],
    what: str,
    how_to_get: str,
    required: bool = False,
) -> Path | None:
    """The benchmark file a command should use (absolute), or ``None``.

    ``flag`` (``--benchmark``), else ``$env_var``; each goes through ``as_file`` (a folder
    stands for the file in it) and, when no file is there, raises ``missing(source, value,
    path)``. Else the first of ``defaults`` that is a file. Found nowhere: ``required`` raises
    ``FileNotFoundError`` naming every place looked in and ``how_to_get``; otherwise the same
    text is logged once per process and ``None`` returned.
    """
    for source, value in (("--benchmark", flag), (f"${env_var}", os.environ.get(env_var))):
        if value:
            found = as_file(value)
            if not found.is_file():
                raise missing(source, value, found)
            return found.resolve()
    for place in defaults:
        if place.is_file():
            return place.resolve()
    looked = ", ".join(str(p) for p in defaults)
    text = f"no {what} found (looked in: {looked}); {how_to_get}"
    if required:
        raise FileNotFoundError(text)
    if text not in _ANNOUNCED:
        _ANNOUNCED.add(text)
        log.warning("%s", text)
    return None


class ArchLookup(ABC):
    """Lookups shared by every benchmark: an arch, its string or its index (the benchmark's
    order) to the index, with a ``TypeError`` for what is no index and an ``IndexError``
    outside ``0..len-1``. Subclasses give :meth:`index` and ``len()``."""

    @abstractmethod
    def __len__(self) -> int:
        """How many archs the benchmark holds."""

    @abstractmethod
    def index(self, arch: Arch | str) -> int:
        """The benchmark index of ``arch``."""

    def _check_index(self, index: int) -> int:
        if isinstance(index, bool) or not isinstance(index, (int, np.integer)):
            raise TypeError(f"a benchmark index is an int, got {type(index).__name__}")
        if not 0 <= index < len(self):
            raise IndexError(f"benchmark index {index} outside 0..{len(self) - 1}")
        return int(index)

    def _to_index(self, arch_or_index: Arch | str | int) -> int:
        if isinstance(arch_or_index, (Arch, str)):
            return self.index(arch_or_index)
        return self._check_index(arch_or_index)


class TabularBenchmark(ArchLookup):
    """A benchmark adapter over a table read whole: archs in the benchmark's order, one
    ground-truth column per data set (higher is better).

    Subclasses set ``space`` and ``datasets`` (the first is the default), read their file in
    ``__init__`` and call :meth:`_set_table`; :meth:`column_name` maps a user's data set name
    to a column (default: an exact name of ``datasets``).
    """

    space: ClassVar[SearchSpace]
    datasets: ClassVar[tuple[str, ...]]
    path: Path

    def _set_table(
        self, path: Path, archs: Sequence[Arch], columns: Mapping[str, np.ndarray]
    ) -> None:
        self.path = path
        self._archs = list(archs)
        self._index = {arch: i for i, arch in enumerate(self._archs)}
        self._columns = {name: np.asarray(values, dtype=float) for name, values in columns.items()}

    def __len__(self) -> int:
        return len(self._archs)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self.path)!r}, {len(self)} archs)"

    def column_name(self, dataset: str) -> str:
        """The column of ``dataset``; ``ValueError`` listing the data sets otherwise."""
        if dataset not in self.datasets:
            raise ValueError(
                f"the {self.space.name} benchmark has no data set {dataset!r}; "
                f"expected one of {', '.join(self.datasets)}"
            )
        return dataset

    # -- arch <-> index -----------------------------------------------------------------
    def index(self, arch: Arch | str) -> int:
        """The benchmark's index of ``arch`` (an arch of this space or its string);
        ``ValueError`` for an arch of another space or one the benchmark lacks."""
        if isinstance(arch, str):
            arch = self.space.arch_type.from_string(arch)
        if not isinstance(arch, self.space.arch_type):
            raise ValueError(
                f"arch {arch} is not a {self.space.name} arch (it is of {type(arch).space.name!r})"
            )
        if arch not in self._index:
            raise ValueError(f"arch {arch} is not in the {self.space.name} benchmark {self.path}")
        return self._index[arch]

    def arch(self, index: int) -> Arch:
        """The arch at ``index``; ``IndexError`` outside ``0..len-1``."""
        return self._archs[self._check_index(index)]

    def archs(self) -> list[Arch]:
        """Every arch, in the benchmark's order."""
        return list(self._archs)

    # -- ground truth -------------------------------------------------------------------
    def accuracies(self, dataset: str | None = None) -> np.ndarray:
        """Every arch's ground truth on ``dataset`` (default: the first), in index order, as a
        read-only view."""
        column = self._columns[self.column_name(dataset or self.datasets[0])].view()
        column.flags.writeable = False
        return column

    def accuracy(self, arch_or_index: Arch | str | int, dataset: str | None = None) -> float:
        """One arch's ground truth on ``dataset`` (default: the first)."""
        return float(self.accuracies(dataset)[self._to_index(arch_or_index)])

    def best(self, dataset: str | None = None) -> BestArch:
        """The arch with the highest ground truth; among ties, :meth:`_prefer`'s choice."""
        column = self.accuracies(dataset)
        top = np.flatnonzero(column == column.max())
        index = self._prefer([int(i) for i in top])
        return BestArch(float(column[index]), self._archs[index])

    def _prefer(self, tied: list[int]) -> int:
        """Which of several best indices ``best`` reports (default: the lowest)."""
        return tied[0]

    def params(self, arch_or_index: Arch | str | int) -> float | None:
        """Parameter count in millions; ``None`` (unknown) unless the subclass knows it."""
        self._to_index(arch_or_index)
        return None


__all__ = ["ArchLookup", "BestArch", "TabularBenchmark", "find_benchmark_file"]
