"""The partitioner: exact search equals brute force, balanced sizes, deterministic ties."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fewshot.splitting import partition as partition_module
from fewshot.splitting.partition import (
    EXACT_LIMIT,
    Partition,
    authors_order,
    best_partition,
    canonical,
    cut_value,
    is_balanced,
    num_partitions,
    partition_of,
    random_partition,
    set_partitions,
    similarity_graph,
)


def random_distance(n: int, rng: np.random.Generator, *, integer: bool = False) -> np.ndarray:
    """A symmetric, non-negative matrix with zero diagonal (integers make ties likely)."""
    a = rng.integers(0, 3, (n, n)).astype(float) if integer else rng.random((n, n))
    d = np.triu(a, 1)
    return d + d.T


def brute_force(D: np.ndarray, b: int, *, balanced: bool = False) -> tuple[float, set]:
    """Best cut and every optimal partition, by labelling each item with a group 0..b-1.

    Independent of the library's enumeration: all b**n labellings, deduplicated by
    canonical form, groups non-empty.
    """
    n = D.shape[0]
    tol = 1e-12 * np.triu(D, 1).sum()  # ties: cuts within a relative 1e-12 of the best
    best, arg = -1.0, set()
    for labels in itertools.product(range(b), repeat=n):
        if len(set(labels)) != b:
            continue
        groups = canonical([[i for i in range(n) if labels[i] == g] for g in range(b)])
        if balanced and not is_balanced(groups):
            continue
        cut = sum(D[i, j] for i in range(n) for j in range(i + 1, n) if labels[i] != labels[j])
        if cut > best + tol:
            best, arg = cut, {groups}
        elif abs(cut - best) <= tol:
            arg.add(groups)
    return best, arg


@pytest.mark.parametrize("n,b", [(2, 2), (3, 2), (4, 2), (4, 3), (5, 2), (5, 3), (5, 4), (6, 3)])
@pytest.mark.parametrize("balanced", [False, True])
def test_exact_equals_brute_force_on_seeded_matrices(n, b, balanced):
    rng = np.random.default_rng(1000 * n + 10 * b + balanced)
    for trial in range(20):
        D = random_distance(n, rng, integer=trial % 2 == 1)
        best, optimal = brute_force(D, b, balanced=balanced)
        part = best_partition(D, b, balanced=balanced)
        assert part.exact
        assert part.cut == pytest.approx(best, abs=1e-9)
        assert part.groups in optimal
        # ties: the first optimum in the authors' order (first group size ascending, ...)
        first = next(g for g in authors_order(n, b, balanced=balanced) if g in optimal)
        assert part.groups == first
        assert part.ties == len(optimal)


@settings(max_examples=60, deadline=None, derandomize=True)
@given(
    st.integers(2, 6).flatmap(
        lambda n: st.tuples(
            st.just(n),
            st.integers(2, n),
            st.lists(st.floats(0, 10, allow_nan=False), min_size=n * n, max_size=n * n),
        )
    )
)
def test_exact_equals_brute_force_hypothesis(case):
    n, b, values = case
    D = np.triu(np.array(values).reshape(n, n), 1)
    D = D + D.T
    best, optimal = brute_force(D, b)
    part = best_partition(D, b)
    assert part.cut == pytest.approx(best, rel=1e-9, abs=1e-300)
    assert part.groups in optimal


@pytest.mark.parametrize("n,b", [(5, 2), (5, 3), (4, 3), (7, 3)])
def test_enumeration_counts_are_stirling_numbers(n, b):
    parts = list(set_partitions(n, b))
    assert len(parts) == len(set(parts)) == num_partitions(n, b)
    assert all(p == canonical(p) and len(p) == b for p in parts)
    assert num_partitions(5, 2) == 15 and num_partitions(5, 3) == 25  # SPEC section 4


@pytest.mark.parametrize("n,b", [(5, 2), (5, 3), (7, 3), (4, 4)])
def test_balanced_sizes_differ_by_at_most_one(n, b):
    rng = np.random.default_rng(n * b)
    # A planted structure that an unbalanced cut prefers: one far-away op.
    D = random_distance(n, rng) * 0.01
    D[0, 1:] = D[1:, 0] = 10.0
    free = best_partition(D, b)
    bal = best_partition(D, b, balanced=True)
    sizes = sorted(len(g) for g in bal.groups)
    assert max(sizes) - min(sizes) <= 1 and sum(sizes) == n
    assert bal.cut <= free.cut + 1e-12
    if b == 2 and n >= 4:  # {op 0} | rest is then unbalanced, and the free partition takes it
        assert free.groups[0] == (0,) and not is_balanced(free.groups)
        assert bal.groups != free.groups


def test_all_zero_distances_split_none_from_the_rest():
    """SPEC 4 step 3: every partition ties and the authors' order starts with {op 0} | rest."""
    D = np.zeros((5, 5))
    part = best_partition(D, 2)
    assert part.groups == ((0,), (1, 2, 3, 4))  # {none} | rest with ops in NATS-Bench order
    assert part.ties == 15 and part.cut == 0.0 and part.normalized_cut == 0.0
    assert best_partition(D, 2, balanced=True).groups == ((0, 1), (2, 3, 4))
    assert best_partition(D, 3).groups == ((0,), (1,), (2, 3, 4))


