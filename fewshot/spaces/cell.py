"""Cell spaces: one DAG cell, repeated, whose edges are the split positions (NB201's family).

A :class:`CellSpace` is a :class:`~fewshot.spaces.base.SearchSpace` whose positions are the
edges ``(to_node, from_node)`` of a cell with ``num_nodes`` nodes, in the order of the
NATS-Bench arch string ``|op~0|+|op~0|op~1|+|op~0|op~1|op~2|``. The same cell is used in every
stage of the network (the arch is shared across cells, as in NB201 and GM-NAS). The supernet is
:class:`fewshot.models.supernet.Supernet`, which reads the cell's edges from the mask's space,
so NB201 and TransNAS-Bench-101 micro (NB201's cell with 4 ops) share one network builder.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from fewshot.spaces.base import Arch, Mask, SearchSpace


class CellSpace(SearchSpace):
    """A cell DAG space: edges ``(to, from)`` are the positions; arch strings as NATS-Bench."""

    position_kind = "edge"
    num_nodes: ClassVar[int] = 4
    edges: ClassVar[tuple[tuple[int, int], ...]] = ()
    """Cell edges as ``(to_node, from_node)``, in arch-string order."""

    @property
    def positions(self) -> tuple[str, ...]:  # type: ignore[override]
        return tuple(f"{to}<-{frm}" for to, frm in self.edges)

    # -- strings ------------------------------------------------------------------------
    def parse_arch(self, text: str) -> Arch:
        """Parse ``|op~0|+|op~0|op~1|+|op~0|op~1|op~2|``; malformed strings raise ``ValueError``."""
        nodes = text.strip().split("+")
        if len(nodes) != self.num_nodes - 1:
            raise ValueError(
                f"arch string {text!r} has {len(nodes)} nodes separated by '+', "
                f"expected {self.num_nodes - 1} (a {self.name} cell)"
            )
        ops: list[str] = []
        for to_node, node in enumerate(nodes, start=1):
            ops.extend(self._parse_node(text, node, to_node))
        return self.arch(ops)

    def _parse_node(self, text: str, node: str, to_node: int) -> list[str]:
        if not (node.startswith("|") and node.endswith("|")) or len(node) < 2:
            raise ValueError(f"arch string {text!r}: node {node!r} must be wrapped in '|'")
        items = node[1:-1].split("|")
        if len(items) != to_node:
            raise ValueError(
                f"arch string {text!r}: node {to_node} has {len(items)} inputs, expected {to_node}"
            )
        ops = []
        for from_node, item in enumerate(items):
            op, sep, src = item.partition("~")
            if not sep or src != str(from_node):
                raise ValueError(
                    f"arch string {text!r}: input {item!r} of node {to_node} should be "
                    f"'<op>~{from_node}'"
                )
            self.op_index(op)
            ops.append(op)
        return ops

    def format_arch(self, arch: Arch) -> str:
        """Format as the NATS-Bench arch string."""
        parts, k = [], 0
        for to_node in range(1, self.num_nodes):
            items = []
            for from_node in range(to_node):
                items.append(f"{arch.ops[k]}~{from_node}")
                k += 1
            parts.append("|" + "|".join(items) + "|")
        return "+".join(parts)

    # -- structure ----------------------------------------------------------------------
    def is_valid(self, arch: Arch) -> bool:
        """Whether a path of non-zero ops joins the cell's input (node 0) to its output. A
        disconnected cell outputs zeros whatever its weights (NB201: 341 of 15,625 archs, all
        at chance accuracy), so a ranking study scores valid (connected) archs only."""
        reached = {0}
        for (to_node, from_node), op in zip(self.edges, arch.ops, strict=True):
            if op != self.zero_op and from_node in reached:  # edges are topologically ordered
                reached.add(to_node)
        return self.num_nodes - 1 in reached

    def num_nonlinear(self, arch: Arch) -> int:
        """EFS-NAS's rule: the most parametric (ReLU-conv) ops on one path of non-zero ops
        from the cell's input to its output; 0 when no such path exists (a path through the
        zero op counts 0). NB201: 0-3, over the space 1,983 / 7,122 / 5,520 / 1,000 archs."""
        deepest = {0: 0}  # node -> most parametric ops on a non-zero path from the input
        for (to_node, from_node), op in zip(self.edges, arch.ops, strict=True):
            if op != self.zero_op and from_node in deepest:  # edges are topologically ordered
                count = deepest[from_node] + (op in self.parametric_ops)
                deepest[to_node] = max(deepest.get(to_node, 0), count)
        return deepest.get(self.num_nodes - 1, 0)

    def op_graph(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Edge ``k`` feeds edge ``m`` when ``k`` ends where ``m`` starts; edges leaving node 0
        read the cell input, edges into the last node feed its output."""
        n = self.num_positions
        adjacency = np.zeros((n, n), dtype=bool)
        for k, (to, _) in enumerate(self.edges):
            for m, (_, frm) in enumerate(self.edges):
                adjacency[k, m] = frm == to
        from_input = np.array([frm == 0 for _, frm in self.edges])
        to_output = np.array([to == self.num_nodes - 1 for to, _ in self.edges])
        return adjacency, from_input, to_output

    # -- builders -----------------------------------------------------------------------
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
        from fewshot.models.supernet import Supernet

        return Supernet(
            **self.model_options(C, N),
            num_classes=num_classes,
            candidates=candidates if candidates is not None else self.full_mask(),
            mode=mode,  # type: ignore[arg-type]
            affine=affine,
            track_running_stats=track_running_stats,
        )
