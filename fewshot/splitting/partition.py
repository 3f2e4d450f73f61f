"""Partition an edge's ops into ``b`` groups that maximise the total cross-group distance.

Given a symmetric distance matrix ``D`` over ``n`` ops, the *cut* of a partition is the sum of
``D[i, j]`` over pairs ``i < j`` in different groups; maximising it is the min-cut of the
similarity graph (ops that score alike stay together). The *normalised cut* divides by the
total weight ``sum_{i<j} D[i, j]`` (0 when all distances are 0), so edges can be compared.

- Exact: enumerate every set partition into ``b`` non-empty groups (restricted growth
  strings), when there are at most :data:`EXACT_LIMIT` of them. NB201 edges have at most 5 ops:
  15 partitions for ``b=2``, 25 for ``b=3``.
- Heuristic (only for larger op sets; no optimality guarantee): recursive Kernighan-Lin
  bisection (``networkx``) of the similarity graph, then single-op moves (or pair swaps when
  ``balanced``) while they increase the cut.

Groups are canonical: each group's indices ascending, groups ordered by their first index, so
with ops in NATS-Bench order groups come out ordered by their first op. Ties (cuts within a
relative ``1e-12`` of the best) go to the lexicographically smallest canonical partition.
``balanced=True`` restricts to group sizes that differ by at most one (GM-NAS).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import networkx as nx
import numpy as np

Groups = tuple[tuple[int, ...], ...]

EXACT_LIMIT = 200_000
"""Largest number of set partitions searched exhaustively."""

_REL_TOL = 1e-12


@dataclass(frozen=True)
class Partition:
    """A partition of ``n`` items (indices) with its cut and normalised cut."""

    groups: Groups
    cut: float
    normalized_cut: float
    exact: bool = True

    def labelled(self, labels: Sequence[str]) -> tuple[tuple[str, ...], ...]:
        """The groups with item indices replaced by ``labels`` (e.g. op names)."""
        return tuple(tuple(labels[i] for i in g) for g in self.groups)


def check_distance(D: np.ndarray | Sequence[Sequence[float]]) -> np.ndarray:
    """``D`` as a float array; must be square, symmetric, finite, non-negative."""
    D = np.asarray(D, dtype=float)
    if D.ndim != 2 or D.shape[0] != D.shape[1]:
        raise ValueError(f"distance matrix must be square, got shape {D.shape}")
    if not np.isfinite(D).all():
        raise ValueError("distance matrix has NaN or inf entries")
    if (D < 0).any() or not np.allclose(D, D.T, rtol=1e-9, atol=0):
        raise ValueError("distance matrix must be symmetric and non-negative")
    return D


def cut_value(D: np.ndarray, groups: Groups) -> float:
    """Sum of ``D[i, j]`` over pairs ``i < j`` in different groups."""
    label = np.empty(D.shape[0], dtype=int)
    for g, members in enumerate(groups):
        label[list(members)] = g
    cross = label[:, None] != label[None, :]
    return float(np.triu(D * cross, k=1).sum())


def total_weight(D: np.ndarray) -> float:
    """Sum of ``D[i, j]`` over ``i < j``."""
    return float(np.triu(D, k=1).sum())


def is_balanced(groups: Groups) -> bool:
    """Group sizes differ by at most one (GM-NAS's balanced split)."""
    sizes = [len(g) for g in groups]
    return max(sizes) - min(sizes) <= 1


def num_partitions(n: int, b: int) -> int:
    """Stirling number of the second kind ``S(n, b)``: partitions of n items into b groups."""
    if b <= 0 or b > n:
        return 0
    return sum((-1) ** j * math.comb(b, j) * (b - j) ** n for j in range(b + 1)) // math.factorial(
        b
    )


def set_partitions(n: int, b: int, *, balanced: bool = False) -> Iterator[Groups]:
    """Every partition of ``range(n)`` into ``b`` non-empty groups, canonical, lexicographic."""
    if not 1 <= b <= n:
        return
    labels = [0] * n

    def grow(i: int, used: int) -> Iterator[Groups]:
        if i == n:
            if used == b:
                groups = tuple(tuple(k for k in range(n) if labels[k] == g) for g in range(b))
                if not balanced or is_balanced(groups):
                    yield groups
            return
        if n - i < b - used:  # not enough items left to open the missing groups
            return
        for g in range(min(used + 1, b)):
            labels[i] = g
            yield from grow(i + 1, max(used, g + 1))

    labels[0] = 0
    yield from grow(1, 1)


def _make(D: np.ndarray, groups: Groups, *, exact: bool) -> Partition:
    total = total_weight(D)
    cut = cut_value(D, groups)
    return Partition(groups, cut, cut / total if total > 0 else 0.0, exact)


def _pick(D: np.ndarray, candidates: Iterator[Groups]) -> Groups:
    """Best cut, ties (relative 1e-12) broken by the smallest canonical partition."""
    scored = [(cut_value(D, g), g) for g in candidates]
    best = max(c for c, _ in scored)
    tol = _REL_TOL * max(total_weight(D), 1e-300)
    return min(g for c, g in scored if c >= best - tol)


