"""The search-space interface: what a split cuts, what an arch is, what builds and judges it.

A search space is one registered value (``@register_space("nb201")``), and everything above
:mod:`fewshot.spaces` asks it instead of naming an op, an edge list or a shape:

- **positions**: what a split can cut, in encoding order (the edges of a cell, or the layers of
  a chain), with ``position_kind`` ("edge", "layer") for messages;
- **ops**: the candidate ops, the same tuple at every position, in the space's one canonical
  order (``ops_at(p)`` gives a position's candidates);
- **values**: :class:`Arch` (one op per position) and :class:`Mask` (positions x ops booleans,
  a sub-space / sub-supernet), frozen and hashable, each bound to its space by a subclass in the
  space's module (``space.Arch``, ``space.Mask``), so values of two spaces never compare equal;
- **encodings**: the arch string (``parse_arch`` / ``format_arch``, the space's own format), op
  indices, one-hot matrices, and the lexicographic code (``arch.code``: base-``num_ops`` digits,
  first position most significant; an enumeration order, never a benchmark's index);
- **sampling**: uniform inside a mask (``sample``), enumeration (``all_archs``, ``mask.archs()``);
- **structure** for graph encoders and free baselines: ``op_graph()`` (how positions feed each
  other), ``zero_op`` (an op that outputs zeros, removed from op graphs), ``parametric_ops``
  (ops with weights: "number of convolutions" is their count), ``nonlinear_count`` (EFS-NAS's
  nonlinear functions on the op graph's paths), ``arch_groups`` (the space's archs grouped by
  such a count: EFS-NAS's sub-supernets, the groups of the ``balanced`` sampling rule),
  ``is_valid`` (archs whose network is not degenerate, e.g. NB201 cells with an input-output
  path);
- **builders**: ``build_supernet`` (the maskable weight-sharing supernet) and ``build_network``
  (a standalone network with the benchmark's layers and parameter count), both plain
  ``nn.Module`` s honouring the supernet contract of :mod:`fewshot.models.supernet`
  (``forward(x, arch=None)``, ``mode``, ``set_mask``, ``search_mask``, ``sample_arch``,
  ``candidates``); ``C`` and ``N`` are the space's width and depth knobs (``model_defaults``);
- **benchmark**: ``open_benchmark(path)`` returns an adapter (see :class:`BenchmarkAdapter`)
  with ground-truth accuracy per data set and, where known, parameter counts;
  ``benchmark_datasets`` names its data sets.

Builders and benchmark adapters live above this layer (:mod:`fewshot.models`,
:mod:`fewshot.benchmark`): a space imports them inside the method that needs them, the declared
exceptions of ``.importlinter``. This module imports numpy and the plumbing below only.

Adding a space: ``docs/spaces.md``.
"""

from __future__ import annotations

import itertools
import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Protocol, TypeVar

import numpy as np

from fewshot.registry import Registry

SPACES: Registry[SearchSpace] = Registry("search space")
"""Registered search spaces by name (``--space NAME``)."""

DEFAULT_SPACE = "nb201"
GROUPINGS = ("nonlinear",)
"""What :meth:`SearchSpace.arch_groups` can group archs by: ``nonlinear``, the number of
nonlinear functions (:meth:`SearchSpace.nonlinear_count`)."""
EFS_MERGE: tuple[tuple[int, ...], ...] = ((0, 1),)
"""EFS-NAS's merge of its groups (Oh et al., SPEC section 5c): archs with no nonlinear function
join those with one (NB201's degenerate archs would otherwise take a group of their own)."""

S = TypeVar("S", bound="type[SearchSpace]")


def register_space(name: str) -> Callable[[S], S]:
    """Class decorator: instantiate the space once, bind its value types, register it.

    The class must set ``arch_type`` and ``mask_type`` to :class:`Arch` / :class:`Mask`
    subclasses defined at module level (so values pickle across processes and Ray workers).
    """

    def wrap(cls: S) -> S:
        space = cls()
        space.name = name
        for value_type in (space.arch_type, space.mask_type):
            if "space" in value_type.__dict__:
                raise ValueError(f"{value_type.__name__} is already bound to a search space")
            value_type.space = space
        SPACES.register(name, space)
        return cls

    return wrap


