"""Edge policies: which edge a node splits on (SPEC section 4, step 4).

An edge policy is ``policy(ctx: PolicyContext) -> EdgeChoice`` registered in
:data:`EDGE_POLICIES` under its name. The context evaluates edges on demand
(``ctx.evaluate(edge)`` scores the candidates, ``ctx.partition(evaluation)`` cuts them), so a
policy pays only for the edges it looks at. An edge with fewer than ``b`` enabled ops cannot be
split into ``b`` groups; when no allowed edge can, the node becomes a leaf and the choice
carries a ``note`` saying why.

Edges are positions of the node's search space (:attr:`SearchSpace.positions`, by index: the
edges of a cell, or the layers of a chain); the space comes from the node's mask.

- ``fixed`` (default, the paper's protocol): level ``l`` splits ``edges[l mod len(edges)]``.
  When that edge has fewer than ``b`` ops, the next splittable edge in the list (cyclically
  from position ``l``) is used instead and the choice's ``log`` says so.
- ``score`` (GM-NAS): among the edges of ``edges`` that are still *fully enabled* (never
  split on this node's path: all the root's ops on that edge), evaluate each and keep the one
  whose best partition is best by the partition objective: the largest raw cut for
  ``max-distance``, the smallest cross-group similarity for ``min-similarity`` (ties: the
  lowest edge index). Every considered edge's value is recorded (``EdgeChoice.edge_cuts``,
  saved in ``tree.json``). Costs one distance matrix per fully enabled edge. A node with no
  fully enabled edge stays a leaf. (fewshot's first version ranked by *normalised* cut over
  all splittable edges, so a 2-op edge scored 1.0 and was split again.)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from fewshot.registry import Registry
from fewshot.spaces import Mask, SearchSpace
from fewshot.splitting.candidates import EdgeEvaluation
from fewshot.splitting.partition import Partition, improves


@dataclass(frozen=True)
class EdgeChoice:
    """A policy's decision: the evaluated edge and its partition, or a leaf ``note``."""

    evaluation: EdgeEvaluation | None = None
    partition: Partition | None = None
    note: str | None = None
    log: str | None = None
    edges_evaluated: int = 0
    edge_cuts: dict[int, float] | None = None

    @property
    def is_leaf(self) -> bool:
        """No edge could be split: the node stays a leaf (see ``note``)."""
        return self.evaluation is None


@dataclass(frozen=True)
class PolicyContext:
    """What a policy sees of the node it decides for."""

    mask: Mask
    level: int
    branch: int
    edges: tuple[int, ...]
    evaluate: Callable[[int], EdgeEvaluation]
    partition: Callable[[EdgeEvaluation], Partition]
    root_mask: Mask | None = None

    def splittable(self, edge: int) -> bool:
        """``edge`` has at least ``branch`` enabled ops."""
        return len(self.mask.ops(edge)) >= self.branch

    def fully_enabled(self, edge: int) -> bool:
        """``edge`` still has all the root's ops (it was never split on this path)."""
        root = self.root_mask or self.mask.space.full_mask()
        return self.mask.ops(edge) == root.ops(edge)


EdgePolicy = Callable[[PolicyContext], EdgeChoice]
EDGE_POLICIES: Registry[EdgePolicy] = Registry("edge policy")


def register_edge_policy(name: str) -> Callable[[EdgePolicy], EdgePolicy]:
    """Register an edge policy under ``name`` (selected with ``--edge-policy``)."""
    return EDGE_POLICIES.decorator(name)


def splittable_edges(mask: Mask, branch: int, edges: Sequence[int] | None = None) -> list[int]:
    """Edges of ``edges`` (default: every position of the mask's space) with at least
    ``branch`` enabled ops, in the given order."""
    order = range(mask.space.num_positions) if edges is None else edges
    return [e for e in order if len(mask.ops(e)) >= branch]


def leaf_note(mask: Mask, branch: int, edges: Sequence[int]) -> str:
    """Why a node cannot be split (positions named as the space names them: edge, layer)."""
    kind = mask.space.position_kind
    counts = ", ".join(f"{kind} {e}: {len(mask.ops(e))}" for e in dict.fromkeys(edges))
    return f"leaf: no allowed {kind} has >= {branch} enabled ops ({counts})"


def _choose(ctx: PolicyContext, edge: int, evaluated: int, log: str | None = None) -> EdgeChoice:
    ev = ctx.evaluate(edge)
    part = ctx.partition(ev)
    return EdgeChoice(
        ev, part, log=log, edges_evaluated=evaluated, edge_cuts={edge: part.objective_value}
    )


@register_edge_policy("fixed")
def fixed_policy(ctx: PolicyContext) -> EdgeChoice:
    """Split ``edges[level]`` (cyclic); skip to the next splittable edge in list order."""
    start = ctx.level % len(ctx.edges)
    order = list(dict.fromkeys(ctx.edges[start:] + ctx.edges[:start]))
    usable = splittable_edges(ctx.mask, ctx.branch, order)
    if not usable:
        return EdgeChoice(note=leaf_note(ctx.mask, ctx.branch, order))
    edge = usable[0]
    log = None
    if edge != order[0]:
        kind = ctx.mask.space.position_kind
        log = (
            f"{kind} {order[0]} has {len(ctx.mask.ops(order[0]))} < {ctx.branch} ops; "
            f"splitting {kind} {edge} instead"
        )
    return _choose(ctx, edge, 1, log)


@register_edge_policy("score")
def score_policy(ctx: PolicyContext) -> EdgeChoice:
    """GM-NAS: among fully enabled edges, the one whose best partition is best (raw value)."""
    order = sorted(set(ctx.edges))
    usable = [e for e in splittable_edges(ctx.mask, ctx.branch, order) if ctx.fully_enabled(e)]
    if not usable:
        return EdgeChoice(note=leaf_note(ctx.mask, ctx.branch, order) + "; none fully enabled")
    best: tuple[EdgeEvaluation, Partition] | None = None
    values: dict[int, float] = {}
    for edge in usable:
        ev = ctx.evaluate(edge)
        part = ctx.partition(ev)
        values[edge] = part.objective_value
        if best is None or improves(part.objective_value, best[1].objective_value, part.objective):
            best = (ev, part)
    assert best is not None
    return EdgeChoice(*best, edges_evaluated=len(usable), edge_cuts=values)


def default_edges(policy: str, depth: int, *, space: SearchSpace) -> tuple[int, ...]:
    """The edges (positions of ``space``) a policy considers when none are given.

    ``fixed``: the first three positions (the paper's NB201 protocol: edges 0, 1, 2; fewer
    when the space has fewer), cycling through every position when ``depth`` > 3 (level
    ``l`` splits position ``l mod n``); ``score``: every position.
    """
    n = space.num_positions
    if policy == "fixed":
        if depth <= 3:
            return tuple(range(min(3, n)))
        return tuple(level % n for level in range(depth))
    return tuple(range(n))


__all__ = [
    "EDGE_POLICIES",
    "EdgeChoice",
    "EdgePolicy",
    "PolicyContext",
    "default_edges",
    "fixed_policy",
    "leaf_note",
    "register_edge_policy",
    "score_policy",
    "splittable_edges",
]
