"""The benchmark as an in-memory oracle: "training a model" is an array look-up.

:class:`Oracle` holds, for every arch of a NATS-Bench topology benchmark (in the benchmark's
index order), its op indices (:mod:`fewshot.spaces.nb201` order), the accuracy the search *selects* on
and the accuracy it *reports*. SPEC 7 (hp 200): select on validation accuracy, report test
accuracy. The shared benchmark directory holds validation accuracy only for CIFAR-10
(``cifar10-valid``: trained on the train split, scored on the valid split); CIFAR-100 and
ImageNet16-120 fall back to selecting on test accuracy, and :attr:`Oracle.selection` records
which one was used.

Neighbours (edit distance 1) come from a vectorised table built once: an arch's *code* is its
op indices read as a base-5 number (a derived key for look-ups, not an op order of its own).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fewshot.errors import UsageError
from fewshot.spaces.nb201 import NUM_ARCHS, NUM_EDGES, NUM_OPS, Arch, Mask

_PLACE = NUM_OPS ** np.arange(NUM_EDGES - 1, -1, -1)  # base-5 place value of each edge

# Benchmark data set -> (column selected on when validation exists, column reported).
_VALIDATION = {"cifar10": "cifar10-valid"}


def arch_codes(ops: np.ndarray) -> np.ndarray:
    """Base-5 codes of op-index rows ``(n, 6)``: a dense key in ``0..15624``."""
    return np.asarray(ops, dtype=np.int64) @ _PLACE


@dataclass(frozen=True)
class Oracle:
    """Benchmark accuracies as arrays indexed by benchmark index.

    Attributes:
        ops: ``(n, 6)`` op indices per arch (NATS-Bench op order).
        select_acc: accuracy the search compares archs by (validation where it exists).
        report_acc: accuracy reported (test).
        dataset: the benchmark data set name.
        selection: ``"validation"`` or ``"test"``: what ``select_acc`` is.
    """

    ops: np.ndarray
    select_acc: np.ndarray
    report_acc: np.ndarray
    dataset: str = "synthetic"
    selection: str = "test"

    def __post_init__(self) -> None:
        ops = np.asarray(self.ops, dtype=np.int64)
        if ops.ndim != 2 or ops.shape[1] != NUM_EDGES or ops.min() < 0 or ops.max() >= NUM_OPS:
            raise ValueError(f"ops must be (n, {NUM_EDGES}) op indices, got shape {ops.shape}")
        n = len(ops)
        for name in ("select_acc", "report_acc"):
            column = np.asarray(getattr(self, name), dtype=float)
            if column.shape != (n,):
                raise ValueError(f"{name} must have one value per arch ({n}), got {column.shape}")
            object.__setattr__(self, name, column)
        codes = arch_codes(ops)
        if len(np.unique(codes)) != n:
            raise ValueError("the oracle lists an arch twice")
        index_of_code = np.full(NUM_ARCHS, -1, dtype=np.int64)
        index_of_code[codes] = np.arange(n)
        object.__setattr__(self, "ops", ops)
        object.__setattr__(self, "_codes", codes)
        object.__setattr__(self, "_index_of_code", index_of_code)
        object.__setattr__(self, "_neighbours", None)

    def __len__(self) -> int:
        return len(self.ops)

    # -- construction ----------------------------------------------------------------------
    @classmethod
    def from_benchmark(cls, path: str | Path, dataset: str, select: str = "auto") -> Oracle:
        """Read every arch's accuracies once (about 2 s for the 15,625 archs).

        ``select="auto"``: validation accuracy where the benchmark has it, else test;
        ``"test"``: always test (to measure what selecting on test changes).
        """
        if select not in ("auto", "test"):
            raise UsageError(f"select must be 'auto' or 'test', got {select!r}")
        from fewshot.benchmark import Benchmark, canonical_dataset

        try:
            name = canonical_dataset(dataset)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
        bench = Benchmark(path)
        ops = np.array([a.op_indices for a in bench.archs()], dtype=np.int64)
        report = bench.accuracies(name)
        valid = _VALIDATION.get(name) if select == "auto" else None
        if valid is not None:
            try:
                return cls(ops, bench.accuracies(valid), report, name, "validation")
            except ValueError:  # this benchmark has no validation column: select on test
                pass
        return cls(ops, report, report, name, "test")

    # -- arch <-> index ----------------------------------------------------------------------
    def arch(self, index: int) -> Arch:
        return Arch.from_indices(self.ops[int(index)])

    def index(self, arch: Arch | str) -> int:
        """Benchmark index of ``arch``; ``ValueError`` when the oracle does not hold it."""
        arch = Arch.from_string(arch) if isinstance(arch, str) else arch
        index = int(self._index_of_code[int(arch_codes(np.array([arch.op_indices]))[0])])
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
        enabled = mask.to_array()
        return enabled[np.arange(NUM_EDGES), self.ops].all(axis=1)

    @property
    def neighbours(self) -> np.ndarray:
        """``(n, 24)`` indices of the archs at edit distance 1 (``-1``: not in the benchmark).

        Column ``e * 4 + k`` replaces edge ``e``'s op by the ``k``-th other op (increasing).
        """
        if self._neighbours is None:
            object.__setattr__(self, "_neighbours", self._neighbour_table())
        return self._neighbours

    def _neighbour_table(self) -> np.ndarray:
        columns = []
        for e in range(NUM_EDGES):
            for k in range(1, NUM_OPS):
                new_op = (self.ops[:, e] + k) % NUM_OPS
                codes = self._codes + (new_op - self.ops[:, e]) * _PLACE[e]
                columns.append((new_op, self._index_of_code[codes]))
        # order each edge's four alternatives by op index, so columns are deterministic
        table = np.empty((len(self), NUM_EDGES * (NUM_OPS - 1)), dtype=np.int64)
        for e in range(NUM_EDGES):
            block = columns[e * (NUM_OPS - 1) : (e + 1) * (NUM_OPS - 1)]
            new_ops = np.stack([b[0] for b in block], axis=1)
            idx = np.stack([b[1] for b in block], axis=1)
            order = np.argsort(new_ops, axis=1)
            table[:, e * 4 : (e + 1) * 4] = np.take_along_axis(idx, order, axis=1)
        return table


__all__ = ["Oracle", "arch_codes"]
