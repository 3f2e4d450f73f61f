"""Ranking quality and the arch sample of the few-shot vs one-shot experiment, by hand."""

from __future__ import annotations

import numpy as np
import pytest

from fewshot.analysis.ranking import (
    ranking_quality,
    stratified_sample,
    tau_difference_interval,
    top_k_regret,
)


def test_stratified_sample_takes_one_arch_per_accuracy_stratum():
    acc = np.random.default_rng(1).uniform(10, 95, size=1000)
    picks = stratified_sample(acc, 10, seed=3)
    assert picks == stratified_sample(acc, 10, seed=3)  # deterministic
    assert picks != stratified_sample(acc, 10, seed=4)
    ranks = np.argsort(np.argsort(acc))  # 0 = lowest accuracy
    strata = sorted(int(ranks[i]) // 100 for i in picks)
    assert strata == list(range(10))  # exactly one per decile of accuracy


def test_stratified_sample_refuses_bad_requests():
    with pytest.raises(ValueError, match="cannot draw 5"):
        stratified_sample(np.arange(4.0), 5, seed=0)
    with pytest.raises(ValueError, match="NaN"):
        stratified_sample(np.array([1.0, np.nan, 2.0]), 2, seed=0)


def test_pooled_tau_spearman_pick_and_regret_by_hand():
    # pairs of (predicted, true): 5 concordant, 1 discordant -> tau = 4/6;
    # ranks of true (1, 3, 2, 4): sum d^2 = 2 -> rho = 1 - 6*2/(4*15) = 0.8
    q = ranking_quality([1, 2, 3, 4], [10, 30, 20, 40], ["a"] * 4, top_k=1)
    assert q.kendall_tau == pytest.approx(4 / 6)
    assert q.spearman == pytest.approx(0.8)
    assert (q.picked_arch, q.picked_accuracy, q.regret_top_k) == (3, 40.0, 0.0)


def test_regret_and_per_leaf_correlations():
    predicted = [5.0, 4.0, 3.0, 1.0, 2.0, 0.0]
    true = [50.0, 60.0, 70.0, 91.0, 90.0, 80.0]
    leaves = ["x", "x", "x", "y", "y", "y"]
    q = ranking_quality(predicted, true, leaves, top_k=2)
    assert q.picked_accuracy == 50.0
    assert q.regret_top_k == pytest.approx(91.0 - 60.0)
    assert top_k_regret(np.array(predicted), np.array(true), 5) == 0.0
    assert q.per_leaf["x"] == {"archs": 3, "kendall_tau": pytest.approx(-1.0),
                               "spearman": pytest.approx(-1.0)}  # fmt: skip
    assert q.per_leaf["y"]["kendall_tau"] == pytest.approx(1 / 3)  # (2 - 1) / 3 pairs


def test_non_finite_predictions_raise():
    with pytest.raises(ValueError, match="NaN or inf"):
        ranking_quality([1.0, float("nan")], [1.0, 2.0], ["a", "a"])
    with pytest.raises(ValueError, match="differ in length"):
        ranking_quality([1.0], [1.0, 2.0], ["a", "a"])


def test_tau_difference_interval_is_paired_over_archs():
    true = np.arange(30.0)
    noisy = true + np.random.default_rng(0).normal(0, 8, size=30)
    same = tau_difference_interval([noisy, noisy], [noisy, noisy], true, n_resamples=200)
    assert (same.estimate, same.low, same.high) == (0.0, 0.0, 0.0)
    better = tau_difference_interval([true], [-true], true, n_resamples=200)
    assert better.estimate == pytest.approx(2.0)
    assert better.low == pytest.approx(2.0)
    mixed = tau_difference_interval([noisy], [-true], true, n_resamples=200)
    assert 0 < mixed.low < mixed.estimate < mixed.high <= 2.0
    with pytest.raises(ValueError, match="seeds"):
        tau_difference_interval([true], [true, true], true)


def test_top_fraction_tau_looks_only_at_the_truly_best_archs():
    from fewshot.analysis.ranking import top_fraction_tau

    true = np.arange(40, dtype=float)
    predicted = true.copy()
    predicted[-4:] = predicted[-4:][::-1]  # the top 10% (4 archs) ranked backwards
    assert top_fraction_tau(predicted, true) == pytest.approx(-1.0)
    assert ranking_quality(predicted, true, ["a"] * 40).kendall_tau > 0.9
    assert top_fraction_tau(predicted[:2], true[:2]) is None


def test_seed_and_arch_bootstrap_is_wider_when_seeds_disagree():
    rng = np.random.default_rng(0)
    true = rng.normal(size=60)
    good, bad = true + rng.normal(scale=0.5, size=60), rng.normal(size=60)
    method = np.stack([good, bad, good])  # one seed of the method fails
    baseline = np.stack([bad, bad, bad])
    archs_only = tau_difference_interval(method, baseline, true, n_resamples=300, seed=1)
    both = tau_difference_interval(method, baseline, true, n_resamples=300, seed=1,
                                   resample_seeds=True)  # fmt: skip
    assert both.estimate == pytest.approx(archs_only.estimate)
    assert both.high - both.low > archs_only.high - archs_only.low
    assert both.low <= both.estimate <= both.high
