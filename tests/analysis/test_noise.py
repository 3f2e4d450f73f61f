"""The noise floor's numbers: spread, agreement, repeats and the seeds a comparison needs."""

from __future__ import annotations

import math

import numpy as np
import pytest

from fewshot.analysis.noise import (
    comparison_precision,
    noise_floor,
    paired_sd,
    pairwise_agreement,
    repeat_rms,
    seeds_for_half_width,
    spread,
)
from fewshot.correlation import kendall_tau


def test_spread_is_the_mean_sd_and_t_interval_of_the_defined_values():
    s = spread([1.0, 2.0, None, 3.0])
    assert (s["n"], s["mean"], s["sd"], s["min"], s["max"]) == (3, 2.0, 1.0, 1.0, 3.0)
    # t(0.975, 2) = 4.3027; half-width 4.3027 / sqrt(3)
    assert s["half_width"] == pytest.approx(4.30265 / math.sqrt(3), abs=1e-4)
    assert s["ci95"] == pytest.approx([2.0 - s["half_width"], 2.0 + s["half_width"]])
    one = spread([0.4])
    assert (one["mean"], one["sd"], one["ci95"]) == (0.4, None, None)


def test_seeds_for_half_width_paired_by_hand():
    # paired, sd 1: n=4 gives t(3)/2 = 1.591, n=5 gives t(4)/sqrt(5) = 1.242
    assert seeds_for_half_width(1.0, 1.3, paired=True) == 5
    assert seeds_for_half_width(1.0, 1.6, paired=True) == 4
    assert seeds_for_half_width(0.0, 0.05, paired=True) == 2


def test_seeds_for_half_width_unpaired_needs_twice_the_variance():
    # unpaired, sd 1: n=2 gives t(2) * 1 = 4.303, n=3 gives t(4) sqrt(2/3) = 2.267
    assert seeds_for_half_width(1.0, 2.3, paired=False) == 3
    # large n: about 2 (1.96 sd / target)^2 = 30.7 for sd 0.1, target 0.05; t adds one or two
    assert 31 <= seeds_for_half_width(0.1, 0.05, paired=False) <= 33
    with pytest.raises(ValueError):
        seeds_for_half_width(0.1, 0.0, paired=False)


def test_paired_sd_and_repeat_rms():
    assert paired_sd(0.1, 0.0) == pytest.approx(0.1 * math.sqrt(2))
    assert paired_sd(0.1, 1.0) == 0.0
    assert repeat_rms([0.3, -0.4]) == pytest.approx(math.sqrt(0.125))
    assert repeat_rms([]) is None


def test_pairwise_agreement_is_kendall_tau_between_runs():
    up, down = [1.0, 2.0, 3.0, 4.0], [4.0, 3.0, 2.0, 1.0]
    a = pairwise_agreement({"0": up, "1": up, "2": down})
    assert a["pairs"] == pytest.approx({"0-1": 1.0, "0-2": -1.0, "1-2": -1.0})
    assert a["mean"] == pytest.approx(-1 / 3)


def test_noise_floor_per_seed_summary_and_repeats():
    true = [float(i) for i in range(1, 11)]
    runs = {"0": true, "1": true[::-1]}
    # seed 0 again with the two worst archs swapped: one discordant pair of 45
    again = {"0": [2.0, 1.0, *true[2:]]}
    out = noise_floor(runs, true, again=again)
    assert out["per_seed"]["0"] == pytest.approx(
        {"kendall_tau": 1.0, "kendall_tau_top10pct": 1.0, "picked_accuracy": 10.0}
    )
    assert out["per_seed"]["1"]["picked_accuracy"] == 1.0
    tau = out["summary"]["kendall_tau"]
    assert (tau["mean"], tau["sd"]) == pytest.approx((0.0, math.sqrt(2)))
    assert out["agreement"]["pairs"] == pytest.approx({"0-1": -1.0})
    rep = out["repeats"]["0"]
    assert rep["kendall_tau_again"] == pytest.approx(43 / 45)
    # the top 3 archs (at least 3 in the top 10%) keep their order
    assert (rep["picked_accuracy_again"], rep["kendall_tau_top10pct_again"]) == pytest.approx(
        (10, 1)
    )
    assert rep["difference"] == pytest.approx(2 / 45)
    assert rep["agreement"] == pytest.approx(43 / 45)
    need = out["seeds_needed"]
    assert need["repeat_rms"] == pytest.approx(2 / 45)
    assert need["unpaired"] > need["paired"]["repeat_rms"]


def test_noise_floor_refuses_runs_of_another_length():
    with pytest.raises(ValueError, match="predict the 3 archs"):
        noise_floor({"0": [1.0, 2.0]}, [1.0, 2.0, 3.0])


def test_comparison_precision_of_identical_arms_is_exact():
    """Two arms with the same predictions differ by 0 at every seed: every interval is a point
    and two seeds already meet any target."""
    rng = np.random.default_rng(0)
    true = rng.uniform(0, 1, 40)
    runs = [true + rng.normal(0, 0.5, 40) for _ in range(4)]
    out = comparison_precision(runs, runs, true, resamples=200)
    assert out["per_seed"] == [0.0] * 4
    assert out["seeds"]["sd"] == 0 and out["seeds_needed"] == 2 and out["met"]
    assert out["seeds_and_archs"]["half_width"] == 0 == out["archs_only"]["half_width"]


def test_comparison_precision_per_seed_differences_and_seeds_needed():
    """A perfect ranker against noisy ones: the per-seed differences are 1 - tau(noisy), the
    seeds needed follow the paired t rule at their sd, and a loose target is met while a tight
    one is not; the seeds-and-archs interval is no narrower than the archs-alone one here."""
    rng = np.random.default_rng(1)
    true = rng.uniform(0, 1, 60)
    noisy = [true + rng.normal(0, s, 60) for s in (0.2, 0.4, 0.8, 0.3, 0.6)]
    perfect = [true] * 5
    out = comparison_precision(perfect, noisy, true, target=0.5, resamples=300)
    expected = [1 - kendall_tau(n, true) for n in noisy]
    assert np.allclose(out["per_seed"], expected)
    sd = float(np.std(expected, ddof=1))
    assert out["seeds"]["sd"] == pytest.approx(sd)
    assert out["seeds_needed"] == seeds_for_half_width(sd, 0.5, paired=True)
    assert out["met"]
    tight = comparison_precision(perfect, noisy, true, target=0.01, resamples=300)
    assert not tight["met"] and tight["seeds_needed"] > 5
    assert out["seeds_and_archs"]["half_width"] >= out["archs_only"]["half_width"] * 0.8