def best_partition(
    D: np.ndarray | Sequence[Sequence[float]], b: int, *, balanced: bool = False, seed: int = 0
) -> Partition:
    """The partition of ``D``'s items into ``b`` non-empty groups with the largest cut.

    Exact when ``S(n, b) <= EXACT_LIMIT`` (always for NB201), else the heuristic (``exact``
    is then False). ``seed`` only feeds the heuristic's Kernighan-Lin runs.
    """
    D = check_distance(D)
    n = D.shape[0]
    if not 2 <= b <= n:
        raise ValueError(f"cannot split {n} items into {b} non-empty groups (need 2 <= b <= n)")
    if num_partitions(n, b) <= EXACT_LIMIT:
        return _make(D, _pick(D, set_partitions(n, b, balanced=balanced)), exact=True)
    return _make(D, _heuristic(D, b, balanced=balanced, seed=seed), exact=False)


def similarity_graph(D: np.ndarray, labels: Sequence[str] | None = None) -> nx.Graph:
    """Complete graph over the items, weight ``max(D) - D[i, j]`` (alike ops: heavy edges).

    For a fixed split into groups of given sizes, minimising the similarity cut is the same as
    maximising the distance cut, since the number of cross pairs is fixed.
    """
    D = check_distance(D)
    labels = list(labels) if labels is not None else list(range(D.shape[0]))
    top = float(D.max()) if D.size else 0.0
    g = nx.Graph()
    g.add_nodes_from(labels)
    for i, j in itertools.combinations(range(D.shape[0]), 2):
        g.add_edge(labels[i], labels[j], weight=top - float(D[i, j]), distance=float(D[i, j]))
    return g


def canonical(groups: Sequence[Sequence[int]]) -> Groups:
    """Sort inside groups, drop empty ones, order groups by first index."""
    return tuple(sorted(tuple(sorted(g)) for g in groups if g))


def _heuristic(D: np.ndarray, b: int, *, balanced: bool, seed: int) -> Groups:
    """Recursive Kernighan-Lin bisection into ``b`` groups, then local improvement."""
    groups: list[list[int]] = [list(range(D.shape[0]))]
    while len(groups) < b:  # split the largest group, asking for the remaining group count
        groups.sort(key=len, reverse=True)
        big = groups.pop(0)
        groups.extend(_bisect(D, big, seed=seed))
    if balanced:
        groups = _rebalance(D, groups)
    return canonical(_improve(D, [list(g) for g in canonical(groups)], balanced=balanced))


def _rebalance(D: np.ndarray, groups: list[list[int]]) -> list[list[int]]:
    """Move items from the largest to the smallest group (best cut first) until balanced."""
    groups = [list(g) for g in groups]
    while not is_balanced(canonical(groups)):
        big = max(range(len(groups)), key=lambda k: len(groups[k]))
        small = min(range(len(groups)), key=lambda k: len(groups[k]))
        options = [_moved(groups, x, big, small) for x in groups[big]]
        groups = max(options, key=lambda g: cut_value(D, canonical(g)))
    return groups


def _moved(groups: list[list[int]], x: int, src: int, dst: int) -> list[list[int]]:
    new = [list(g) for g in groups]
    new[src].remove(x)
    new[dst].append(x)
    return new


def _bisect(D: np.ndarray, items: list[int], *, seed: int) -> list[list[int]]:
    sub = D[np.ix_(items, items)]
    graph = similarity_graph(sub)
    half = len(items) // 2
    init = (set(range(half)), set(range(half, len(items))))
    a, c = nx.community.kernighan_lin_bisection(graph, init, weight="weight", seed=seed)
    return [[items[i] for i in sorted(a)], [items[i] for i in sorted(c)]]


def _improve(D: np.ndarray, groups: list[list[int]], *, balanced: bool) -> list[list[int]]:
    """Apply the best single move (or swap when balanced) until none increases the cut."""
    current = cut_value(D, canonical(groups))
    while True:
        best, best_groups = current, None
        for cand in _neighbours(groups, balanced=balanced):
            c = cut_value(D, canonical(cand))
            if c > best * (1 + _REL_TOL) + 1e-300:
                best, best_groups = c, cand
        if best_groups is None:
            return groups
        groups, current = best_groups, best


def _neighbours(groups: list[list[int]], *, balanced: bool) -> Iterator[list[list[int]]]:
    for gi, gj in itertools.permutations(range(len(groups)), 2):
        for x in groups[gi]:
            if balanced:
                for y in groups[gj]:
                    new = [list(g) for g in groups]
                    new[gi] = [v for v in new[gi] if v != x] + [y]
                    new[gj] = [v for v in new[gj] if v != y] + [x]
                    yield new
            elif len(groups[gi]) > 1:
                new = [list(g) for g in groups]
                new[gi].remove(x)
                new[gj].append(x)
                yield new


__all__ = [
    "EXACT_LIMIT",
    "Partition",
    "best_partition",
    "canonical",
    "check_distance",
    "cut_value",
    "is_balanced",
    "num_partitions",
    "set_partitions",
    "similarity_graph",
    "total_weight",
]
