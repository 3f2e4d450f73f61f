"""TransNAS-Bench-101 micro: NB201's cell with four ops, ground truth on seven Taskonomy tasks.

The space (``--space tnb101-micro``) is the NAS-Bench-201 cell (4 nodes, the same 6 edges in
the same arch-string order) whose edges choose among ``none``, ``skip_connect``,
``nor_conv_1x1`` and ``nor_conv_3x3`` (NB201's ops without the pool), in the benchmark's
``op_indices`` order 0..3: 4**6 = 4,096 cells. Arch strings are NATS-Bench's
(``|nor_conv_3x3~0|+|...|``); :meth:`TNB101MicroSpace.parse_arch` also reads TransNAS-Bench's own
string (``64-41414-3_10_213``) and the six ``op_indices`` digits (``"310213"``).

**The networks here are proxies.** TransNAS-Bench-101 trained each cell inside Taskonomy
encoders (and task decoders) on Taskonomy images, which are not here. The builders of this space
(:meth:`~fewshot.spaces.cell.CellSpace.build_supernet` / ``build_network``) are the cell
supernet of :mod:`fewshot.models.supernet` (NB201's CIFAR skeleton, default ``C=16``, ``N=5``),
so splits and zero-cost scores run on the data a user gives (CIFAR-10 here), and only the
ground truth comes from TransNAS-Bench: the networks are not the benchmark's, and parameter
counts are unknown (:meth:`TNB101Benchmark.params` is ``None``).

The benchmark (:class:`TNB101Benchmark`) reads ``tnb101_micro_val.csv`` (columns
``op_indices``, ``arch_str`` and one per task: the validation score, higher is better in each;
``room_layout`` is a negative loss, so scores are not percentages). It is found as NATS-Bench is
(:func:`find_benchmark`): the ``--benchmark`` flag, ``$FEWSHOT_TNB101``, then the default folders
``$TORCH_HOME/transnas-bench-101-micro`` and ``$FEWSHOT_DATA/transnas-bench-101-micro``.
Reading it needs numpy and the standard library only.
"""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from fewshot.errors import UsageError
from fewshot.spaces import base
from fewshot.spaces.base import register_space
from fewshot.spaces.cell import CellSpace
from fewshot.spaces.nb201 import EDGES, NUM_NODES
from fewshot.spaces.tabular import BestArch, TabularBenchmark, find_benchmark_file

SPACE_NAME = "tnb101-micro"
OPS: tuple[str, ...] = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3")
"""Candidate operations, in the benchmark's ``op_indices`` order (0..3)."""
NUM_ARCHS = len(OPS) ** len(EDGES)  # 4,096

TASKS: tuple[str, ...] = (
    "autoencoder",
    "class_object",
    "class_scene",
    "jigsaw",
    "normal",
    "room_layout",
    "segmentsemantic",
)
"""The benchmark's tasks (its data sets), in the CSV's column order; the first is the default."""

BENCHMARK_DIRNAME = "transnas-bench-101-micro"
BENCHMARK_FILE = "tnb101_micro_val.csv"
BENCHMARK_ENV = "FEWSHOT_TNB101"
"""The environment variable naming the benchmark file or its folder (below ``--benchmark``)."""
HOW_TO_GET = (
    f"get TransNAS-Bench-101 micro's validation scores as '{BENCHMARK_FILE}' (columns "
    f"op_indices, arch_str, {', '.join(TASKS)}) and point --benchmark or ${BENCHMARK_ENV} at "
    f"it, or put it in $FEWSHOT_DATA/{BENCHMARK_DIRNAME}/"
)
_TNB_PREFIX = "64-41414-"  # TransNAS-Bench's micro arch strings: 64-41414-a_bc_def


class Arch(base.Arch):
    """One TransNAS-Bench-101 micro cell: the op on each of NB201's six edges."""


class Mask(base.Mask):
    """Enabled ops per edge (6x4 booleans): a sub-space of TransNAS-Bench-101 micro."""