def get_space(name: str | SearchSpace = DEFAULT_SPACE) -> SearchSpace:
    """The registered space called ``name`` (a space passes through); unknown names raise
    :class:`~fewshot.registry.UnknownNameError` listing the known ones."""
    if isinstance(name, SearchSpace):
        return name
    return SPACES.get(name)


def space_names() -> list[str]:
    """Names ``--space`` accepts."""
    return SPACES.names()


def space_of(value: Arch | Mask) -> SearchSpace:
    """The space an arch or mask belongs to."""
    return type(value).space


class BenchmarkAdapter(Protocol):
    """Ground truth of a space: what a benchmark adapter offers every command.

    Accuracies are percentages; ``dataset`` is one of ``datasets`` (the first is the default).
    Indices are the benchmark's own order (``archs()[i]`` is arch ``i``), never an enumeration.
    ``params`` returns the benchmark's parameter count in millions, or ``None`` where unknown.
    """

    space: SearchSpace
    datasets: tuple[str, ...]
    path: Path

    def __len__(self) -> int: ...
    def index(self, arch: Arch | str) -> int: ...
    def arch(self, index: int) -> Arch: ...
    def archs(self) -> list[Arch]: ...
    def accuracy(self, arch_or_index: Arch | str | int, dataset: str = ...) -> float: ...
    def accuracies(self, dataset: str = ...) -> np.ndarray: ...
    def params(self, arch_or_index: Arch | str | int) -> float | None: ...


