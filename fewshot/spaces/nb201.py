"""The NAS-Bench-201 / NATS-Bench topology search space: the one module that owns its encoding.

- ``OPS``: the five candidate operations in NATS-Bench order (the only op order in fewshot).
- ``EDGES``: the six cell edges ``(to, from)`` in arch-string order.
- ``Arch``: a frozen architecture value with arch-string and one-hot round trips.
- ``Mask``: a frozen 6x5 boolean value of enabled ops: a sub-supernet's search space.

Benchmark indices (an arch's position in NATS-Bench's meta list) are not invented here: they
come from ``nats_bench`` through :class:`fewshot.benchmark.Benchmark` (``index`` / ``arch``).
The arch string is the one format shared with other code (NASLib and zero-cost-nas use other
op orders; convert through the string, never through op numbers).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np

OPS: tuple[str, ...] = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
"""Candidate operations, in NATS-Bench order."""

EDGES: tuple[tuple[int, int], ...] = ((1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2))
"""Cell edges as ``(to_node, from_node)``, in the order they appear in an arch string."""

NUM_NODES = 4
NUM_EDGES = len(EDGES)
NUM_OPS = len(OPS)
NUM_ARCHS = NUM_OPS**NUM_EDGES  # 15,625

_OP_INDEX = {op: i for i, op in enumerate(OPS)}


def op_index(op: str) -> int:
    """Index of ``op`` in :data:`OPS`; an unknown name raises ``ValueError`` listing the ops."""
    try:
        return _OP_INDEX[op]
    except KeyError:
        raise ValueError(f"unknown operation {op!r}; expected one of {', '.join(OPS)}") from None


def _check_edge(edge: int) -> int:
    if not isinstance(edge, (int, np.integer)) or not 0 <= edge < NUM_EDGES:
        raise ValueError(f"edge must be an integer in 0..{NUM_EDGES - 1}, got {edge!r}")
    return int(edge)


@dataclass(frozen=True)
class Arch:
    """One NB201 architecture: the op on each of the six edges, in :data:`EDGES` order."""

    ops: tuple[str, ...]

    def __post_init__(self) -> None:
        ops = tuple(self.ops)
        if len(ops) != NUM_EDGES:
            raise ValueError(f"an arch has {NUM_EDGES} edges, got {len(ops)} ops: {ops}")
        for op in ops:
            op_index(op)
        object.__setattr__(self, "ops", ops)

    @property
    def is_connected(self) -> bool:
        """Whether a path of non-``none`` ops joins the cell's input (node 0) to its output
        (node 3). A disconnected cell outputs zeros whatever its weights: 341 of the 15,625
        archs, all at chance accuracy in NATS-Bench (one large tie), so a ranking study scores
        connected archs only."""
        reached = {0}
        for (to_node, from_node), op in zip(EDGES, self.ops, strict=True):
            if op != "none" and from_node in reached:  # EDGES are in topological order
                reached.add(to_node)
        return NUM_NODES - 1 in reached

    # -- arch strings -------------------------------------------------------------------
    @classmethod
    def from_string(cls, arch_str: str) -> Arch:
        """Parse ``|op~0|+|op~0|op~1|+|op~0|op~1|op~2|``; malformed strings raise ``ValueError``."""
        if not isinstance(arch_str, str):
            raise ValueError(f"an arch string must be a str, got {type(arch_str).__name__}")
        nodes = arch_str.strip().split("+")
        if len(nodes) != NUM_NODES - 1:
            raise ValueError(
                f"arch string {arch_str!r} has {len(nodes)} nodes separated by '+', "
                f"expected {NUM_NODES - 1}"
            )
        ops: list[str] = []
        for to_node, node in enumerate(nodes, start=1):
            ops.extend(_parse_node(arch_str, node, to_node))
        return cls(tuple(ops))

    def to_string(self) -> str:
        """Format as the NATS-Bench arch string."""
        parts, k = [], 0
        for to_node in range(1, NUM_NODES):
            items = []
            for from_node in range(to_node):
                items.append(f"{self.ops[k]}~{from_node}")
                k += 1
            parts.append("|" + "|".join(items) + "|")
        return "+".join(parts)

    def __str__(self) -> str:
        return self.to_string()

    # -- numeric encodings --------------------------------------------------------------
    @property
    def op_indices(self) -> tuple[int, ...]:
        """Op index (NATS-Bench order) per edge."""
        return tuple(_OP_INDEX[op] for op in self.ops)

    @classmethod
    def from_indices(cls, indices: Sequence[int]) -> Arch:
        """Build from one op index per edge (NATS-Bench order)."""
        if any(not 0 <= int(i) < NUM_OPS for i in indices):
            raise ValueError(f"op indices must lie in 0..{NUM_OPS - 1}, got {tuple(indices)}")
        return cls(tuple(OPS[int(i)] for i in indices))

    def to_onehot(self) -> np.ndarray:
        """6x5 one-hot matrix (edges x ops), dtype bool."""
        m = np.zeros((NUM_EDGES, NUM_OPS), dtype=bool)
        m[np.arange(NUM_EDGES), self.op_indices] = True
        return m

    @classmethod
    def from_onehot(cls, matrix: np.ndarray | Sequence[Sequence[float]]) -> Arch:
        """Inverse of :meth:`to_onehot`; each row must have exactly one non-zero entry."""
        m = np.asarray(matrix)
        if m.shape != (NUM_EDGES, NUM_OPS):
            raise ValueError(f"one-hot matrix must be {NUM_EDGES}x{NUM_OPS}, got {m.shape}")
        rows = m != 0
        bad = [e for e in range(NUM_EDGES) if rows[e].sum() != 1]
        if bad:
            raise ValueError(f"one-hot rows {bad} do not have exactly one non-zero entry")
        return cls.from_indices(rows.argmax(axis=1).tolist())


def _parse_node(arch_str: str, node: str, to_node: int) -> list[str]:
    if not (node.startswith("|") and node.endswith("|")) or len(node) < 2:
        raise ValueError(f"arch string {arch_str!r}: node {node!r} must be wrapped in '|'")
    items = node[1:-1].split("|")
    if len(items) != to_node:
        raise ValueError(
            f"arch string {arch_str!r}: node {to_node} has {len(items)} inputs, expected {to_node}"
        )
    ops = []
    for from_node, item in enumerate(items):
        op, sep, src = item.partition("~")
        if not sep or src != str(from_node):
            raise ValueError(
                f"arch string {arch_str!r}: input {item!r} of node {to_node} should be "
                f"'<op>~{from_node}'"
            )
        op_index(op)
        ops.append(op)
    return ops


def all_archs() -> Iterator[Arch]:
    """All 15,625 archs in lexicographic op-index order (not the benchmark's index order)."""
    for idx in itertools.product(range(NUM_OPS), repeat=NUM_EDGES):
        yield Arch.from_indices(idx)


@dataclass(frozen=True)
class Mask:
    """Enabled ops per edge (6x5 booleans): the search space of a sub-supernet.

    Every edge must keep at least one op. The mask contains every arch that picks one enabled
    op per edge. Values are immutable and hashable; use :meth:`restrict` to derive a child.
    """

    enabled: tuple[tuple[bool, ...], ...]

    def __post_init__(self) -> None:
        m = np.asarray(self.enabled)
        if m.shape != (NUM_EDGES, NUM_OPS):
            raise ValueError(f"a mask is {NUM_EDGES}x{NUM_OPS} (edges x ops), got shape {m.shape}")
        if m.dtype != bool and not np.isin(m, (0, 1)).all():
            raise ValueError("a mask holds booleans (or 0/1) only")
        m = m.astype(bool)
        empty = [e for e in range(NUM_EDGES) if not m[e].any()]
        if empty:
            raise ValueError(
                f"mask has no enabled op on edge(s) {empty}; every edge needs at least one op"
            )
        object.__setattr__(self, "enabled", tuple(tuple(bool(v) for v in row) for row in m))

    # -- constructors -------------------------------------------------------------------
    @classmethod
    def full(cls) -> Mask:
        """The whole space: every op enabled on every edge."""
        return cls(tuple((True,) * NUM_OPS for _ in range(NUM_EDGES)))

    @classmethod
    def from_arch(cls, arch: Arch) -> Mask:
        """The one-arch mask of ``arch``."""
        return cls(arch.to_onehot())

    @classmethod
    def from_op_lists(cls, op_lists: Sequence[Iterable[str]]) -> Mask:
        """Build from one list of enabled op names per edge (the tree-file format)."""
        if len(op_lists) != NUM_EDGES:
            raise ValueError(f"a mask needs {NUM_EDGES} op lists, got {len(op_lists)}")
        m = np.zeros((NUM_EDGES, NUM_OPS), dtype=bool)
        for e, ops in enumerate(op_lists):
            for op in ops:
                m[e, op_index(op)] = True
        return cls(m)

    # -- views --------------------------------------------------------------------------
    def to_array(self) -> np.ndarray:
        """A fresh 6x5 bool array."""
        return np.array(self.enabled, dtype=bool)

    def to_op_lists(self) -> list[list[str]]:
        """Enabled op names per edge, in NATS-Bench order (JSON friendly)."""
        return [list(self.ops(e)) for e in range(NUM_EDGES)]

    def ops(self, edge: int) -> tuple[str, ...]:
        """Enabled op names on ``edge``, in NATS-Bench order."""
        row = self.enabled[_check_edge(edge)]
        return tuple(op for op, on in zip(OPS, row, strict=True) if on)

    @property
    def num_archs(self) -> int:
        """Number of archs in this sub-space (product of enabled ops per edge)."""
        return math.prod(sum(row) for row in self.enabled)

    @property
    def is_single_arch(self) -> bool:
        return self.num_archs == 1

    def archs(self) -> Iterator[Arch]:
        """Every arch in the mask, in lexicographic op order."""
        for ops in itertools.product(*(self.ops(e) for e in range(NUM_EDGES))):
            yield Arch(ops)

    def __iter__(self) -> Iterator[Arch]:
        return self.archs()

    def __len__(self) -> int:
        return self.num_archs

    def __contains__(self, arch: object) -> bool:
        if not isinstance(arch, Arch):
            return False
        return all(self.enabled[e][i] for e, i in enumerate(arch.op_indices))

    def only_arch(self) -> Arch:
        """The arch of a one-arch mask; ``ValueError`` when the mask holds several."""
        if not self.is_single_arch:
            raise ValueError(f"mask holds {self.num_archs} archs, not one")
        return next(self.archs())

    def is_subset_of(self, other: Mask) -> bool:
        """True when every op enabled here is enabled in ``other``."""
        return bool(np.all(~self.to_array() | other.to_array()))

    # -- derivation ---------------------------------------------------------------------
    def restrict(self, edge: int, ops: Iterable[str]) -> Mask:
        """This mask with ``edge`` limited to ``ops`` (a non-empty subset of its enabled ops)."""
        edge = _check_edge(edge)
        ops = tuple(ops)
        wanted = {op_index(op) for op in ops}
        if not wanted:
            raise ValueError(f"cannot restrict edge {edge} to no ops")
        missing = [OPS[i] for i in sorted(wanted) if not self.enabled[edge][i]]
        if missing:
            raise ValueError(
                f"ops {missing} are not enabled on edge {edge} (enabled: {list(self.ops(edge))})"
            )
        m = self.to_array()
        m[edge] = [i in wanted for i in range(NUM_OPS)]
        return Mask(m)

    def __str__(self) -> str:
        return " ".join("{" + ",".join(self.ops(e)) + "}" for e in range(NUM_EDGES))
