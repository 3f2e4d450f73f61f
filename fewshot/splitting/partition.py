"""Partition an edge's ops into ``b`` groups (SPEC section 4, step 3).

Given a symmetric distance matrix ``D`` over ``n`` ops, the *cut* of a partition is the sum of
``D[i, j]`` over pairs ``i < j`` in different groups. Two objectives:

- ``max-distance``: maximise the cut (the min-cut of the similarity graph: ops that score
  alike stay together);
- ``min-similarity`` (the framework paper's code for gm): minimise the total cross-group
  *similarity* ``S[i, j]`` (for gm, ``S = cos = 1 - D``). The two agree when the group sizes
  are fixed, and differ otherwise: a 1|4 split of 5 ops has 4 cross pairs, a 2|3 split 6.

The *normalised cut* divides the cut by the total weight ``sum_{i<j} D[i, j]`` (0 when all
distances are 0), so edges can be compared.

- Exact: every set partition into ``b`` non-empty groups is scored, when there are at most
  :data:`EXACT_LIMIT` of them (NB201 edges have at most 5 ops: 15 partitions for ``b=2``).
- Heuristic (only for larger op sets, ``max-distance`` only; no optimality guarantee):
  recursive Kernighan-Lin bisection (``networkx``), then single-op moves (or pair swaps when
  ``balanced``) while they increase the cut.

Order and ties (the authors' code): partitions are visited with the first group's size
ascending from 1 and its members in index order (``itertools.combinations``), the rest split
the same way (:func:`authors_order`); a later partition replaces the current best only when it
is strictly better (beyond a relative ``1e-12``). So the first optimum in that order wins: an
all-zero matrix gives ``{op 0} | rest``. A NaN value never compares better, so when
non-finite scores are kept (the ``ly-manson`` recipe), a NaN or infinite first partition wins;
:class:`Partition` records ties (``ties``: number of optimal partitions) and ``nonfinite``.
Groups are returned canonical: each group's indices ascending, groups ordered by their first
index. ``balanced=True`` restricts to group sizes that differ by at most one (GM-NAS).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace

import networkx as nx
import numpy as np

Groups = tuple[tuple[int, ...], ...]

EXACT_LIMIT = 200_000
"""Largest number of set partitions searched exhaustively."""

_REL_TOL = 1e-12


OBJECTIVES: tuple[str, ...] = ("max-distance", "min-similarity")


@dataclass(frozen=True)
class Partition:
    """A partition of ``n`` items (indices) with its cut and normalised cut.

    ``objective_value`` is what the objective optimised (the cut for ``max-distance``, the
    cross-group similarity for ``min-similarity``); ``ties`` counts the partitions that reach
    it (1: a unique optimum); ``nonfinite`` says that the matrix had NaN or inf entries.
    """

    groups: Groups
    cut: float
    normalized_cut: float
    exact: bool = True
    objective: str = "max-distance"
    objective_value: float = math.nan
    ties: int = 1
    nonfinite: bool = False

    def labelled(self, labels: Sequence[str]) -> tuple[tuple[str, ...], ...]:
        """The groups with item indices replaced by ``labels`` (e.g. op names)."""
        return tuple(tuple(labels[i] for i in g) for g in self.groups)


def check_distance(
    D: np.ndarray | Sequence[Sequence[float]], *, allow_nonfinite: bool = False
) -> np.ndarray:
    """``D`` as a float array; must be square, symmetric, non-negative, finite (unless allowed)."""
    D = np.asarray(D, dtype=float)
    if D.ndim != 2 or D.shape[0] != D.shape[1]:
        raise ValueError(f"distance matrix must be square, got shape {D.shape}")
    finite = np.isfinite(D)
    if not finite.all() and not allow_nonfinite:
        raise ValueError("distance matrix has NaN or inf entries")
    with np.errstate(invalid="ignore"):
        negative = (D[finite] < 0).any()
    same = (
        np.allclose(D[finite], D.T[finite], rtol=1e-9, atol=0)
        and (np.isnan(D) == np.isnan(D.T)).all()
    )
    if negative or not same:
        raise ValueError("distance matrix must be symmetric and non-negative")
    return D


def cut_value(D: np.ndarray, groups: Groups) -> float:
    """Sum of ``D[i, j]`` over pairs ``i < j`` in different groups (NaN if one of them is)."""
    label = np.empty(D.shape[0], dtype=int)
    for g, members in enumerate(groups):
        label[list(members)] = g
    cross = np.triu(label[:, None] != label[None, :], k=1)
    return float(D[cross].sum())


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


def authors_order(n: int, b: int, *, balanced: bool = False) -> Iterator[Groups]:
    """Every partition of ``range(n)`` into ``b`` groups, each once, in the authors' order.

    The first group's size ascends from 1; for each size its members come in
    ``itertools.combinations`` order; the remaining items are split into ``b - 1`` groups the
    same way. Partitions already produced (in another group order) are skipped. Yields
    canonical groups (see :func:`canonical`).
    """
    seen: set[Groups] = set()
    for groups in _ordered(tuple(range(n)), b):
        key = canonical(groups)
        if key in seen or (balanced and not is_balanced(key)):
            continue
        seen.add(key)
        yield key


def _ordered(items: tuple[int, ...], b: int) -> Iterator[tuple[tuple[int, ...], ...]]:
    if b == 1:
        if items:
            yield (items,)
        return
    for size in range(1, len(items) - b + 2):
        for first in itertools.combinations(items, size):
            rest = tuple(i for i in items if i not in first)
            for tail in _ordered(rest, b - 1):
                yield (first, *tail)


def _objective_values(
    D: np.ndarray, S: np.ndarray | None, objective: str, partitions: list[Groups]
) -> list[float]:
    if objective == "max-distance":
        return [cut_value(D, g) for g in partitions]
    assert S is not None
    return [cut_value(S, g) for g in partitions]


def improves(value: float, incumbent: float, objective: str, tol: float = 0.0) -> bool:
    """``value`` is strictly better than ``incumbent`` under ``objective``, by more than ``tol``.

    Larger is better for ``max-distance``, smaller for ``min-similarity``; False whenever NaN
    takes part (also ``inf`` against ``inf``), as in the authors' comparisons.
    """
    sign = 1.0 if objective == "max-distance" else -1.0
    return sign * (value - incumbent) > tol


def _first_best(values: list[float], objective: str, scale: float) -> tuple[int, int]:
    """(index of the first optimum, number of optima) with strict, NaN-safe improvement."""
    tol = _REL_TOL * max(scale, 1e-300)
    best = 0
    for i in range(1, len(values)):
        if improves(values[i], values[best], objective, tol):
            best = i
    ties = sum(1 for v in values if abs(v - values[best]) <= tol)  # 0 when the best is NaN
    return best, max(ties, 1)


def best_partition(
    D: np.ndarray | Sequence[Sequence[float]],
    b: int,
    *,
    balanced: bool = False,
    seed: int = 0,
    objective: str = "max-distance",
    similarity: np.ndarray | Sequence[Sequence[float]] | None = None,
    allow_nonfinite: bool = False,
) -> Partition:
    """The best partition of ``D``'s items into ``b`` non-empty groups under ``objective``.

    ``similarity`` (required for ``min-similarity``) is the matrix whose cross-group sum is
    minimised. Exact when ``S(n, b) <= EXACT_LIMIT`` (always for NB201), else the heuristic
    (``exact`` is then False; ``max-distance`` only). ``seed`` only feeds the heuristic.
    ``allow_nonfinite`` accepts NaN/inf entries (kept by the ``ly-manson`` recipe): they
    follow the comparison rule of the module docstring and set ``nonfinite``.
    """
    if objective not in OBJECTIVES:
        raise ValueError(f"unknown partition objective {objective!r}; known: {list(OBJECTIVES)}")
    D = check_distance(D, allow_nonfinite=allow_nonfinite)
    S = None
    if objective == "min-similarity":
        if similarity is None:
            raise ValueError(
                "the min-similarity objective needs a similarity matrix (a pairwise metric "
                "such as gm); scalar metrics use max-distance"
            )
        S = np.asarray(similarity, dtype=float)
        if S.shape != D.shape:
            raise ValueError(f"similarity matrix {S.shape} does not match distances {D.shape}")
    n = D.shape[0]
    if not 2 <= b <= n:
        raise ValueError(f"cannot split {n} items into {b} non-empty groups (need 2 <= b <= n)")
    nonfinite = not np.isfinite(D).all() or (S is not None and not np.isfinite(S).all())
    if num_partitions(n, b) > EXACT_LIMIT:
        if objective != "max-distance" or nonfinite:
            raise ValueError(
                f"{n} items into {b} groups is too many partitions to enumerate; the heuristic "
                "handles only finite distances with the max-distance objective"
            )
        return _make(D, _heuristic(D, b, balanced=balanced, seed=seed), exact=False)
    partitions = list(authors_order(n, b, balanced=balanced))
    values = _objective_values(D, S, objective, partitions)
    finite = [abs(v) for v in values if math.isfinite(v)]
    best, ties = _first_best(values, objective, max(finite, default=0.0))
    part = _make(D, partitions[best], exact=True)
    return replace(
        part, objective=objective, objective_value=values[best], ties=ties, nonfinite=nonfinite
    )


def random_partition(n: int, b: int, rng: np.random.Generator, *, balanced: bool = False) -> Groups:
    """A partition drawn uniformly from all partitions of ``range(n)`` into ``b`` groups.

    The ``random`` splitting baseline of the framework paper's authors.
    """
    if not 2 <= b <= n:
        raise ValueError(f"cannot split {n} items into {b} non-empty groups (need 2 <= b <= n)")
    partitions = list(authors_order(n, b, balanced=balanced))
    return partitions[int(rng.integers(len(partitions)))]


def partition_of(D: np.ndarray, groups: Groups) -> Partition:
    """``groups`` (canonical) as a :class:`Partition` of ``D`` (its cut; no optimisation)."""
    return _make(np.asarray(D, dtype=float), canonical(groups), exact=True)


def _make(D: np.ndarray, groups: Groups, *, exact: bool) -> Partition:
    total = total_weight(D)
    cut = cut_value(D, groups)
    with np.errstate(invalid="ignore"):
        normalized = cut / total if total > 0 else (0.0 if total == 0 else math.nan)
    return Partition(groups, cut, normalized, exact, "max-distance", cut)


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
    "OBJECTIVES",
    "Partition",
    "authors_order",
    "best_partition",
    "canonical",
    "check_distance",
    "cut_value",
    "improves",
    "is_balanced",
    "num_partitions",
    "partition_of",
    "random_partition",
    "set_partitions",
    "similarity_graph",
    "total_weight",
]
