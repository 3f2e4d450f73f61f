"""The splitting tree: nodes are sub-supernets (masks), internal nodes record their split.

The tree file (``runs/<name>/tree.json``) is the run's main artefact; analysis (split distance,
leaf training) reads it instead of re-running. Format (``version`` 1)::

    {"format": "fewshot.split-tree", "version": 1, "complete": true,
     "space": "nb201", "metric": "snip", "seed": 0, "dataset": "digits",
     "config": {...}, "versions": {...}, "timings": {...},
     "nodes": [{"id": 0, "parent": null, "depth": 0,
                "mask": [["<op>", ...], ... one list of enabled op names per position,
                         in the space's op order],
                "split": {"edge": 0, "ops": [...], "groups": [[...], [...]],
                          "distance": [[...]], "scores": {"<op>": 1.0, ...} | null,
                          "cut": 3.2} | null,
                "note": null | "why this node is a leaf"}]}

``distance`` rows/columns follow ``ops`` (the node's enabled ops on ``edge``). Nodes are listed
parents first; children's masks are the parent's mask with ``edge`` restricted to each group,
in group order. :func:`load_tree` checks all of this and raises :class:`TreeFileError` naming
the file and the problem.

Version 2 adds, per split: ``decided_by`` (``"value"``: a unique optimum of finite values;
``"tie"``: several partitions reached the optimum and the authors' order picked the first;
``"nonfinite"``: NaN or inf scores took part; ``"random"``: the random baseline), ``ties``
(number of optimal partitions), ``nonfinite_ops``, ``objective`` and ``objective_value``, and
``edge_cuts`` (every edge the policy considered, with its best partition's cut); and for the
run, ``recipe`` (name and resolved settings) and ``environment`` (device, determinism). NaN and
infinities are written as the strings ``"NaN"``, ``"Infinity"``, ``"-Infinity"`` (strict JSON).
Version 1 files (without these fields) are still read.

``space`` names the search space (:func:`fewshot.spaces.get_space`); ``"edge"`` in a split is
the index of a position of that space (an edge of a cell, a layer of a chain). Files without it
(written before spaces were plug-ins) are NB201 trees.

A split that read no image (a data-free metric such as synflow, params or flops, or the random
baseline, without warm-up: only the data set's class count and image size) says
``"data_free": true``; the key is absent otherwise (and in files written before it existed).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fewshot.io import atomic_write_json
from fewshot.run_folder import TREE
from fewshot.spaces.base import DEFAULT_SPACE, Mask, SearchSpace, get_space

TREE_FORMAT = "fewshot.split-tree"
TREE_VERSION = 2
READABLE_VERSIONS = (1, 2)
DECISIONS = ("value", "tie", "nonfinite", "random")


class TreeFileError(ValueError):
    """A tree file is missing, corrupt, foreign or inconsistent."""


def encode_float(v: float) -> float | str:
    """A float for strict JSON: NaN and infinities as strings."""
    v = float(v)
    if math.isfinite(v):
        return v
    return "NaN" if math.isnan(v) else ("Infinity" if v > 0 else "-Infinity")


def decode_float(v: float | int | str) -> float:
    """Inverse of :func:`encode_float`."""
    return float(v)  # float("NaN"), float("Infinity"), float("-Infinity") all parse


@dataclass(frozen=True)
class Split:
    """How one node was split: the edge, its ops' distances, the op groups, what decided it."""

    edge: int
    ops: tuple[str, ...]
    groups: tuple[tuple[str, ...], ...]
    distance: tuple[tuple[float, ...], ...]
    cut: float
    scores: Mapping[str, float] | None = None
    decided_by: str = "value"
    ties: int = 1
    nonfinite_ops: tuple[str, ...] = ()
    objective: str = "max-distance"
    objective_value: float | None = None
    edge_cuts: Mapping[int, float] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "edge": self.edge,
            "ops": list(self.ops),
            "groups": [list(g) for g in self.groups],
            "distance": [[encode_float(v) for v in r] for r in self.distance],
            "scores": (
                {k: encode_float(v) for k, v in self.scores.items()}
                if self.scores is not None
                else None
            ),
            "cut": encode_float(self.cut),
            "decided_by": self.decided_by,
            "ties": self.ties,
            "nonfinite_ops": list(self.nonfinite_ops),
            "objective": self.objective,
            "objective_value": (
                None if self.objective_value is None else encode_float(self.objective_value)
            ),
            "edge_cuts": (
                {str(e): encode_float(c) for e, c in self.edge_cuts.items()}
                if self.edge_cuts is not None
                else None
            ),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Split:
        scores = d.get("scores")
        cuts = d.get("edge_cuts")
        value = d.get("objective_value")
        decided = str(d.get("decided_by", "value"))
        if decided not in DECISIONS:
            raise ValueError(f"decided_by {decided!r} is not one of {list(DECISIONS)}")
        return cls(
            edge=int(d["edge"]),
            ops=tuple(d["ops"]),
            groups=tuple(tuple(g) for g in d["groups"]),
            distance=tuple(tuple(decode_float(v) for v in row) for row in d["distance"]),
            cut=decode_float(d["cut"]),
            scores={k: decode_float(v) for k, v in scores.items()} if scores is not None else None,
            decided_by=decided,
            ties=int(d.get("ties", 1)),
            nonfinite_ops=tuple(d.get("nonfinite_ops") or ()),
            objective=str(d.get("objective", "max-distance")),
            objective_value=None if value is None else decode_float(value),
            edge_cuts={int(e): decode_float(c) for e, c in cuts.items()} if cuts else None,
        )


