"""The NAS-Bench-Macro search space (Su et al., CVPR 2021): the one module that owns its encoding.

A chain of 8 searchable layers in stages of 2, 3 and 3; each layer picks one of 3 blocks,
in the authors' order and names (their arch strings use the digits):

- ``0`` ``id``: identity (a 1x1 conv + BN where the layer changes shape);
- ``1`` ``ir_3x3_t3``: MobileNetV2 inverted residual, kernel 3, expansion 3;
- ``2`` ``ir_5x5_t6``: MobileNetV2 inverted residual, kernel 5, expansion 6.

The first layer of each stage (layers 0, 2 and 5) has stride 2 and doubles the channels.
An arch string is the 8 digits, layer 0 first (``"22212220"``). Archs are indexed by the
base-3 value of their string (the order of ``itertools.product``), which is not the order of
the benchmark file's keys.

Equivalent archs: in a stage, the layers after the first have equal shapes, so moving an
identity to the end of its stage does not change the function class; the authors trained
only the representative with identities last (:meth:`Arch.canonical`) and copied its entry to
the others: 6,561 archs, 3,969 distinct trainings.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np

OPS: tuple[str, ...] = ("id", "ir_3x3_t3", "ir_5x5_t6")
"""Candidate blocks of every layer, in the authors' order (the arch-string digits)."""

STAGES: tuple[int, ...] = (2, 3, 3)
"""Layers per stage; the first layer of each has stride 2 and doubles the channels."""

NUM_LAYERS = sum(STAGES)
NUM_OPS = len(OPS)
NUM_ARCHS = NUM_OPS**NUM_LAYERS  # 6,561
REDUCTION_LAYERS: tuple[int, ...] = tuple(itertools.accumulate((0, *STAGES[:-1])))
"""The stride-2 layers (0, 2, 5)."""

_OP_INDEX = {op: i for i, op in enumerate(OPS)}


def op_index(op: str) -> int:
    """Index of ``op`` in :data:`OPS`; an unknown name raises ``ValueError`` listing the ops."""
    try:
        return _OP_INDEX[op]
    except (KeyError, TypeError):
        raise ValueError(f"unknown NAS-Bench-Macro block {op!r}; expected one of {OPS}") from None


def _check_layer(layer: int) -> int:
    if not isinstance(layer, (int, np.integer)) or not 0 <= layer < NUM_LAYERS:
        raise ValueError(f"layer must be an integer in 0..{NUM_LAYERS - 1}, got {layer!r}")
    return int(layer)


@dataclass(frozen=True)
class Arch:
    """One NAS-Bench-Macro architecture: the block of each of the 8 layers."""

    ops: tuple[str, ...]

    def __post_init__(self) -> None:
        ops = tuple(self.ops)
        if len(ops) != NUM_LAYERS:
            raise ValueError(f"a NAS-Bench-Macro arch has {NUM_LAYERS} layers, got {ops}")
        for op in ops:
            op_index(op)
        object.__setattr__(self, "ops", ops)

    @classmethod
    def from_string(cls, arch_str: str) -> Arch:
        """Parse the 8-digit string (``"22212220"``); anything else raises ``ValueError``."""
        if (
            not isinstance(arch_str, str)
            or len(arch_str.strip()) != NUM_LAYERS
            or not set(arch_str.strip()) <= {str(i) for i in range(NUM_OPS)}
        ):
            raise ValueError(
                f"not a NAS-Bench-Macro arch string: {arch_str!r}; expected {NUM_LAYERS} digits "
                f"in 0..{NUM_OPS - 1} (0 {OPS[0]}, 1 {OPS[1]}, 2 {OPS[2]}), e.g. '22212220'"
            )
        return cls.from_indices([int(c) for c in arch_str.strip()])

    def to_string(self) -> str:
        return "".join(str(i) for i in self.op_indices)

    def __str__(self) -> str:
        return self.to_string()

    @property
    def op_indices(self) -> tuple[int, ...]:
        return tuple(_OP_INDEX[op] for op in self.ops)

    @classmethod
    def from_indices(cls, indices: Sequence[int]) -> Arch:
        if any(not 0 <= int(i) < NUM_OPS for i in indices):
            raise ValueError(f"op indices must lie in 0..{NUM_OPS - 1}, got {tuple(indices)}")
        return cls(tuple(OPS[int(i)] for i in indices))

    @property
    def index(self) -> int:
        """Position in :func:`all_archs` (the base-3 value of the arch string)."""
        return int(self.to_string(), NUM_OPS)

    @classmethod
    def from_index(cls, index: int) -> Arch:
        if not 0 <= int(index) < NUM_ARCHS:
            raise IndexError(f"arch index {index} outside 0..{NUM_ARCHS - 1}")
        return cls.from_indices(np.base_repr(int(index), NUM_OPS).zfill(NUM_LAYERS))

    def canonical(self) -> Arch:
        """The equivalent arch the authors trained: in each stage, the identities after its
        first layer moved to the stage's end (the others' benchmark entries are copies)."""
        ops: list[str] = []
        start = 0
        for size in STAGES:
            rest = self.ops[start + 1 : start + size]
            kept = [op for op in rest if op != "id"]
            ops += [self.ops[start], *kept, *["id"] * (len(rest) - len(kept))]
            start += size
        return Arch(tuple(ops))


