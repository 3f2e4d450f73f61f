"""The NAS-Bench-201 / NATS-Bench topology search space: the one module that owns its encoding.

- ``OPS``: the five candidate operations in NATS-Bench order (the only NB201 op order in fewshot).
- ``EDGES``: the six cell edges ``(to, from)`` in arch-string order.
- ``Arch``: a frozen architecture value with arch-string and one-hot round trips.
- ``Mask``: a frozen 6x5 boolean value of enabled ops: a sub-supernet's search space.
- ``NB201``: the registered space (``--space nb201``, the default), a
  :class:`~fewshot.spaces.cell.CellSpace`: builders :mod:`fewshot.models.supernet`, benchmark
  :mod:`fewshot.benchmark` (NATS-Bench).

Benchmark indices (an arch's position in NATS-Bench's meta list) are not invented here: they
come from ``nats_bench`` through :class:`fewshot.benchmark.Benchmark` (``index`` / ``arch``).
The arch string is the one format shared with other code (NASLib and zero-cost-nas use other
op orders; convert through the string, never through op numbers).

Only :mod:`fewshot.spaces` and :mod:`fewshot.models` import this module (a test checks it):
everything above asks a :class:`~fewshot.spaces.base.SearchSpace` (``get_space("nb201")``).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from fewshot.spaces import base
from fewshot.spaces.base import register_space
from fewshot.spaces.cell import CellSpace

if TYPE_CHECKING:
    from fewshot.benchmark import Benchmark

OPS: tuple[str, ...] = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
"""Candidate operations, in NATS-Bench order."""

EDGES: tuple[tuple[int, int], ...] = ((1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2))
"""Cell edges as ``(to_node, from_node)``, in the order they appear in an arch string."""

NUM_NODES = 4
NUM_EDGES = len(EDGES)
NUM_OPS = len(OPS)
NUM_ARCHS = NUM_OPS**NUM_EDGES  # 15,625


class Arch(base.Arch):
    """One NB201 architecture: the op on each of the six edges, in :data:`EDGES` order."""

    @property
    def is_connected(self) -> bool:
        """Whether a path of non-``none`` ops joins the cell's input (node 0) to its output
        (node 3): :attr:`is_valid` under NB201's name."""
        return self.is_valid


class Mask(base.Mask):
    """Enabled ops per edge (6x5 booleans): the search space of a sub-supernet.

    Every edge must keep at least one op. The mask contains every arch that picks one enabled
    op per edge. Values are immutable and hashable; use :meth:`restrict` to derive a child.
    """


@register_space("nb201")
class NB201Space(CellSpace):
    """NAS-Bench-201 (NATS-Bench topology): 6 edges x 5 ops, 15,625 archs; C=16, N=5."""

    description = "NAS-Bench-201 cell: 6 edges x 5 ops (15,625 archs); NATS-Bench ground truth"
    ops = OPS
    edges = EDGES
    num_nodes = NUM_NODES
    zero_op = "none"
    parametric_ops = frozenset({"nor_conv_1x1", "nor_conv_3x3"})
    op_labels = {
        "none": "none",
        "skip_connect": "skip",
        "nor_conv_1x1": "c1x1",
        "nor_conv_3x3": "c3x3",
        "avg_pool_3x3": "pool",
    }
    arch_type = Arch
    mask_type = Mask
    model_defaults = {"C": 16, "N": 5}
    benchmark_datasets = ("cifar10", "cifar100", "ImageNet16-120", "cifar10-valid")

    def find_benchmark(
        self, flag: str | Path | None = None, *, required: bool = False
    ) -> Path | None:
        from fewshot.benchmark import find_benchmark

        return find_benchmark(flag, required=required)

    def open_benchmark(self, path: str | Path | None = None) -> Benchmark:
        from fewshot.benchmark import Benchmark

        return Benchmark(path)


NB201: NB201Space = base.get_space("nb201")  # type: ignore[assignment]


def op_index(op: str) -> int:
    """Index of ``op`` in :data:`OPS`; an unknown name raises ``ValueError`` listing the ops."""
    return NB201.op_index(op)


def all_archs() -> Iterator[Arch]:
    """All 15,625 archs in lexicographic op-index order (not the benchmark's index order)."""
    return NB201.all_archs()  # type: ignore[return-value]