@register_space(SPACE_NAME)
class TNB101MicroSpace(CellSpace):
    """TransNAS-Bench-101 micro: NB201's 6 edges x 4 ops (4,096 cells), ground truth on 7
    Taskonomy tasks; networks are NB201-style proxies on the user's data (C=16, N=5)."""

    description = (
        "TransNAS-Bench-101 micro cell: 6 edges x 4 ops (4,096 archs); ground truth on 7 "
        "Taskonomy tasks, networks are CIFAR proxies"
    )
    ops = OPS
    edges = EDGES
    num_nodes = NUM_NODES
    zero_op = "none"
    parametric_ops = frozenset({"nor_conv_1x1", "nor_conv_3x3"})
    op_labels = {"none": "none", "skip_connect": "skip", "nor_conv_1x1": "c1x1",
                 "nor_conv_3x3": "c3x3"}  # fmt: skip
    arch_type = Arch
    mask_type = Mask
    model_defaults = {"C": 16, "N": 5}
    benchmark_datasets = TASKS

    def parse_arch(self, text: str) -> Arch:
        """Parse a NATS-Bench arch string, TransNAS-Bench's ``64-41414-a_bc_def`` or the six
        ``op_indices`` digits; anything else raises ``ValueError`` saying what was expected."""
        stripped = text.strip()
        if stripped.startswith(_TNB_PREFIX):
            return self._from_digits(text, stripped[len(_TNB_PREFIX) :].replace("_", ""))
        if stripped.isdigit():
            return self._from_digits(text, stripped)
        return super().parse_arch(text)  # type: ignore[return-value]

    def _from_digits(self, text: str, digits: str) -> Arch:
        if len(digits) != self.num_positions or any(d not in "0123" for d in digits):
            raise ValueError(
                f"arch string {text!r}: a {self.name} cell has {self.num_positions} op "
                f"indices in 0..{self.num_ops - 1} (e.g. '310213' or '64-41414-3_10_213')"
            )
        return self.arch_type.from_indices([int(d) for d in digits])  # type: ignore[return-value]

    def find_benchmark(
        self, flag: str | Path | None = None, *, required: bool = False
    ) -> Path | None:
        return find_benchmark(flag, required=required)

    def open_benchmark(self, path: str | Path | None = None) -> TNB101Benchmark:
        return TNB101Benchmark(path)


TNB101: TNB101MicroSpace = base.get_space(SPACE_NAME)  # type: ignore[assignment]


def all_archs() -> Iterator[Arch]:
    """All 4,096 cells in lexicographic ``op_indices`` order (the CSV's row order)."""
    return TNB101.all_archs()  # type: ignore[return-value]


def op_indices_string(arch: base.Arch) -> str:
    """The CSV's ``op_indices`` of ``arch`` (six digits, NB201 edge order)."""
    return "".join(str(i) for i in arch.op_indices)


# -- finding the benchmark --------------------------------------------------------------


def default_benchmark_paths() -> list[Path]:
    """The default files :func:`find_benchmark` looks for, in order (as NATS-Bench's folders:
    ``$TORCH_HOME``, then fewshot's data cache ``$FEWSHOT_DATA``)."""
    torch_home = os.environ.get("TORCH_HOME") or str(Path.home() / ".torch")
    data = os.environ.get("FEWSHOT_DATA") or str(Path.home() / ".cache" / "fewshot" / "data")
    return [Path(p).expanduser() / BENCHMARK_DIRNAME / BENCHMARK_FILE for p in (torch_home, data)]


def _as_file(path: str | Path) -> Path:
    """A folder stands for the benchmark file inside it (another space's folder or file is
    refused with :class:`UsageError` naming it)."""
    path = Path(path).expanduser()
    if path.is_dir() and (path / "meta.pickle.pbz2").is_file():
        raise UsageError(
            f"{path} is NATS-Bench's topology benchmark (--space nb201), not TransNAS-Bench-101 "
            f"micro's {BENCHMARK_FILE}"
        )
    path = path / BENCHMARK_FILE if path.is_dir() else path
    if path.is_file():
        _refuse_foreign(path)
    return path


def find_benchmark(path: str | Path | None = None, *, required: bool = False) -> Path | None:
    """The benchmark file: ``path`` (``--benchmark``, a file or its folder), else
    ``$FEWSHOT_TNB101``, else the first default file that exists. A flag or variable naming no
    file, or ``required`` with none found, raises ``FileNotFoundError`` saying where it looked;
    otherwise ``None``, with a note logged once per process (as NATS-Bench's)
    (:func:`fewshot.spaces.tabular.find_benchmark_file`)."""
    return find_benchmark_file(
        path,
        env_var=BENCHMARK_ENV,
        defaults=default_benchmark_paths(),
        as_file=_as_file,
        missing=lambda source, _value, found: FileNotFoundError(
            f"{source}: no TransNAS-Bench-101 micro benchmark at {found}; {HOW_TO_GET}"
        ),
        what="TransNAS-Bench-101 micro benchmark",
        how_to_get=HOW_TO_GET,
        required=required,
    )


# -- the adapter ------------------------------------------------------------------------
class TNB101Benchmark(TabularBenchmark):
    """TransNAS-Bench-101 micro's validation scores (:class:`~fewshot.spaces.base.BenchmarkAdapter`).

    Indices are the CSV's row order. ``accuracy`` is the task's score (higher is better; not a
    percentage on every task). Every one of the 4,096 cells must be present exactly once;
    ``params`` is ``None``: the benchmark's networks are Taskonomy encoders, not the proxies
    built here.

    Raises:
        FileNotFoundError: no file at ``path`` (or none found).
        UsageError: the file is not this benchmark (another space's file, wrong columns, missing
            or repeated cells, a malformed row).
    """

    space = TNB101
    datasets = TASKS

    def __init__(self, path: str | Path | None = None) -> None:
        found = find_benchmark(path, required=True)
        assert found is not None
        codes, scores = _read_csv(found)
        self._set_table(found, [Arch.from_code(int(c)) for c in codes], scores)

    def column_name(self, dataset: str) -> str:
        return canonical_task(dataset)