def all_archs() -> Iterator[Arch]:
    """All 6,561 archs in index order."""
    for idx in itertools.product(range(NUM_OPS), repeat=NUM_LAYERS):
        yield Arch.from_indices(idx)


@dataclass(frozen=True)
class Mask:
    """Enabled blocks per layer (8x3 booleans): the search space of a sub-supernet."""

    enabled: tuple[tuple[bool, ...], ...]

    def __post_init__(self) -> None:
        m = np.asarray(self.enabled)
        if m.shape != (NUM_LAYERS, NUM_OPS):
            raise ValueError(
                f"a NAS-Bench-Macro mask is {NUM_LAYERS}x{NUM_OPS} (layers x blocks), "
                f"got shape {m.shape}"
            )
        if m.dtype != bool and not np.isin(m, (0, 1)).all():
            raise ValueError("a mask holds booleans (or 0/1) only")
        m = m.astype(bool)
        empty = [i for i in range(NUM_LAYERS) if not m[i].any()]
        if empty:
            raise ValueError(f"mask has no enabled block on layer(s) {empty}")
        object.__setattr__(self, "enabled", tuple(tuple(bool(v) for v in row) for row in m))

    @classmethod
    def full(cls) -> Mask:
        return cls(np.ones((NUM_LAYERS, NUM_OPS), dtype=bool))

    @classmethod
    def from_arch(cls, arch: Arch) -> Mask:
        m = np.zeros((NUM_LAYERS, NUM_OPS), dtype=bool)
        m[np.arange(NUM_LAYERS), arch.op_indices] = True
        return cls(m)

    @classmethod
    def from_op_lists(cls, op_lists: Sequence[Iterable[str]]) -> Mask:
        if len(op_lists) != NUM_LAYERS:
            raise ValueError(f"a mask needs {NUM_LAYERS} op lists, got {len(op_lists)}")
        m = np.zeros((NUM_LAYERS, NUM_OPS), dtype=bool)
        for layer, ops in enumerate(op_lists):
            for op in ops:
                m[layer, op_index(op)] = True
        return cls(m)

    def to_array(self) -> np.ndarray:
        return np.array(self.enabled, dtype=bool)

    def to_op_lists(self) -> list[list[str]]:
        return [list(self.ops(i)) for i in range(NUM_LAYERS)]

    def ops(self, layer: int) -> tuple[str, ...]:
        """Enabled block names of ``layer``, in :data:`OPS` order."""
        row = self.enabled[_check_layer(layer)]
        return tuple(op for op, on in zip(OPS, row, strict=True) if on)

    @property
    def num_archs(self) -> int:
        return math.prod(sum(row) for row in self.enabled)

    def archs(self) -> Iterator[Arch]:
        for ops in itertools.product(*(self.ops(i) for i in range(NUM_LAYERS))):
            yield Arch(ops)

    def __len__(self) -> int:
        return self.num_archs

    def __contains__(self, arch: object) -> bool:
        if not isinstance(arch, Arch):
            return False
        return all(self.enabled[i][j] for i, j in enumerate(arch.op_indices))

    def is_subset_of(self, other: Mask) -> bool:
        return bool(np.all(~self.to_array() | other.to_array()))

    def restrict(self, layer: int, ops: Iterable[str]) -> Mask:
        """This mask with ``layer`` limited to ``ops`` (a non-empty subset of its enabled ops)."""
        layer = _check_layer(layer)
        wanted = {op_index(op) for op in ops}
        missing = [OPS[i] for i in sorted(wanted) if not self.enabled[layer][i]]
        if not wanted or missing:
            raise ValueError(
                f"cannot restrict layer {layer} to {sorted(wanted)}: enabled are {self.ops(layer)}"
            )
        m = self.to_array()
        m[layer] = [i in wanted for i in range(NUM_OPS)]
        return Mask(m)

    def __str__(self) -> str:
        return " ".join("{" + ",".join(self.ops(i)) + "}" for i in range(NUM_LAYERS))
