"""The vectorised bootstrap: equals a plain loop, intervals contain a known optimum."""

from __future__ import annotations

import numpy as np
import pytest

from fewshot.refine.bootstrap import (
    bootstrap_winners,
    category_shares,
    credible_set,
    winner_intervals,
)


def test_winners_equal_a_plain_loop_over_the_same_draws():
    rng = np.random.default_rng(3)
    scores = rng.normal(size=40)
    winners = bootstrap_winners(scores, draws=500, fraction=0.25, seed=7)
    draws = np.random.default_rng(7).integers(0, 40, size=(500, 10))  # one chunk, same stream
    loop = [row[int(np.argmax(scores[row]))] for row in draws]
    assert winners.tolist() == loop


def test_interval_on_a_synthetic_sample_contains_the_known_optimum():
    rng = np.random.default_rng(0)
    depth = rng.integers(1, 17, size=400)
    width = 2 ** rng.integers(0, 10, size=400)
    # best nets have depth 12 and width 64; noise so that the winner varies between draws
    scores = -((depth - 12) ** 2) - 4 * (np.log2(width) - 6) ** 2 + rng.normal(0, 3, size=400)
    winners = bootstrap_winners(scores, draws=10_000, seed=1)
    iv = winner_intervals(np.stack([depth, width], 1), ["d1", "w1"], winners)
    assert iv["d1"].contains(12) and iv["w1"].contains(64)
    assert iv["d1"].high - iv["d1"].low <= 6  # and it is narrow, not the whole range
    assert iv["w1"].low in 2 ** np.arange(10) and iv["w1"].high in 2 ** np.arange(10)


def test_every_draw_keeps_the_best_of_a_quarter():
    scores = np.arange(100, dtype=float)
    winners = bootstrap_winners(scores, draws=2000, fraction=0.25, seed=0)
    # the best of 25 draws from 0..99 is below 80 with probability 0.8**25 < 0.004
    assert (winners >= 80).mean() > 0.99


@pytest.mark.parametrize("bad", [[], [1.0, float("nan")]])
def test_bad_scores_raise(bad):
    with pytest.raises(ValueError):
        bootstrap_winners(bad)


def test_credible_set_of_categories():
    labels = np.array([[0, 1], [1, 1], [2, 1], [0, 0]])
    winners = np.array([0] * 90 + [1] * 8 + [2] * 2)
    shares = category_shares(labels, winners, 3)
    assert shares[0].tolist() == [0.9, 0.08, 0.02]
    assert credible_set(shares[0]) == [0, 1]  # 0.98 >= 0.95; op 2 (2%) dropped
    assert credible_set(shares[1]) == [1]