@dataclass
class Node:
    """One sub-supernet of the tree."""

    id: int
    parent: int | None
    depth: int
    mask: Mask
    split: Split | None = None
    note: str | None = None

    @property
    def is_split(self) -> bool:
        return self.split is not None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "parent": self.parent,
            "depth": self.depth,
            "mask": self.mask.to_op_lists(),
            "split": self.split.to_dict() if self.split else None,
            "note": self.note,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], space: SearchSpace) -> Node:
        return cls(
            id=int(d["id"]),
            parent=None if d["parent"] is None else int(d["parent"]),
            depth=int(d["depth"]),
            mask=space.mask_type.from_op_lists(d["mask"]),
            split=Split.from_dict(d["split"]) if d.get("split") else None,
            note=d.get("note"),
        )


@dataclass
class SplitTree:
    """A splitting tree with its run metadata."""

    metric: str
    seed: int
    dataset: str
    config: dict[str, Any] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    nodes: list[Node] = field(default_factory=list)
    complete: bool = False
    recipe: dict[str, Any] = field(default_factory=dict)
    environment: dict[str, Any] = field(default_factory=dict)
    data_free: bool = False
    """True when the split read no image (only the data set's class count and image size)."""
    space: SearchSpace = field(default_factory=get_space)
    """The search space the tree splits (``"space"`` in the file; absent in files written
    before spaces were plug-ins, which are NB201's)."""

    @property
    def recipe_name(self) -> str | None:
        """The recipe the tree was made with (None for trees made before recipes)."""
        return self.recipe.get("name") or self.config.get("recipe")

    # -- structure ----------------------------------------------------------------------
    def node(self, node_id: int) -> Node:
        return self.nodes[node_id]

    def children(self, node_id: int) -> list[Node]:
        return [n for n in self.nodes if n.parent == node_id]

    def leaves(self) -> list[Node]:
        """Nodes without children, in id order."""
        parents = {n.parent for n in self.nodes}
        return [n for n in self.nodes if n.id not in parents]

    def splits(self) -> Iterator[tuple[Node, Split]]:
        """Every split node with its split, in id order."""
        for n in self.nodes:
            if n.split is not None:
                yield n, n.split

    @property
    def depth(self) -> int:
        return max((n.depth for n in self.nodes), default=0)

    def add_root(self, mask: Mask | None = None) -> Node:
        if self.nodes:
            raise ValueError("tree already has a root")
        mask = mask if mask is not None else self.space.full_mask()
        if type(mask) is not self.space.mask_type:
            raise ValueError(
                f"root mask {mask} is not a mask of the tree's space {self.space.name!r}"
            )
        root = Node(0, None, 0, mask)
        self.nodes.append(root)
        return root

    def apply_split(self, node_id: int, split: Split) -> list[Node]:
        """Record ``split`` on a node and append its children (one per group)."""
        parent = self.nodes[node_id]
        if parent.split is not None:
            raise ValueError(f"node {node_id} is already split")
        parent.split = split
        children = []
        for group in split.groups:
            child = Node(
                len(self.nodes), node_id, parent.depth + 1, parent.mask.restrict(split.edge, group)
            )
            self.nodes.append(child)
            children.append(child)
        return children

    # -- serialisation ------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {
            "format": TREE_FORMAT,
            "version": TREE_VERSION,
            "complete": self.complete,
            "space": self.space.name,
            "metric": self.metric,
            "seed": self.seed,
            "dataset": self.dataset,
            **({"data_free": True} if self.data_free else {}),  # absent: images were read
            "recipe": self.recipe,
            "environment": self.environment,
            "config": self.config,
            "versions": self.versions,
            "timings": self.timings,
            "nodes": [n.to_dict() for n in self.nodes],
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], *, source: str = "<dict>") -> SplitTree:
        """Build and validate a tree; problems raise :class:`TreeFileError` naming ``source``."""
        _check_header(d, source)
        space = _space_of(d, source)
        try:
            nodes = [Node.from_dict(n, space) for n in d["nodes"]]
        except (KeyError, TypeError, ValueError) as exc:
            raise TreeFileError(f"{source}: malformed node: {exc}") from exc
        tree = cls(
            metric=str(d["metric"]),
            seed=int(d["seed"]),
            dataset=str(d["dataset"]),
            config=dict(d.get("config") or {}),
            versions=dict(d.get("versions") or {}),
            timings=dict(d.get("timings") or {}),
            nodes=nodes,
            complete=bool(d.get("complete", False)),
            recipe=dict(d.get("recipe") or {}),
            environment=dict(d.get("environment") or {}),
            data_free=bool(d.get("data_free", False)),
            space=space,
        )
        _check_structure(tree, source)
        return tree

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write atomically (a crash never leaves a half-written tree); strict JSON."""
        return atomic_write_json(path, _strict(self.to_dict()))


def _strict(obj: Any) -> Any:
    """Replace non-finite floats anywhere in ``obj`` (e.g. in ``config``) by strings."""
    if isinstance(obj, float):
        return encode_float(obj)
    if isinstance(obj, dict):
        return {k: _strict(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_strict(v) for v in obj]
    return obj


def load_tree(path: str | os.PathLike[str]) -> SplitTree:
    """Read and validate a tree file (a run folder is accepted: its ``tree.json``)."""
    path = Path(path)
    if path.is_dir():
        path = path / TREE
    if not path.is_file():
        raise TreeFileError(f"{path}: no such tree file (run `python -m fewshot.split` first)")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise TreeFileError(f"{path}: not valid JSON ({exc}); the file is corrupt") from exc
    return SplitTree.from_dict(data, source=str(path))


def _space_of(d: Mapping[str, Any], source: str) -> SearchSpace:
    """The tree's space; an unknown name is a :class:`TreeFileError` listing the known ones."""
    try:
        return get_space(str(d.get("space", DEFAULT_SPACE)))
    except KeyError as exc:
        raise TreeFileError(f"{source}: {exc}") from None


