"""The benchmark as an in-memory oracle: "training a model" is an array look-up.

:class:`Oracle` holds, for every arch of a search space's benchmark (in the benchmark's
index order), its op indices (the space's op order), the accuracy the search *selects* on
and the accuracy it *reports*. SPEC 7 (hp 200): select on validation accuracy, report test
accuracy. The shared benchmark directory holds validation accuracy only for CIFAR-10
(``cifar10-valid``: trained on the train split, scored on the valid split); CIFAR-100 and
ImageNet16-120 fall back to selecting on test accuracy, and :attr:`Oracle.selection` records
which one was used.

Neighbours (edit distance 1) come from a vectorised table built once: an arch's *code* is its
op indices read as a base-``num_ops`` number, :attr:`~fewshot.spaces.base.Arch.code` (a derived
key for look-ups, not an op order of its own).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from fewshot.errors import UsageError
from fewshot.spaces import Arch, Mask, SearchSpace, get_space

# Benchmark data set -> (column selected on when validation exists, column reported).
_VALIDATION = {"cifar10": "cifar10-valid"}


def place_values(space: SearchSpace) -> np.ndarray:
    """The place value of each position in an arch's code (``num_ops ** (P - 1 - p)``)."""
    return space.num_ops ** np.arange(space.num_positions - 1, -1, -1)


def arch_codes(ops: np.ndarray, space: SearchSpace) -> np.ndarray:
    """Codes (:attr:`~fewshot.spaces.base.Arch.code`) of op-index rows ``(n, positions)``: a
    dense key in ``0..space.num_archs - 1``."""
    return np.asarray(ops, dtype=np.int64) @ place_values(space)