class SearchSpace(ABC):
    """A search space: positions x candidate ops, its values, builders and benchmark.

    Subclasses set the class attributes below and implement :meth:`parse_arch`,
    :meth:`format_arch` and :meth:`build_supernet`; the rest (``build_network`` included) has
    defaults that suit most spaces. Instantiated once by :func:`register_space`.
    """

    name: str = ""
    description: ClassVar[str] = ""
    positions: ClassVar[tuple[str, ...]] = ()
    """Labels of the positions a split can cut, in encoding order."""
    position_kind: ClassVar[str] = "position"
    ops: ClassVar[tuple[str, ...]] = ()
    """Candidate ops (the same at every position), in the space's canonical order."""
    parametric_ops: ClassVar[frozenset[str]] = frozenset()
    """Ops with weights (convolutions): their count per arch is a free ranking baseline."""
    zero_op: ClassVar[str | None] = None
    """An op whose output is zero (dropped from op graphs), or ``None``."""
    op_labels: ClassVar[dict[str, str]] = {}
    """Short display labels of ops (tables, tree figures); an op without one shows its name."""
    arch_type: ClassVar[type[Arch]]
    mask_type: ClassVar[type[Mask]]
    model_defaults: ClassVar[dict[str, int]] = {}
    """Default ``C`` (width) and ``N`` (depth) of the builders: the benchmark's network."""
    benchmark_datasets: ClassVar[tuple[str, ...]] = ()
    """Data sets the benchmark has ground truth for (first: the default)."""

    # -- shape ------------------------------------------------------------------------
    @property
    def Arch(self) -> type[Arch]:  # noqa: N802 - reads as a type: space.Arch.from_string(s)
        return self.arch_type

    @property
    def Mask(self) -> type[Mask]:  # noqa: N802
        return self.mask_type

    @property
    def num_positions(self) -> int:
        return len(self.positions)

    @property
    def num_ops(self) -> int:
        return len(self.ops)

    @property
    def shape(self) -> tuple[int, int]:
        """(positions, ops): the shape of a mask or one-hot arch."""
        return (self.num_positions, self.num_ops)

    @property
    def num_archs(self) -> int:
        return self.num_ops**self.num_positions

    def ops_at(self, position: int) -> tuple[str, ...]:
        """Candidate ops of ``position``."""
        self.check_position(position)
        return self.ops

    def op_label(self, op: str) -> str:
        """How tables and figures show ``op``: its :attr:`op_labels` entry, else its name."""
        return self.op_labels.get(op, op)

    def op_index(self, op: str) -> int:
        """Index of ``op`` in :attr:`ops`; an unknown name raises ``ValueError`` listing them."""
        try:
            return self.ops.index(op)
        except ValueError:
            raise ValueError(
                f"unknown operation {op!r} in search space {self.name!r}; "
                f"expected one of {', '.join(self.ops)}"
            ) from None

    def check_position(self, position: int) -> int:
        """``position`` as an int, or ``ValueError`` when it is not one of the space's."""
        if not isinstance(position, (int, np.integer)) or not 0 <= position < self.num_positions:
            raise ValueError(
                f"{self.position_kind} must be an integer in 0..{self.num_positions - 1}, "
                f"got {position!r}"
            )
        return int(position)

    # -- values -----------------------------------------------------------------------
    @abstractmethod
    def parse_arch(self, text: str) -> Arch:
        """Parse the space's arch string; a malformed one raises ``ValueError`` saying why."""

    @abstractmethod
    def format_arch(self, arch: Arch) -> str:
        """The space's arch string of ``arch`` (inverse of :meth:`parse_arch`)."""

    def arch(self, ops: Iterable[str]) -> Arch:
        """An arch from one op name per position."""
        return self.arch_type(tuple(ops))

    def full_mask(self) -> Mask:
        """The whole space: every op enabled at every position."""
        return self.mask_type.full()

    def all_archs(self) -> Iterator[Arch]:
        """Every arch, in lexicographic code order (not a benchmark's index order)."""
        return self.full_mask().archs()

    def is_valid(self, arch: Arch) -> bool:
        """Whether ``arch``'s network is not degenerate (default: every arch is)."""
        return True

    def num_parametric(self, arch: Arch) -> int:
        """How many of ``arch``'s ops have weights (NB201: its convolutions)."""
        return sum(op in self.parametric_ops for op in arch.ops)

    @property
    def nonlinear_ops(self) -> frozenset[str]:
        """Ops that apply a nonlinear function (default: :attr:`parametric_ops`; in the shipped
        spaces the ops with weights are exactly the ReLU-conv blocks)."""
        return self.parametric_ops

    def nonlinear_count(self, arch: Arch) -> int:
        """EFS-NAS's number of nonlinear functions of ``arch`` (SPEC section 5c): the most
        :attr:`nonlinear_ops` on one input-output path of :meth:`op_graph`, a path through the
        :attr:`zero_op` not counting (0 when no path joins input and output). NB201: ReLU-conv
        ops on the cell's paths, 0-3; a chain (NAS-Bench-Macro): its nonlinear layers."""
        adjacency, from_input, to_output = self.op_graph()
        best: dict[int, int] = {}

        def most(p: int) -> int:  # most nonlinear ops on a path from the input through p
            if p not in best:
                if arch.ops[p] == self.zero_op:
                    best[p] = -1
                else:
                    before = [most(q) for q in np.flatnonzero(adjacency[:, p])]
                    reach = max([0 if from_input[p] else -1, *before])
                    best[p] = -1 if reach < 0 else reach + (arch.ops[p] in self.nonlinear_ops)
            return best[p]

        return max([0, *(most(p) for p in np.flatnonzero(to_output))])

    def group_value(self, by: str, arch: Arch) -> int:
        """The value of ``arch`` that :meth:`arch_groups` groups by (one of :data:`GROUPINGS`)."""
        if by == "nonlinear":
            return self.nonlinear_count(arch)
        raise ValueError(f"cannot group archs by {by!r}; one of {', '.join(GROUPINGS)}")

    def arch_groups(
        self,
        by: str = "nonlinear",
        *,
        within: Mask | ArchGroup | None = None,
        merge: Sequence[Collection[int]] = EFS_MERGE,
    ) -> tuple[ArchGroup, ...]:
        """The archs of ``within`` (default: the whole space) grouped by their ``by`` value
        (:meth:`group_value`), the values of one ``merge`` entry together (default EFS-NAS's:
        0 joins 1), the non-empty groups by increasing value: a partition of ``within``.

        NB201 by nonlinear count: 1,983 / 7,122 / 5,520 / 1,000 archs of 0-3, merged into the
        3 sub-supernets of EFS-NAS; a group of ``within`` an :class:`ArchGroup` keeps to it."""
        within = self.full_mask() if within is None else within
        joined = {v: min(entry) for entry in merge for v in entry}
        archs: dict[int, list[Arch]] = {}
        values: dict[int, set[int]] = {}
        for arch in within.archs():
            value = self.group_value(by, arch)
            key = joined.get(value, value)
            archs.setdefault(key, []).append(arch)
            values.setdefault(key, set()).add(value)
        mask = within if isinstance(within, Mask) else within.mask
        return tuple(
            ArchGroup(mask, by, frozenset(values[k]))._holding(tuple(archs[k]))
            for k in sorted(archs)
        )

    def sample(self, mask: Mask | None, rng: np.random.Generator) -> Arch:
        """An arch drawn uniformly from ``mask`` (default: the whole space)."""
        mask = mask if mask is not None else self.full_mask()
        enabled = [mask.ops(p) for p in range(self.num_positions)]
        return self.arch(ops[rng.integers(len(ops))] for ops in enabled)

    def op_graph(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """How positions feed each other, for graph encoders (BP's GCN).

        Returns ``(adjacency, from_input, to_output)``: ``adjacency[p, q]`` is true when
        position ``p``'s output is an input of position ``q``; ``from_input[p]`` when ``p``
        reads the network's (or cell's) input; ``to_output[p]`` when ``p`` feeds its output.
        Default: a chain.
        """
        n = self.num_positions
        adjacency = np.eye(n, k=1, dtype=bool)
        return adjacency, np.arange(n) == 0, np.arange(n) == n - 1

    # -- builders ---------------------------------------------------------------------
    def model_options(self, C: int | None = None, N: int | None = None) -> dict[str, int]:
        """``C`` and ``N`` with the space's defaults filled in."""
        options = dict(self.model_defaults)
        for key, value in (("C", C), ("N", N)):
            if value is not None:
                options[key] = int(value)
        return options

    @abstractmethod
    def build_supernet(
        self,
        *,
        C: int | None = None,
        N: int | None = None,
        num_classes: int = 10,
        candidates: Mask | None = None,
        mode: str = "mixture",
        affine: bool = True,
        track_running_stats: bool = True,
    ) -> Any:
        """The maskable supernet (an ``nn.Module``); ``candidates`` limits the ops built."""

    def build_network(
        self,
        arch: Arch | str,
        *,
        C: int | None = None,
        N: int | None = None,
        num_classes: int = 10,
        affine: bool = True,
        track_running_stats: bool = True,
    ) -> Any:
        """The standalone network of ``arch``: the benchmark's layers and parameter count,
        and ``state_dict`` keys a subset of the full supernet's (weights move between them).
        Default: the supernet whose candidates are ``arch``'s one-arch mask."""
        arch = self.arch_type.from_string(arch) if isinstance(arch, str) else arch
        return self.build_supernet(
            C=C,
            N=N,
            num_classes=num_classes,
            candidates=self.mask_type.from_arch(arch),
            affine=affine,
            track_running_stats=track_running_stats,
        )

    # -- benchmark --------------------------------------------------------------------
    def find_benchmark(
        self, flag: str | Path | None = None, *, required: bool = False
    ) -> Path | None:
        """Where this space's benchmark is (``--benchmark``, the environment, default folders),
        or ``None`` when it is in none of them and not ``required``."""
        raise NotImplementedError(f"search space {self.name!r} has no benchmark")

    def open_benchmark(self, path: str | Path | None = None) -> BenchmarkAdapter:
        """The benchmark adapter read from ``path`` (or found as :meth:`find_benchmark` does)."""
        raise NotImplementedError(f"search space {self.name!r} has no benchmark")

    def __reduce__(self) -> tuple[Callable[[str], SearchSpace], tuple[str]]:
        """Pickled by name: a space sent to another process (Ray, spawn) is the registered one
        there, never a copy (``get_space(name) is space`` holds everywhere)."""
        return get_space, (self.name,)

    def __repr__(self) -> str:
        return f"<search space {self.name!r}: {self.num_positions} {self.position_kind}s x {self.num_ops} ops>"


# -- values -----------------------------------------------------------------------------
@dataclass(frozen=True)
class Arch:
    """One architecture: the op at each position of its space, in position order.

    A space binds its own subclass (``space.Arch``); construct values through it.
    """

    ops: tuple[str, ...]
    space: ClassVar[SearchSpace]

    def __post_init__(self) -> None:
        ops = tuple(self.ops)
        space = self.space
        if len(ops) != space.num_positions:
            raise ValueError(
                f"an arch of {space.name!r} has {space.num_positions} {space.position_kind}s, "
                f"got {len(ops)} ops: {ops}"
            )
        for op in ops:
            space.op_index(op)
        object.__setattr__(self, "ops", ops)

    # -- strings ------------------------------------------------------------------------
    @classmethod
    def from_string(cls: type[A], text: str) -> A:
        """Parse the space's arch string."""
        if not isinstance(text, str):
            raise ValueError(f"an arch string must be a str, got {type(text).__name__}")
        return cls.space.parse_arch(text)  # type: ignore[return-value]

    def to_string(self) -> str:
        return self.space.format_arch(self)

    def __str__(self) -> str:
        return self.to_string()

    # -- numeric encodings --------------------------------------------------------------
    @property
    def op_indices(self) -> tuple[int, ...]:
        """Op index (the space's order) per position."""
        return tuple(self.space.ops.index(op) for op in self.ops)

    @classmethod
    def from_indices(cls: type[A], indices: Sequence[int]) -> A:
        """Build from one op index per position."""
        k = cls.space.num_ops
        if any(not 0 <= int(i) < k for i in indices):
            raise ValueError(f"op indices must lie in 0..{k - 1}, got {tuple(indices)}")
        return cls(tuple(cls.space.ops[int(i)] for i in indices))

    @property
    def code(self) -> int:
        """Lexicographic code: the op indices as base-``num_ops`` digits, first most significant."""
        code = 0
        for i in self.op_indices:
            code = code * self.space.num_ops + i
        return code

    @classmethod
    def from_code(cls: type[A], code: int) -> A:
        """Inverse of :attr:`code`."""
        space = cls.space
        if not 0 <= int(code) < space.num_archs:
            raise ValueError(
                f"an arch code of {space.name!r} lies in 0..{space.num_archs - 1}, got {code}"
            )
        digits = np.unravel_index(int(code), (space.num_ops,) * space.num_positions)
        return cls.from_indices([int(d) for d in digits])

    def to_onehot(self) -> np.ndarray:
        """positions x ops one-hot matrix, dtype bool."""
        m = np.zeros(self.space.shape, dtype=bool)
        m[np.arange(self.space.num_positions), self.op_indices] = True
        return m

    @classmethod
    def from_onehot(cls: type[A], matrix: np.ndarray | Sequence[Sequence[float]]) -> A:
        """Inverse of :meth:`to_onehot`; each row must have exactly one non-zero entry."""
        m = np.asarray(matrix)
        shape = cls.space.shape
        if m.shape != shape:
            raise ValueError(f"one-hot matrix must be {shape[0]}x{shape[1]}, got {m.shape}")
        rows = m != 0
        bad = [p for p in range(shape[0]) if rows[p].sum() != 1]
        if bad:
            raise ValueError(f"one-hot rows {bad} do not have exactly one non-zero entry")
        return cls.from_indices(rows.argmax(axis=1).tolist())

    @property
    def is_valid(self) -> bool:
        """Whether the arch's network is not degenerate (see :meth:`SearchSpace.is_valid`)."""
        return self.space.is_valid(self)


A = TypeVar("A", bound=Arch)
M = TypeVar("M", bound="Mask")


@dataclass(frozen=True)
class Mask:
    """Enabled ops per position (positions x ops booleans): a sub-space / sub-supernet.

    Every position keeps at least one op. The mask contains every arch that picks one enabled
    op per position. A space binds its own subclass (``space.Mask``); use :meth:`restrict` to
    derive a child.
    """

    enabled: tuple[tuple[bool, ...], ...]
    space: ClassVar[SearchSpace]

    def __post_init__(self) -> None:
        space = self.space
        m = np.asarray(self.enabled)
        if m.shape != space.shape:
            raise ValueError(
                f"a mask of {space.name!r} is {space.shape[0]}x{space.shape[1]} "
                f"({space.position_kind}s x ops), got shape {m.shape}"
            )
        if m.dtype != bool and not np.isin(m, (0, 1)).all():
            raise ValueError("a mask holds booleans (or 0/1) only")
        m = m.astype(bool)
        empty = [p for p in range(space.num_positions) if not m[p].any()]
        if empty:
            raise ValueError(
                f"mask has no enabled op on {space.position_kind}(s) {empty}; every "
                f"{space.position_kind} needs at least one op"
            )
        object.__setattr__(self, "enabled", tuple(tuple(bool(v) for v in row) for row in m))

    # -- constructors -------------------------------------------------------------------
    @classmethod
    def full(cls: type[M]) -> M:
        """The whole space: every op enabled at every position."""
        p, k = cls.space.shape
        return cls(tuple((True,) * k for _ in range(p)))

    @classmethod
    def from_arch(cls: type[M], arch: Arch) -> M:
        """The one-arch mask of ``arch``."""
        return cls(arch.to_onehot())

    @classmethod
    def from_op_lists(cls: type[M], op_lists: Sequence[Iterable[str]]) -> M:
        """Build from one list of enabled op names per position (the tree-file format)."""
        space = cls.space
        if len(op_lists) != space.num_positions:
            raise ValueError(
                f"a mask of {space.name!r} needs {space.num_positions} op lists, got {len(op_lists)}"
            )
        m = np.zeros(space.shape, dtype=bool)
        for p, ops in enumerate(op_lists):
            for op in ops:
                m[p, space.op_index(op)] = True
        return cls(m)

    # -- views --------------------------------------------------------------------------
    def to_array(self) -> np.ndarray:
        """A fresh positions x ops bool array."""
        return np.array(self.enabled, dtype=bool)

    def to_op_lists(self) -> list[list[str]]:
        """Enabled op names per position, in the space's order (JSON friendly)."""
        return [list(self.ops(p)) for p in range(self.space.num_positions)]

    def ops(self, position: int) -> tuple[str, ...]:
        """Enabled op names at ``position``, in the space's order."""
        row = self.enabled[self.space.check_position(position)]
        return tuple(op for op, on in zip(self.space.ops, row, strict=True) if on)

    @property
    def num_archs(self) -> int:
        """Number of archs in this sub-space (product of enabled ops per position)."""
        return math.prod(sum(row) for row in self.enabled)

    @property
    def is_single_arch(self) -> bool:
        return self.num_archs == 1

    def archs(self) -> Iterator[Arch]:
        """Every arch in the mask, in lexicographic op order."""
        arch_type = self.space.arch_type
        for ops in itertools.product(*(self.ops(p) for p in range(self.space.num_positions))):
            yield arch_type(ops)

    def __iter__(self) -> Iterator[Arch]:
        return self.archs()

    def __len__(self) -> int:
        """Number of archs in the mask (:attr:`num_archs`)."""
        return self.num_archs

    def __contains__(self, arch: object) -> bool:
        if not isinstance(arch, self.space.arch_type):
            return False
        return all(self.enabled[p][i] for p, i in enumerate(arch.op_indices))

    def only_arch(self) -> Arch:
        """The arch of a one-arch mask; ``ValueError`` when the mask holds several."""
        if not self.is_single_arch:
            raise ValueError(f"mask holds {self.num_archs} archs, not one")
        return next(self.archs())

    def is_subset_of(self, other: Mask) -> bool:
        """True when every op enabled here is enabled in ``other`` (of the same space)."""
        if type(other) is not type(self):
            return False
        return bool(np.all(~self.to_array() | other.to_array()))

    # -- derivation ---------------------------------------------------------------------
    def restrict(self: M, position: int, ops: Iterable[str]) -> M:
        """This mask with ``position`` limited to ``ops`` (a non-empty subset of its enabled ops)."""
        space = self.space
        position = space.check_position(position)
        wanted = {space.op_index(op) for op in tuple(ops)}
        if not wanted:
            raise ValueError(f"cannot restrict {space.position_kind} {position} to no ops")
        missing = [space.ops[i] for i in sorted(wanted) if not self.enabled[position][i]]
        if missing:
            raise ValueError(
                f"ops {missing} are not enabled on {space.position_kind} {position} "
                f"(enabled: {list(self.ops(position))})"
            )
        m = self.to_array()
        m[position] = [i in wanted for i in range(space.num_ops)]
        return type(self)(m)

    def __str__(self) -> str:
        return " ".join("{" + ",".join(self.ops(p)) + "}" for p in range(self.space.num_positions))


@dataclass(frozen=True)
class ArchGroup:
    """The archs of ``mask`` whose ``by`` value (:meth:`SearchSpace.group_value`) lies in
    ``values``: a sub-space that is no product of ops per position (EFS-NAS's groups by
    nonlinear count, :meth:`SearchSpace.arch_groups`), trained as the supernet of ``mask``
    whose paths are drawn inside the group only.

    Frozen and hashable like :class:`Mask`; its archs are enumerated once (lexicographic order,
    the order of ``mask.archs()``) and kept."""

    mask: Mask
    by: str
    values: frozenset[int]

    def __post_init__(self) -> None:
        if self.by not in GROUPINGS:
            raise ValueError(f"cannot group archs by {self.by!r}; one of {', '.join(GROUPINGS)}")
        values = frozenset(int(v) for v in self.values)
        if not values:
            raise ValueError("an arch group needs at least one value")
        object.__setattr__(self, "values", values)

    def _holding(self, archs: tuple[Arch, ...]) -> ArchGroup:
        """This group with its archs already enumerated (by :meth:`SearchSpace.arch_groups`)."""
        self.__dict__["_archs"] = archs
        return self

    @property
    def space(self) -> SearchSpace:
        return self.mask.space

    def archs(self) -> tuple[Arch, ...]:
        """Every arch of the group, in lexicographic op order."""
        if "_archs" not in self.__dict__:
            self.__dict__["_archs"] = tuple(a for a in self.mask.archs() if self._keeps(a))
        return self.__dict__["_archs"]

    def _keeps(self, arch: Arch) -> bool:
        return self.space.group_value(self.by, arch) in self.values

    def __contains__(self, arch: object) -> bool:
        return arch in self.mask and self._keeps(arch)  # type: ignore[arg-type]

    def __iter__(self) -> Iterator[Arch]:
        return iter(self.archs())

    def __len__(self) -> int:
        return self.num_archs

    @property
    def num_archs(self) -> int:
        return len(self.archs())

    @property
    def is_single_arch(self) -> bool:
        return self.num_archs == 1

    @property
    def label(self) -> str:
        """``by=v1+v2`` (e.g. ``nonlinear=0+1``): the group's name in results."""
        return f"{self.by}={'+'.join(str(v) for v in sorted(self.values))}"

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly: the mask's op lists, what the group counts and the values it keeps."""
        return {"mask": self.mask.to_op_lists(), "by": self.by, "values": sorted(self.values)}

    def __str__(self) -> str:
        return f"{self.label} of {self.mask}"

    def __getstate__(self) -> dict[str, Any]:  # the enumerated archs are not sent (Ray, spawn)
        return {k: v for k, v in self.__dict__.items() if k != "_archs"}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