def _check_header(d: Any, source: str) -> None:
    if not isinstance(d, Mapping) or d.get("format") != TREE_FORMAT:
        raise TreeFileError(f"{source}: not a fewshot split tree (missing format={TREE_FORMAT!r})")
    if d.get("version") not in READABLE_VERSIONS:
        raise TreeFileError(
            f"{source}: tree format version {d.get('version')!r} is not supported "
            f"(this fewshot reads versions {list(READABLE_VERSIONS)})"
        )
    missing = [k for k in ("metric", "seed", "dataset", "nodes") if k not in d]
    if missing:
        raise TreeFileError(f"{source}: missing top-level keys {missing}")


def _check_structure(tree: SplitTree, source: str) -> None:
    if not tree.nodes:
        raise TreeFileError(f"{source}: the tree has no nodes")
    for i, node in enumerate(tree.nodes):
        if node.id != i:
            raise TreeFileError(f"{source}: node ids must be 0..n-1 in order; got {node.id} at {i}")
        if (node.parent is None) != (i == 0):
            raise TreeFileError(f"{source}: node {i}: only node 0 may (and must) lack a parent")
        if node.parent is not None:
            _check_child(tree, node, source)
        if node.split is not None:
            _check_split(node, node.split, source)


def _check_child(tree: SplitTree, node: Node, source: str) -> None:
    if not 0 <= node.parent < node.id:
        raise TreeFileError(f"{source}: node {node.id}: parent {node.parent} must come before it")
    parent = tree.nodes[node.parent]
    if parent.split is None or node.depth != parent.depth + 1:
        raise TreeFileError(f"{source}: node {node.id}: inconsistent with parent {parent.id}")
    siblings = [n.id for n in tree.nodes if n.parent == parent.id]
    if len(siblings) != len(parent.split.groups):
        raise TreeFileError(
            f"{source}: node {parent.id} has {len(siblings)} children "
            f"but {len(parent.split.groups)} groups"
        )
    group = parent.split.groups[siblings.index(node.id)]
    if node.mask != parent.mask.restrict(parent.split.edge, group):
        raise TreeFileError(
            f"{source}: node {node.id}: mask is not its parent's mask restricted to {list(group)}"
        )


def _check_split(node: Node, split: Split, source: str) -> None:
    where = f"{source}: node {node.id}"
    if not 0 <= split.edge < len(node.mask.enabled):
        raise TreeFileError(f"{where}: split edge {split.edge} out of range")
    if split.ops != node.mask.ops(split.edge):
        raise TreeFileError(f"{where}: split ops {split.ops} differ from the mask's")
    flat = [op for g in split.groups for op in g]
    if sorted(flat, key=node.mask.space.op_index) != list(split.ops) or any(
        not g for g in split.groups
    ):
        raise TreeFileError(f"{where}: groups {split.groups} do not partition {split.ops}")
    n = len(split.ops)
    if len(split.distance) != n or any(len(r) != n for r in split.distance):
        raise TreeFileError(f"{where}: distance matrix must be {n}x{n}")