def test_authors_order_by_first_group_size_then_index():
    order = list(authors_order(4, 2))
    assert order == [
        ((0,), (1, 2, 3)),
        ((0, 2, 3), (1,)),
        ((0, 1, 3), (2,)),
        ((0, 1, 2), (3,)),
        ((0, 1), (2, 3)),
        ((0, 2), (1, 3)),
        ((0, 3), (1, 2)),
    ]
    assert sorted(authors_order(5, 3)) == sorted(set_partitions(5, 3))


def test_objectives_pick_different_partitions_on_a_hand_built_matrix():
    """SPEC 4 step 3: the similarity cut counts pairs, so the objectives can disagree.

    Cosine similarity S: op 0 at 0.3 to every op; {1,2} and {3,4} two clusters (0.8 inside,
    0.25 across); D = 1 - S. By hand:
    - max-distance: {0,1,2}|{3,4} and {1,2}|{0,3,4} cut 2 x 0.7 + 4 x 0.75 = 4.4, above
      {0}|rest = 4 x 0.7 = 2.8 (and every other cut); the tie goes to the first in the
      authors' order, first group {1,2} (size 2) before {3,4};
    - min-similarity: {0}|rest = 4 x 0.3 = 1.2, below {0,1,2}|{3,4} = 2 x 0.3 + 4 x 0.25 = 1.6
      and every other cross sum (a 1|4 split has 4 cross pairs, a 2|3 split 6).
    """
    S = np.full((5, 5), 0.8)
    S[0, :] = S[:, 0] = 0.3
    S[np.ix_([1, 2], [3, 4])] = S[np.ix_([3, 4], [1, 2])] = 0.25
    np.fill_diagonal(S, 1.0)
    D = 1.0 - S
    dist = best_partition(D, 2, objective="max-distance")
    sim = best_partition(D, 2, objective="min-similarity", similarity=S)
    assert dist.cut == pytest.approx(4.4) and dist.ties == 2
    assert dist.groups == ((0, 3, 4), (1, 2))
    assert sim.groups == ((0,), (1, 2, 3, 4)) and sim.objective_value == pytest.approx(1.2)
    assert sim.ties == 1


def test_nan_never_wins_and_a_nonfinite_first_partition_stays():
    """The authors' comparison rule when non-finite scores are kept (ly-manson)."""
    f = np.array([1.0, 2.0, np.inf, np.nan, 3.0])  # synflow-like overflow on ops 2 and 3
    with np.errstate(invalid="ignore"):
        D = np.abs(f[:, None] - f[None, :])
    np.fill_diagonal(D, 0.0)
    part = best_partition(D, 2, allow_nonfinite=True)
    assert part.nonfinite and part.groups == ((0,), (1, 2, 3, 4))  # first in order: NaN cut
    with pytest.raises(ValueError, match="NaN or inf"):
        best_partition(D, 2)


def test_normalized_cut_is_cut_over_total():
    D = random_distance(5, np.random.default_rng(3))
    part = best_partition(D, 2)
    assert part.normalized_cut == pytest.approx(part.cut / np.triu(D, 1).sum())
    assert part.cut == pytest.approx(cut_value(D, part.groups))


def test_large_op_sets_use_the_graph_heuristic():
    """Beyond EXACT_LIMIT partitions: networkx bisection + local moves; planted groups found."""
    n, b = 16, 3
    assert num_partitions(n, b) > EXACT_LIMIT
    planted = [list(range(0, 5)), list(range(5, 11)), list(range(11, 16))]
    label = np.empty(n, dtype=int)
    for g, items in enumerate(planted):
        label[items] = g
    rng = np.random.default_rng(0)
    D = np.where(label[:, None] != label[None, :], 5.0, 0.0) + random_distance(n, rng) * 0.1
    np.fill_diagonal(D, 0.0)
    part = best_partition(D, b, seed=0)
    assert not part.exact
    assert part.groups == canonical(planted)
    bal = best_partition(D, b, balanced=True, seed=0)
    assert is_balanced(bal.groups) and sorted(sum(bal.groups, ())) == list(range(n))


def test_similarity_graph_weights_alike_ops_heavily():
    D = np.array([[0, 1, 4], [1, 0, 3], [4, 3, 0]], dtype=float)
    g = similarity_graph(D, ["a", "b", "c"])
    assert g["a"]["b"]["weight"] == 3.0 and g["a"]["c"]["weight"] == 0.0
    assert g["b"]["c"]["distance"] == 3.0