def canonical_task(name: str) -> str:
    """The CSV's name of a task (case-insensitive, ``-`` read as ``_``); ``ValueError`` listing
    the tasks otherwise."""
    key = str(name).lower().replace("-", "_")
    if key not in TASKS:
        raise ValueError(
            f"unknown TransNAS-Bench-101 micro task {name!r}; expected one of {', '.join(TASKS)}"
        )
    return key


def _read_csv(path: Path) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Codes (lexicographic, per row) and per-task score columns of the benchmark CSV; a file
    of another kind raises :class:`UsageError` naming what it is."""
    try:
        with path.open(newline="", encoding="utf-8") as f:
            reader = csv.reader(f)
            header = next(reader, [])
            rows = list(reader)
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise UsageError(f"{path}: unreadable as TransNAS-Bench-101 micro's CSV ({exc})") from None
    need = ["op_indices", *TASKS]
    missing = [c for c in need if c not in header]
    if missing:
        raise UsageError(
            f"{path} is not TransNAS-Bench-101 micro's CSV: it lacks the column(s) "
            f"{', '.join(missing)} (expected op_indices, arch_str, {', '.join(TASKS)})"
        )
    columns = [header.index(c) for c in need]
    arch_col = header.index("arch_str") if "arch_str" in header else None
    codes = np.empty(len(rows), dtype=np.int64)
    scores = np.empty((len(TASKS), len(rows)))
    for i, row in enumerate(rows):
        codes[i], scores[:, i] = _parse_row(path, i + 2, row, columns, arch_col)
    _check_cells(path, codes)
    return codes, {task: scores[k] for k, task in enumerate(TASKS)}


def _refuse_foreign(path: Path) -> None:
    """One line for the files of other spaces a user may pass by mistake."""
    if path.suffix.lower() == ".json":
        raise UsageError(
            f"{path} is a JSON file (NAS-Bench-Macro's benchmark is one: --space "
            f"nas-bench-macro), not TransNAS-Bench-101 micro's {BENCHMARK_FILE}"
        )
    if path.name.endswith(".pickle.pbz2") or (path.parent / "meta.pickle.pbz2").is_file():
        raise UsageError(
            f"{path} belongs to NATS-Bench's topology benchmark (--space nb201), not "
            f"TransNAS-Bench-101 micro's {BENCHMARK_FILE}"
        )


def _parse_row(
    path: Path, line: int, row: list[str], columns: list[int], arch_col: int | None
) -> tuple[int, list[float]]:
    """One row's lexicographic code and task scores; malformed rows raise :class:`UsageError`."""
    where = f"{path}, line {line}"
    try:
        digits = row[columns[0]].strip()
        values = [float(row[c]) for c in columns[1:]]
    except (IndexError, ValueError) as exc:
        raise UsageError(f"{where}: malformed row ({exc})") from None
    if len(digits) != len(EDGES) or any(d not in "0123" for d in digits):
        raise UsageError(
            f"{where}: op_indices {digits!r} is not six digits in 0..3 "
            "(TransNAS-Bench-101 micro's cells)"
        )
    if arch_col is not None and arch_col < len(row):
        text = row[arch_col].strip()
        if text.startswith(_TNB_PREFIX) and text[len(_TNB_PREFIX) :].replace("_", "") != digits:
            raise UsageError(f"{where}: arch_str {text!r} disagrees with op_indices {digits!r}")
    if not all(math.isfinite(v) for v in values):
        raise UsageError(f"{where}: a task score is not a finite number")
    return int(digits, len(OPS)), values


def _check_cells(path: Path, codes: np.ndarray) -> None:
    """Every one of the 4,096 cells exactly once."""
    counts = np.bincount(codes, minlength=NUM_ARCHS)
    repeated = np.flatnonzero(counts > 1)
    if repeated.size:
        first = op_indices_string(Arch.from_code(int(repeated[0])))
        raise UsageError(f"{path}: cell {first} appears {counts[repeated[0]]} times")
    if len(codes) != NUM_ARCHS:
        raise UsageError(
            f"{path}: TransNAS-Bench-101 micro has {NUM_ARCHS} distinct cells, this file "
            f"{len(codes)}"
        )


__all__ = [
    "BENCHMARK_ENV",
    "BENCHMARK_FILE",
    "OPS",
    "TASKS",
    "TNB101",
    "Arch",
    "BestArch",
    "Mask",
    "TNB101Benchmark",
    "TNB101MicroSpace",
    "all_archs",
    "canonical_task",
    "find_benchmark",
]
