"""The bootstrap of da Silva et al., vectorised in numpy: which nets win, and their intervals.

One bootstrap draws ``fraction`` of the sample with replacement and keeps the net with the best
score; 10,000 draws give the distribution of the winner's hyperparameters, whose 2.5 / 97.5
percentiles (a 95% interval) and median summarise where the predictor's best nets lie. The
draws are one ``(B, m)`` integer array (in chunks), never a Python loop over draws.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

DEFAULT_DRAWS = 10_000
DEFAULT_FRACTION = 0.25
DEFAULT_LEVEL = 0.95
_CHUNK_ELEMENTS = 4_000_000  # indices per chunk (32 MB of int64)


@dataclass(frozen=True)
class Interval:
    """A hyperparameter's bootstrap interval: inclusive ``[low, high]`` and the median."""

    low: int
    high: int
    median: float

    def to_dict(self) -> dict[str, float]:
        return {"low": self.low, "high": self.high, "median": self.median}

    @classmethod
    def from_dict(cls, d: Mapping[str, float]) -> Interval:
        return cls(int(d["low"]), int(d["high"]), float(d["median"]))

    def contains(self, value: float) -> bool:
        return self.low <= value <= self.high


def bootstrap_winners(
    scores: Sequence[float] | np.ndarray,
    *,
    draws: int = DEFAULT_DRAWS,
    fraction: float = DEFAULT_FRACTION,
    seed: int = 0,
) -> np.ndarray:
    """Index of the best-scoring net in each of ``draws`` resamples (with replacement).

    Each resample holds ``max(1, round(fraction * n))`` nets; a tie goes to the first drawn.
    ``scores`` must be finite (drop failed nets first).
    """
    s = np.asarray(scores, dtype=float)
    if s.ndim != 1 or s.size == 0:
        raise ValueError(f"bootstrap needs a non-empty 1-d array of scores, got shape {s.shape}")
    if not np.isfinite(s).all():
        raise ValueError("bootstrap scores must be finite; drop nets whose predictor failed")
    if draws < 1 or not 0 < fraction <= 1:
        raise ValueError(f"need draws >= 1 and 0 < fraction <= 1, got {draws}, {fraction}")
    m = max(1, round(fraction * s.size))
    rng = np.random.default_rng(seed)
    per_chunk = max(1, _CHUNK_ELEMENTS // m)
    winners = []
    for start in range(0, draws, per_chunk):
        c = min(per_chunk, draws - start)
        idx = rng.integers(0, s.size, size=(c, m))
        winners.append(idx[np.arange(c), np.argmax(s[idx], axis=1)])
    return np.concatenate(winners)


def winner_intervals(
    values: np.ndarray,
    names: Sequence[str],
    winners: np.ndarray,
    *,
    level: float = DEFAULT_LEVEL,
) -> dict[str, Interval]:
    """Per column of ``values`` (nets x hyperparameters): the winners' interval and median.

    The low end is the ``(1 - level) / 2`` percentile taken as the next lower observed value,
    the high end the ``(1 + level) / 2`` percentile as the next higher one, so both ends are
    values the space allows (powers of two stay powers of two) and the interval never
    shrinks below what the percentiles cover.
    """
    v = np.asarray(values)
    if v.ndim != 2 or v.shape[1] != len(names):
        raise ValueError(f"values must be nets x {len(names)} hyperparameters, got {v.shape}")
    won = v[np.asarray(winners)]
    tail = 100 * (1 - level) / 2
    low = np.percentile(won, tail, axis=0, method="lower")
    high = np.percentile(won, 100 - tail, axis=0, method="higher")
    median = np.median(won, axis=0)
    return {
        n: Interval(int(lo), int(hi), float(md))
        for n, lo, hi, md in zip(names, low, high, median, strict=True)
    }


def category_shares(labels: np.ndarray, winners: np.ndarray, num_categories: int) -> np.ndarray:
    """Share of bootstrap winners per category, per column: ``(columns, num_categories)``.

    ``labels`` is nets x columns of category indices (e.g. NB201's op index per edge).
    """
    won = np.asarray(labels)[np.asarray(winners)]
    counts = np.stack(
        [np.bincount(won[:, j], minlength=num_categories) for j in range(won.shape[1])]
    )
    return counts / counts.sum(axis=1, keepdims=True)


def credible_set(shares: np.ndarray, level: float = DEFAULT_LEVEL) -> list[int]:
    """The fewest categories (largest shares first) that hold at least ``level`` of the winners.

    The categorical counterpart of a 95% interval (categories have no order to cut tails
    from). Ties in share keep the lower index first.
    """
    order = sorted(range(len(shares)), key=lambda i: (-shares[i], i))
    kept, total = [], 0.0
    for i in order:
        kept.append(i)
        total += shares[i]
        if total >= level - 1e-12:
            break
    return sorted(kept)