@dataclass(frozen=True)
class Oracle:
    """Benchmark accuracies as arrays indexed by benchmark index.

    Attributes:
        ops: ``(n, positions)`` op indices per arch (the space's op order).
        select_acc: accuracy the search compares archs by (validation where it exists).
        report_acc: accuracy reported (test).
        dataset: the benchmark data set name.
        selection: ``"validation"`` or ``"test"``: what ``select_acc`` is.
        space: the search space the archs belong to (default ``nb201``).
    """

    ops: np.ndarray
    select_acc: np.ndarray
    report_acc: np.ndarray
    dataset: str = "synthetic"
    selection: str = "test"
    space: SearchSpace = field(default_factory=get_space)

    def __post_init__(self) -> None:
        ops = np.asarray(self.ops, dtype=np.int64)
        p, k = self.space.shape
        if ops.ndim != 2 or ops.shape[1] != p or ops.min() < 0 or ops.max() >= k:
            raise ValueError(
                f"ops must be (n, {p}) op indices of {self.space.name!r}, got shape {ops.shape}"
            )
        n = len(ops)
        for name in ("select_acc", "report_acc"):
            column = np.asarray(getattr(self, name), dtype=float)
            if column.shape != (n,):
                raise ValueError(f"{name} must have one value per arch ({n}), got {column.shape}")
            object.__setattr__(self, name, column)
        codes = arch_codes(ops, self.space)
        if len(np.unique(codes)) != n:
            raise ValueError("the oracle lists an arch twice")
        index_of_code = np.full(self.space.num_archs, -1, dtype=np.int64)
        index_of_code[codes] = np.arange(n)
        object.__setattr__(self, "ops", ops)
        object.__setattr__(self, "_codes", codes)
        object.__setattr__(self, "_index_of_code", index_of_code)
        object.__setattr__(self, "_neighbours", None)

    def __len__(self) -> int:
        return len(self.ops)

    # -- construction ----------------------------------------------------------------------
    @classmethod
    def from_benchmark(
        cls,
        path: str | Path,
        dataset: str,
        select: str = "auto",
        *,
        space: SearchSpace | None = None,
    ) -> Oracle:
        """Read every arch's accuracies once (about 2 s for NB201's 15,625 archs) from
        ``space``'s benchmark (default ``nb201``).

        ``select="auto"``: validation accuracy where the benchmark has it, else test;
        ``"test"``: always test (to measure what selecting on test changes).
        """
        if select not in ("auto", "test"):
            raise UsageError(f"select must be 'auto' or 'test', got {select!r}")
        space = get_space() if space is None else space
        name = _dataset_name(dataset, space)
        try:
            bench = space.open_benchmark(path)
        except NotImplementedError as exc:
            raise UsageError(str(exc)) from None
        ops = np.array([a.op_indices for a in bench.archs()], dtype=np.int64)
        report = bench.accuracies(name)
        valid = _VALIDATION.get(name) if select == "auto" else None
        if valid is not None and valid in space.benchmark_datasets:
            try:
                return cls(ops, bench.accuracies(valid), report, name, "validation", space)
            except ValueError:  # this benchmark has no validation column: select on test
                pass
        return cls(ops, report, report, name, "test", space)

    # -- arch <-> index ----------------------------------------------------------------------
    def arch(self, index: int) -> Arch:
        return self.space.Arch.from_indices(self.ops[int(index)])

    def index(self, arch: Arch | str) -> int:
        """Benchmark index of ``arch``; ``ValueError`` when the oracle does not hold it."""
        arch = self.space.Arch.from_string(arch) if isinstance(arch, str) else arch
        if not isinstance(arch, self.space.Arch):
            raise ValueError(f"arch {arch} is not an arch of {self.space.name!r}")
        index = int(self._index_of_code[arch.code])
        if index < 0:
            raise ValueError(f"arch {arch} is not in the benchmark")
        return index

    def indices(self, archs: Sequence[Arch | str]) -> np.ndarray:
        return np.array([self.index(a) for a in archs], dtype=np.int64)

    def arch_strings(self) -> list[str]:
        return [self.arch(i).to_string() for i in range(len(self))]

    # -- sub-spaces and neighbours -------------------------------------------------------------
    def in_mask(self, mask: Mask | None) -> np.ndarray:
        """Boolean ``(n,)``: archs inside ``mask`` (all when ``None``)."""
        if mask is None:
            return np.ones(len(self), dtype=bool)
        if not isinstance(mask, self.space.Mask):
            raise ValueError(f"mask {mask} is not a mask of {self.space.name!r}")
        enabled = mask.to_array()
        return enabled[np.arange(self.space.num_positions), self.ops].all(axis=1)

    @property
    def neighbours(self) -> np.ndarray:
        """``(n, P * (K - 1))`` indices of the archs at edit distance 1 (``-1``: not in the
        benchmark), for ``P`` positions and ``K`` ops (NB201: 24 columns).

        Column ``e * (K - 1) + k`` replaces position ``e``'s op by the ``k``-th other op
        (increasing).
        """
        if self._neighbours is None:
            object.__setattr__(self, "_neighbours", self._neighbour_table())
        return self._neighbours

    def _neighbour_table(self) -> np.ndarray:
        p, k_ops = self.space.shape
        alt = k_ops - 1
        place = place_values(self.space)
        columns = []
        for e in range(p):
            for k in range(1, k_ops):
                new_op = (self.ops[:, e] + k) % k_ops
                codes = self._codes + (new_op - self.ops[:, e]) * place[e]
                columns.append((new_op, self._index_of_code[codes]))
        # order each position's alternatives by op index, so columns are deterministic
        table = np.empty((len(self), p * alt), dtype=np.int64)
        for e in range(p):
            block = columns[e * alt : (e + 1) * alt]
            new_ops = np.stack([b[0] for b in block], axis=1)
            idx = np.stack([b[1] for b in block], axis=1)
            order = np.argsort(new_ops, axis=1)
            table[:, e * alt : (e + 1) * alt] = np.take_along_axis(idx, order, axis=1)
        return table


def _dataset_name(dataset: str, space: SearchSpace) -> str:
    """``dataset`` as the space's benchmark names it (NB201 accepts its aliases too)."""
    if dataset in space.benchmark_datasets:
        return dataset
    if space.name == "nb201":  # its aliases and error message: fewshot.benchmark
        from fewshot.benchmark import canonical_dataset

        try:
            return canonical_dataset(dataset)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
    for name in space.benchmark_datasets:
        if name.lower() == str(dataset).lower():
            return name
    raise UsageError(
        f"unknown data set {dataset!r} for search space {space.name!r}; expected one of "
        f"{', '.join(space.benchmark_datasets)}"
    )


__all__ = ["Oracle", "arch_codes", "place_values"]
