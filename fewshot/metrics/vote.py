"""vote: majority vote of synflow, jacob_cov and snip for ranking pairs (Abdelfattah et al.).

Not a per-network scalar, so not in the metric registry: it scores how well the majority of
several metrics orders *pairs* of standalone architectures. For each pair (i, j) with different
accuracies, every metric votes for the arch it scores higher (a tied score abstains); the vote
is correct when the majority picks the more accurate arch. A pair where the votes balance (all
abstain, or as many for each side) counts as half correct, the chance level.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

VOTE_METRICS: tuple[str, ...] = ("synflow", "jacob_cov", "snip")


def vote_accuracy(
    scores: Mapping[str, Sequence[float] | np.ndarray],
    accuracy: Sequence[float] | np.ndarray,
) -> float:
    """Fraction of arch pairs ordered correctly by the majority vote of ``scores``' metrics.

    Args:
        scores: metric name -> one score per arch (higher = predicted better), e.g. the
            columns of :data:`VOTE_METRICS`.
        accuracy: the true accuracy of each arch, in the same order.

    Returns:
        Correct pairs (ties in the vote count 1/2) over pairs with different accuracies.
    """
    acc = np.asarray(accuracy, dtype=float)
    if not scores:
        raise ValueError("vote_accuracy needs the scores of at least one metric")
    mat = np.stack([np.asarray(v, dtype=float) for v in scores.values()])
    if mat.shape[1] != acc.shape[0]:
        raise ValueError(
            f"vote_accuracy: {mat.shape[1]} scores per metric but {acc.shape[0]} accuracies"
        )
    if not (np.isfinite(mat).all() and np.isfinite(acc).all()):
        raise ValueError("vote_accuracy needs finite scores and accuracies (drop failed archs)")
    correct, total = 0.0, 0
    for i in range(acc.shape[0] - 1):  # row by row: memory stays O(n), fine for 15,625 archs
        truth = np.sign(acc[i + 1 :] - acc[i])
        votes = np.sign(np.sign(mat[:, i + 1 :] - mat[:, i : i + 1]).sum(axis=0))
        keep = truth != 0
        correct += float(np.where(votes == 0, 0.5, votes == truth)[keep].sum())
        total += int(keep.sum())
    if total == 0:
        raise ValueError("vote_accuracy needs at least two archs with different accuracies")
    return correct / total


def finite_rows(scores: Mapping[str, Sequence[float] | np.ndarray]) -> np.ndarray:
    """Mask of the archs where every metric of ``scores`` is finite (the ones a vote uses)."""
    return np.logical_and.reduce([np.isfinite(np.asarray(v, dtype=float)) for v in scores.values()])


def finite_vote(
    scores: Mapping[str, Sequence[float] | np.ndarray],
    accuracy: Sequence[float] | np.ndarray,
) -> tuple[int, float | None]:
    """(archs used, :func:`vote_accuracy`) over the archs where every metric is finite
    (:func:`finite_rows`); ``None`` when fewer than two are."""
    keep = finite_rows(scores)
    if keep.sum() < 2:
        return int(keep.sum()), None
    kept = {m: np.asarray(v, dtype=float)[keep] for m, v in scores.items()}
    return int(keep.sum()), vote_accuracy(kept, np.asarray(accuracy, dtype=float)[keep])
