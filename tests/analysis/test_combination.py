"""Supernet + proxy: the rank average, the proxy filter and the supernet's pick, and the
paired intervals of each against the proxy alone."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from fewshot.analysis.baselines import bootstrap_statistics, bootstrap_taus
from fewshot.analysis.combination import (
    combination_study,
    combination_text,
    combine,
    combined_ranking,
    filter_tag,
    filtered_pick,
    filtered_tau,
    proxy_filter,
)
from fewshot.analysis.ranking import picked_index, top_fraction_tau
from fewshot.correlation import kendall_tau


def _data(seed: int = 0, seeds: int = 3, archs: int = 40):
    rng = np.random.default_rng(seed)
    true = rng.normal(size=archs)
    arm = true + rng.normal(scale=1.0, size=(seeds, archs))
    proxy = true + rng.normal(scale=0.5, size=archs)
    return true, arm, proxy


def test_rank_average_by_hand_and_of_a_ranking_with_itself():
    # ranks: supernet 1 2 3 4, proxy 4 3 1 2 -> means 2.5 2.5 2 3: arch 3 is the pick
    combined = combined_ranking([0.1, 0.2, 0.3, 0.4], [9.0, 8.0, 1.0, 2.0])
    assert combined.tolist() == [2.5, 2.5, 2.0, 3.0] and picked_index(combined) == 3
    x = np.random.default_rng(1).normal(size=25)
    assert combined_ranking(x, x).tolist() == stats.rankdata(x).tolist()
    assert kendall_tau(combined_ranking(x, x), x) == pytest.approx(1.0)


def test_the_filter_keeps_the_proxys_top_fraction_in_sample_order():
    proxy = [5.0, 1.0, 4.0, 2.0, 3.0]
    assert proxy_filter(proxy, 0.4).tolist() == [0, 2]
    assert proxy_filter(proxy, 0.5).tolist() == [0, 2, 4]  # ceil(2.5)
    assert proxy_filter(proxy, 0.1).tolist() == [0]  # at least one
    assert proxy_filter(proxy, 1.0).tolist() == [0, 1, 2, 3, 4]
    assert proxy_filter(np.arange(100.0), 0.1).tolist() == list(range(90, 100))  # not 11
    assert proxy_filter([1.0, 1.0, 0.0], 1 / 3).tolist() == [0]  # a tie at the cut: first
    with pytest.raises(ValueError, match="kept fraction"):
        proxy_filter(proxy, 0.0)


def test_the_supernet_picks_inside_the_filter_and_all_of_it_is_its_own_pick():
    supernet, proxy = [0.0, 9.0, 1.0, 0.0, 5.0], [5.0, 1.0, 4.0, 2.0, 3.0]
    assert filtered_pick(supernet, proxy, 0.4) == 2  # kept 0 and 2; the supernet prefers 2
    assert filtered_pick(supernet, proxy, 0.6) == 4  # kept 0, 2, 4
    true, arm, proxy = _data()
    for row in arm:
        assert filtered_pick(row, proxy, 1.0) == picked_index(row)
        assert filtered_tau(row, proxy, true, 1.0) == pytest.approx(kendall_tau(row, true))
    kept = proxy_filter(proxy, 0.25)
    assert filtered_tau(arm[0], proxy, true, 0.25) == pytest.approx(
        kendall_tau(arm[0][kept], true[kept]))  # fmt: skip


def test_bootstrap_statistics_draw_what_bootstrap_taus_draws():
    true, arm, proxy = _data(archs=20)
    by_taus = bootstrap_taus({"a": arm, "p": proxy}, true, seeds=3, resamples=50, seed=3,
                             resample_seeds=True)  # fmt: skip

    def tau(row, d):
        return kendall_tau(row[d], true[d])

    general = bootstrap_statistics({"a": (arm, tau), "p": (proxy, tau)}, true.size, seeds=3,
                                   resamples=50, seed=3, resample_seeds=True)  # fmt: skip
    assert np.array_equal(by_taus.seed_draws, general.seed_draws)
    for name in ("a", "p"):
        assert np.allclose(by_taus.taus[name], general.taus[name])
    with pytest.raises(ValueError, match="19 predictions for 20 archs"):
        bootstrap_statistics({"x": (arm[:, 1:], tau)}, true.size, seeds=3, resamples=10)


def test_point_values_are_the_direct_measures():
    true, arm, proxy = _data()
    out = combine(arm, proxy, true, fractions=(0.25,), resamples=100)
    values = out["values"]
    assert values["supernet"]["kendall_tau"] == pytest.approx(
        np.mean([kendall_tau(r, true) for r in arm]))  # fmt: skip
    assert values["proxy"]["kendall_tau"] == pytest.approx(kendall_tau(proxy, true))
    combined = [combined_ranking(r, proxy) for r in arm]
    assert values["rank_average"]["kendall_tau"] == pytest.approx(
        np.mean([kendall_tau(c, true) for c in combined]))  # fmt: skip
    assert values["rank_average"]["kendall_tau_top10pct"] == pytest.approx(
        np.mean([top_fraction_tau(c, true) for c in combined]))  # fmt: skip
    assert values["rank_average"]["picked_accuracy"] == pytest.approx(
        np.mean([true[picked_index(c)] for c in combined]))  # fmt: skip
    tag = filter_tag(0.25)
    assert values["proxy"][f"{tag}_picked_accuracy"] == true[picked_index(proxy)]
    assert values["supernet"][f"{tag}_picked_accuracy"] == pytest.approx(
        np.mean([true[filtered_pick(r, proxy, 0.25)] for r in arm]))  # fmt: skip
    assert out["per_seed"]["supernet"]["kendall_tau"] == pytest.approx(
        [kendall_tau(r, true) for r in arm])  # fmt: skip
    assert set(out["difference"]) == {"supernet", "rank_average"}


def test_intervals_contain_their_estimates_and_pair_the_same_resamples():
    true, arm, proxy = _data()
    out = combine(arm, proxy, true, fractions=(0.5,), resamples=200)
    for predictor, measures in out["difference"].items():
        for name in ("kendall_tau", f"{filter_tag(0.5)}_kendall_tau"):
            if name in measures:
                i = measures[name]
                assert i["low"] <= i["estimate"] <= i["high"], (predictor, name)
                assert i["estimate"] == pytest.approx(
                    out["values"][predictor][name] - out["values"]["proxy"][name])  # fmt: skip
    # a supernet that is the proxy adds nothing, on every resample: paired, exactly 0
    same = combine([proxy, proxy], proxy, true, fractions=(0.5,), resamples=100)
    for measures in same["difference"].values():
        for i in measures.values():
            assert i["estimate"] == i["low"] == i["high"] == 0.0


def test_a_perfect_supernet_adds_and_a_backwards_one_costs():
    true, _, proxy = _data()
    perfect = combine([true, true], proxy, true, fractions=(0.25,), resamples=200)
    d = perfect["difference"]
    assert d["rank_average"]["kendall_tau"]["low"] > 0  # averaging in the truth helps
    pick = f"{filter_tag(0.25)}_picked_accuracy"
    assert d["supernet"][pick]["low"] >= 0  # the best of the kept set is at least the proxy's
    assert perfect["values"]["supernet"][f"{filter_tag(0.25)}_kendall_tau"] == pytest.approx(1.0)
    backwards = combine([-true, -true], proxy, true, fractions=(0.25,), resamples=200)
    assert backwards["difference"]["rank_average"]["kendall_tau"]["high"] < 0
    assert backwards["difference"]["supernet"][pick]["estimate"] < 0


def test_the_study_and_its_tables_cover_every_arm_proxy_and_fraction():
    true, arm, proxy = _data(archs=30)
    study = combination_study({"one-shot": arm, "split": arm[::-1]},
                              {"naswot": proxy, "vote": -proxy}, true, fractions=(0.1, 0.5),
                              resamples=100)  # fmt: skip
    assert study["fractions"] == [0.1, 0.5] and study["bootstrap"]["resample_seeds"]
    assert set(study["arms"]) == {"one-shot", "split"}
    text = combination_text(study)
    rank_table, filter_table = text.split("Proxy filter")
    assert rank_table.count("| one-shot | naswot |") == 1
    assert filter_table.count("| split | vote |") == 2 and "| 10% |" in filter_table
    with pytest.raises(ValueError, match="differ in archs"):
        combine(arm, proxy[:-1], true)