@pytest.mark.parametrize(
    "D,b,match",
    [
        (np.zeros((3, 3)), 4, "non-empty groups"),
        (np.zeros((3, 3)), 1, "non-empty groups"),
        (np.array([[0, 1], [2, 0]]), 2, "symmetric"),
        (np.array([[0, -1], [-1, 0]]), 2, "non-negative"),
        (np.array([[0, np.nan], [np.nan, 0]]), 2, "^distance matrix has NaN or inf entries$"),
        (np.zeros((2, 3)), 2, "square"),
    ],
)
def test_invalid_inputs_raise(D, b, match):
    with pytest.raises(ValueError, match=match):
        best_partition(D, b)


def test_unknown_objective_is_named_in_the_error():
    with pytest.raises(ValueError, match="unknown partition objective 'cut'; known: "):
        best_partition(np.zeros((3, 3)), 2, objective="cut")


# -- survivors of the mutation run (docs/metrics/mutation.md) -------------------------------


def test_stirling_numbers_at_the_edges_are_exact_integers():
    assert num_partitions(5, 1) == 1 and num_partitions(5, 5) == 1
    assert num_partitions(5, 0) == num_partitions(3, 4) == 0
    assert num_partitions(60, 2) == 2**59 - 1  # beyond float precision: integer division
    assert list(set_partitions(1, 1)) == [((0,),)]


def test_partition_of_scores_given_groups_without_optimising():
    D = np.array([[0, 0.1, 0.2], [0.1, 0, 0.3], [0.2, 0.3, 0]])  # total 0.6 < 1
    part = partition_of(D, [[2, 0], [1]])
    assert part == Partition(
        ((0, 2), (1,)), pytest.approx(0.4), pytest.approx(0.4 / 0.6), True, "max-distance",
        pytest.approx(0.4),
    )  # fmt: skip
    assert part.labelled(["none", "skip", "conv"]) == (("none", "conv"), ("skip",))


def test_min_similarity_partition_records_its_objective():
    S = np.array([[1.0, 0.9, 0.1], [0.9, 1.0, 0.2], [0.1, 0.2, 1.0]])
    part = best_partition(1 - S, 2, objective="min-similarity", similarity=S)
    assert part.objective == "min-similarity" and part.groups == ((0, 1), (2,))
    assert part.objective_value == pytest.approx(0.3)


def test_random_partition_draws_the_authors_order_uniformly():
    order = list(authors_order(4, 2))
    draws = [random_partition(4, 2, np.random.default_rng(s)) for s in range(60)]
    assert draws == [order[int(np.random.default_rng(s).integers(7))] for s in range(60)]
    assert set(draws) == set(order)  # unbalanced 1|3 splits too, unless asked otherwise
    balanced = {random_partition(4, 2, np.random.default_rng(s), balanced=True) for s in range(30)}
    assert balanced == {((0, 1), (2, 3)), ((0, 2), (1, 3)), ((0, 3), (1, 2))}
    with pytest.raises(ValueError, match="non-empty groups"):
        random_partition(3, 4, np.random.default_rng(0))


def two_clusters(members: list[int], n: int) -> np.ndarray:
    """Distance 1 across the clusters ``members`` | rest, 0.1 inside."""
    inside = np.isin(np.arange(n), members)
    D = np.where(inside[:, None] != inside[None, :], 1.0, 0.1)
    np.fill_diagonal(D, 0.0)
    return D


def test_bisection_is_a_weighted_kernighan_lin_from_halves():
    """Kernighan-Lin keeps the sizes of its start (halves) and follows the weights: the
    clusters {0, 3, 4} | {1, 2, 5} are found from the start {0, 1, 2} | {3, 4, 5}."""
    halves = partition_module._bisect(two_clusters([0, 3, 4], 6), list(range(6)), seed=0)
    assert sorted(map(sorted, halves)) == [[0, 3, 4], [1, 2, 5]]


def test_heuristic_splits_the_largest_group_next(monkeypatch):
    """7 items: the first bisection finds {0,3,4,5} | {1,2,6}; the next one splits the larger
    {0,3,4,5}, not the one that sorts last (sizes 3, 2, 2 before the local moves, switched
    off here)."""
    monkeypatch.setattr(partition_module, "_improve", lambda D, groups, balanced: groups)
    D = two_clusters([0, 3, 4, 5], 7)
    assert sorted(partition_module._bisect(D, list(range(7)), seed=0)) == [[0, 3, 4, 5], [1, 2, 6]]
    groups = partition_module._heuristic(D, 3, balanced=False, seed=0)
    assert sorted(len(g) for g in groups) == [2, 2, 3]
    assert (1, 2, 6) in groups


def test_rebalancing_moves_the_item_that_keeps_the_largest_cut():
    """From {0,1,2,3} | {4}: moving 3 (far from 0,1,2, near 4) keeps the cut largest."""
    D = two_clusters([3, 4], 5)
    assert partition_module._rebalance(D, [[0, 1, 2, 3], [4]]) == [[0, 1, 2], [4, 3]]


def test_heuristic_on_all_zero_distances_terminates():
    """No move increases a zero cut: the local search must stop (strict improvement)."""
    part = best_partition(np.zeros((13, 13)), 3)
    assert not part.exact and part.cut == 0.0 and sorted(sum(part.groups, ())) == list(range(13))
