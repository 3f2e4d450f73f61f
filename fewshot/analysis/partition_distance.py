"""The split distance S(A, B) between two partitions of ops (SPEC section 6): the formula only.

For two partitions A, B of the same op set O, n = |O|, and G_{o,A} the ops other than o in
o's group in A::

    S(A, B) = sum over o in O of |G_{o,A} symmetric-difference G_{o,B}|  /  (2 (n - 1))

Each op pair {o, p} that is together in one partition and apart in the other appears in both
G_o's and G_p's symmetric difference, so the sum counts it twice: S is the number of such
pairs divided by n - 1. Example: {a,b}{c,d,e} vs {a,c}{b,d,e} over n = 5 ops differ on the
6 pairs ab, cd, ce, ac, bd, be; the sum over ops is 12 and S = 12 / 8 = 6 / 4 = 1.5.

Splits over different op sets are compared on their common ops (:func:`split_distance`): both
partitions are restricted to them (empty groups dropped) and n is the number of common ops;
fewer than 2 common ops give ``None``. Aggregation over trees is in
:mod:`fewshot.analysis.split_distance`, loading trees in :mod:`fewshot.analysis.tree_groups`.
"""

from __future__ import annotations

from collections.abc import Iterable

Partition = tuple[frozenset[str], ...]


def as_partition(groups: Iterable[Iterable[str]]) -> Partition:
    """Normalise groups to a tuple of non-empty frozensets; an op in two groups is an error."""
    lists = [list(g) for g in groups]
    flat = [op for g in lists for op in g]
    if len(flat) != len(set(flat)):
        raise ValueError(f"groups {lists} repeat an op: not a partition")
    return tuple(frozenset(g) for g in lists if g)


def partition_ops(partition: Partition) -> frozenset[str]:
    """The op set a partition covers."""
    return frozenset().union(*partition)


def restrict(partition: Partition, ops: Iterable[str]) -> Partition:
    """The partition induced on ``ops`` (a subset of its op set); empty groups are dropped."""
    keep = frozenset(ops)
    return tuple(g & keep for g in partition if g & keep)


def _mates(partition: Partition) -> dict[str, frozenset[str]]:
    """G_o for every op o: the other ops of o's group."""
    return {op: group - {op} for group in partition for op in group}


def partition_distance(a: Iterable[Iterable[str]], b: Iterable[Iterable[str]]) -> float:
    """S(A, B) of SPEC section 6 for two partitions of the same op set (n >= 2).

    Raises ``ValueError`` if the op sets differ (use :func:`split_distance` to compare on the
    common ops) or if fewer than 2 ops are partitioned (n - 1 would be 0).
    """
    pa, pb = as_partition(a), as_partition(b)
    ops = partition_ops(pa)
    if ops != partition_ops(pb):
        raise ValueError(
            f"partitions cover different ops ({sorted(ops)} vs {sorted(partition_ops(pb))}); "
            "restrict them to their common ops first"
        )
    n = len(ops)
    if n < 2:
        raise ValueError(f"split distance needs at least 2 ops, got {sorted(ops)}")
    ga, gb = _mates(pa), _mates(pb)
    total = sum(len(ga[o] ^ gb[o]) for o in ops)
    return total / (2 * (n - 1))


def split_distance(a: Iterable[Iterable[str]], b: Iterable[Iterable[str]]) -> float | None:
    """S on the ops common to both partitions; ``None`` when fewer than 2 ops are common."""
    pa, pb = as_partition(a), as_partition(b)
    common = partition_ops(pa) & partition_ops(pb)
    if len(common) < 2:
        return None
    return partition_distance(restrict(pa, common), restrict(pb, common))


__all__ = [
    "Partition",
    "as_partition",
    "partition_distance",
    "partition_ops",
    "restrict",
    "split_distance",
]
