"""Free baselines: rank averages, their quality, and paired intervals on shared resamples."""

from __future__ import annotations

import numpy as np
import pytest

from fewshot.analysis.baselines import (
    KEY,
    arms_against_baselines,
    baseline_quality,
    baseline_rows,
    beaten_by,
    bootstrap_taus,
    free_baselines_text,
    free_predictions,
    paired_interval,
    rank_average,
    undefined_counts,
)
from fewshot.analysis.ranking import tau_difference_interval
from fewshot.correlation import kendall_tau


def test_rank_average_by_hand():
    assert rank_average([[1, 2, 3], [3, 2, 1]]).tolist() == [2.0, 2.0, 2.0]
    assert rank_average([[5, 5, 9]]).tolist() == [1.5, 1.5, 3.0]  # ties share their rank
    assert rank_average([[5, np.nan, 3]]).tolist() == [3.0, 1.0, 2.0]  # NaN ranks lowest


def test_free_predictions_add_votes_only_when_their_metrics_are_there():
    proxies = {"synflow": [3, 1, 2], "jacob_cov": [3, 2, 1], "snip": [1, 2, 3]}
    out = free_predictions({"convs": [2, 0, 1]}, proxies)
    assert list(out) == ["convs", "synflow", "jacob_cov", "snip", "vote"]
    assert out["vote"].tolist() == pytest.approx([7 / 3, 5 / 3, 2.0])
    assert list(free_predictions({"convs": [2, 0, 1]}, {"params": [1, 2, 3]})) == [
        "convs", "params"]  # fmt: skip
    undefined = {"naswot": [1.0, np.inf, 2.0], "snip": [np.nan, 5.0, 6.0]}
    out = free_predictions({}, undefined)  # an undefined value ranks lowest
    assert out["naswot"][1] < 1.0 and out["snip"][0] < 5.0
    assert undefined_counts(undefined) == {"naswot": 1, "snip": 1}
    with pytest.raises(ValueError, match="no finite value"):
        free_predictions({}, {"naswot": [np.nan, np.nan]})


def test_baseline_quality_is_the_studys_measures():
    true = np.arange(20, dtype=float)
    quality = baseline_quality(true[::-1], true)  # perfectly backwards
    assert quality["kendall_tau"] == pytest.approx(-1.0)
    assert quality["picked_accuracy"] == 0.0 and quality["regret_top10"] == 10.0
    assert quality["kendall_tau_top10pct"] == pytest.approx(-1.0) and "per_leaf" not in quality


def _data(seed: int = 0, seeds: int = 3, archs: int = 30):
    rng = np.random.default_rng(seed)
    true = rng.normal(size=archs)
    arm = true + rng.normal(scale=1.0, size=(seeds, archs))
    base = true + rng.normal(scale=0.5, size=archs)
    return true, arm, base


def test_shared_resamples_give_tau_difference_intervals_exactly():
    true, arm, base = _data()
    reference = tau_difference_interval(arm, [base] * 3, true, n_resamples=200, seed=4,
                                         resample_seeds=True)  # fmt: skip
    replicates = bootstrap_taus({"a": arm, "b": base}, true, seeds=3, resamples=200, seed=4,
                                resample_seeds=True)  # fmt: skip
    point = (float(np.mean([kendall_tau(r, true) for r in arm])), kendall_tau(base, true))
    mine = paired_interval(replicates, "a", "b", point)
    assert mine.estimate == pytest.approx(reference.estimate)
    assert (mine.low, mine.high) == pytest.approx((reference.low, reference.high))


def test_arms_against_baselines_and_the_verdict():
    true, arm, base = _data(seeds=2, archs=40)
    perfect = np.vstack([true, true])
    out = arms_against_baselines(
        {"noisy": arm, "same": np.vstack([base, base]), "perfect": perfect},
        {"base": base}, true, resamples=200, seed=0,
    )  # fmt: skip
    same = out["same"]["base"]
    assert same["estimate"] == same["low"] == same["high"] == 0.0  # paired: identical cancels
    assert out["perfect"]["base"]["low"] > 0
    assert out["noisy"]["base"]["estimate"] < 0  # noise 1.0 ranks worse than noise 0.5
    verdict = beaten_by(out)
    assert verdict["perfect"]["beats"] == ["base"] and verdict["same"]["ties"] == ["base"]
    with pytest.raises(ValueError, match="different numbers of seeds"):
        arms_against_baselines({"a": arm, "b": arm[:1]}, {"base": base}, true, resamples=100)


def test_tables_say_nothing_without_a_block_and_every_baseline_with_one():
    assert baseline_rows({}) == [] and free_baselines_text({}) == ""
    true, arm, base = _data(archs=12)
    quality = baseline_quality(base, true)
    interval = {"estimate": -0.1, "low": -0.2, "high": 0.05, "confidence": 0.95}
    result = {
        "sample": {"archs": ["a"] * 12},
        KEY: {
            "settings": {"description": "nb201 C=16 N=5", "convs": "convolutions"},
            "bootstrap": {"resamples": 100, "resample_seeds": False},
            "baselines": {"convs": {"predicted": list(base), "quality": quality}},
            "tau_difference": {"one-shot": {"convs": interval}},
        },
    }
    assert baseline_rows(result) == [("free: convs", quality)]
    text = free_baselines_text(result)
    assert "same 12 archs" in text and "| one-shot | -0.100 [-0.200, +0.050] |" in text
