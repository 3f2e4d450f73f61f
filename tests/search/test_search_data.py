"""Oracle, proxy tables, statistics, leaves, the filter pipeline and the figure."""

from __future__ import annotations

import numpy as np
import pytest

from fewshot.benchmark import BenchmarkNotFoundError
from fewshot.errors import UsageError
from fewshot.scoring import ScoreFile, ScoreRow
from fewshot.search.algorithms import AlgoSettings
from fewshot.search.experiment import run_search
from fewshot.search.leaves import LeafSearch, random_tree_masks
from fewshot.search.oracle import Oracle
from fewshot.search.pipeline import filter_candidates, filter_on_benchmark, percentiles
from fewshot.search.proxy import ProxyTable
from fewshot.search.run import curve, models_to_target, run_searcher, summarise
from fewshot.spaces.nb201 import Arch, Mask
from tests.search.search_fakes import SMALL_OPS, known_quality


def test_oracle_reads_benchmark_and_records_selection(small_benchmark):
    c10 = Oracle.from_benchmark(small_benchmark, "cifar10")
    assert c10.selection == "validation" and len(c10) == 64
    forced = Oracle.from_benchmark(small_benchmark, "cifar10", select="test")
    assert forced.selection == "test"
    np.testing.assert_array_equal(forced.select_acc, forced.report_acc)
    c100 = Oracle.from_benchmark(small_benchmark, "cifar100")
    assert c100.selection == "test"
    np.testing.assert_array_equal(c100.select_acc, c100.report_acc)
    arch = Arch(("nor_conv_3x3",) * 6)
    i = c10.index(arch)
    assert c10.report_acc[i] == pytest.approx(80.0 + known_quality(arch))
    assert c10.select_acc[i] == pytest.approx(78.0 + known_quality(arch))
    nb = c10.neighbours[i]  # only the 6 neighbours inside the two-op space exist
    assert (nb >= 0).sum() == 6


def test_oracle_errors(tmp_path, small_benchmark):
    with pytest.raises(BenchmarkNotFoundError, match="directory not found"):
        Oracle.from_benchmark(tmp_path / "missing", "cifar10")
    with pytest.raises(BenchmarkNotFoundError, match="not a benchmark directory"):
        Oracle.from_benchmark(tmp_path, "cifar10")
    with pytest.raises(UsageError, match="unknown benchmark data set"):
        Oracle.from_benchmark(small_benchmark, "mnist")


def test_curve_selects_on_validation_and_reports_test():
    ops = np.array([[0, 0, 0, 0, 0, k] for k in range(4)])
    oracle = Oracle(ops, [1.0, 3.0, 2.0, 3.0], [10.0, 5.0, 99.0, 7.0], "x", "validation")
    np.testing.assert_array_equal(curve(oracle, np.array([0, 2, 1, 3])), [10, 99, 5, 5])


def test_summary_statistics():
    curves = np.tile(np.arange(1, 101, dtype=float), (4, 1))
    curves[1] -= 10  # reaches 73 ten models later
    curves[3] = 50.0  # never reaches it
    steps = models_to_target(curves, 73.0)
    np.testing.assert_array_equal(steps, [73, 83, 73, 101])
    s = summarise(curves, 73.0)
    assert s["acc_at_50"]["median"] == 50.0
    assert s["models_to_target"]["median"] == 78.0
    assert s["models_to_target"]["reached"] == 3
    never = summarise(np.full((3, 60), 1.0), 73.0)
    assert never["models_to_target"]["median"] is None
    assert never["models_to_target"]["median_text"] == ">60"


def _write_scores(path, oracle, values, name="synflow"):
    store = ScoreFile(path, [name])
    for i, v in values.items():
        store.append(ScoreRow(oracle.arch(i).to_string(), i, {name: v}, 0.1))


def test_proxy_table_loads_csv_and_caches_on_demand_values(tmp_path, full_oracle):
    _write_scores(tmp_path / "scores.csv", full_oracle, {0: 1.5, 1: 2.5})
    calls = []

    def scorer(archs):
        calls.append(len(archs))
        return [float(full_oracle.index(a)) for a in archs]

    cache = tmp_path / "cache.csv"
    table = ProxyTable("synflow", full_oracle, scorer=scorer, cache=cache)
    assert table.load_csv(tmp_path / "scores.csv") == 2
    np.testing.assert_array_equal(table.get([0, 1, 7, 9, 7]), [1.5, 2.5, 7.0, 9.0, 7.0])
    assert calls == [2] and table.computed == 2
    again = ProxyTable("synflow", full_oracle, cache=cache)  # reads the cached values back
    np.testing.assert_array_equal(again.get([7, 9]), [7.0, 9.0])
    with pytest.raises(UsageError, match="no 'snip' column"):
        ProxyTable("snip", full_oracle).load_csv(tmp_path / "scores.csv")


def test_failed_proxy_values_rank_last(full_oracle):
    values = np.arange(len(full_oracle), dtype=float)
    values[-1] = np.nan
    table = ProxyTable.from_values("synflow", full_oracle, values)
    assert table.rank_key([len(full_oracle) - 1])[0] == -np.inf


def test_leaf_search_mutations_stay_inside_leaf_masks(full_oracle, full_proxy):
    rng = np.random.default_rng(0)
    masks = random_tree_masks(3, 2, rng)
    assert len(masks) == 8 and sum(m.num_archs for m in masks) == 15625
    for choice in ("results", "uniform"):
        search = LeafSearch(full_oracle, masks, rng, AlgoSettings(), choice=choice)
        for _ in range(200):
            i = search.propose()
            arch = full_oracle.arch(i)
            assert any(arch in m for m in masks)
            assert arch in masks[search._leaf]
            search.observe(i, float(full_oracle.select_acc[i]))
        assert min(search.count.values()) >= 64 // 8  # every leaf got its first population


def test_leaf_choice_proxy_searches_the_best_leaf_only(full_oracle, full_proxy):
    good = Mask.full().restrict(0, ["nor_conv_3x3"])
    bad = Mask.full().restrict(0, ["none", "skip_connect", "nor_conv_1x1", "avg_pool_3x3"])
    search = LeafSearch(
        full_oracle, [bad, good], np.random.default_rng(0), AlgoSettings(), choice="proxy",
        proxy=full_proxy,
    )  # fmt: skip
    trained = run_searcher(search, full_oracle, 120)
    assert all(full_oracle.arch(i) in good for i in trained)
    assert search.stats[1] > search.stats[0]


def test_run_search_across_a_tree_file(tmp_path, full_oracle):
    from fewshot.spaces.nb201 import OPS
    from fewshot.splitting.tree import Split, SplitTree

    tree = SplitTree(metric="snip", seed=0, dataset="synthetic")
    root = tree.add_root()
    groups = (("nor_conv_1x1", "nor_conv_3x3"), ("none", "skip_connect", "avg_pool_3x3"))
    distance = tuple(tuple(0.0 for _ in OPS) for _ in OPS)
    tree.apply_split(root.id, Split(0, OPS, groups, distance, cut=1.0))
    tree.complete = True
    path = tree.save(tmp_path / "tree.json")
    res = run_search("ae", full_oracle, AlgoSettings(), budget=80, repeats=2, tree=path)
    assert res.trained.shape == (2, 80)
    with pytest.raises(UsageError, match="runs aging evolution"):
        run_search("rl", full_oracle, AlgoSettings(), budget=5, repeats=1, tree=path)


def test_percentiles_and_filters():
    np.testing.assert_allclose(percentiles(np.array([3.0, 1.0, np.nan, 2.0])), [1, 1 / 3, 0, 2 / 3])
    a = np.array([5.0, 4.0, 3.0, 2.0, 1.0])
    b = np.array([1.0, 5.0, 4.0, 3.0, 2.0])
    c = np.array([5.0, 4.0, 1.0, 3.0, 2.0])
    rank = filter_candidates({"a": a, "b": b}, top_k=2, combine="rank")
    assert rank.kept.tolist() == [1, 2]  # mean percentile: 0.5, 0.875, 0.625, ...
    thr = filter_candidates({"a": a}, threshold=0.75)
    assert thr.kept.tolist() == [0, 1]
    vote = filter_candidates({"a": a, "b": b, "c": c}, top_k=2, combine="vote")
    assert vote.kept.tolist() == [1, 0]  # 1: three votes; 0: two votes (a, c)
    with pytest.raises(UsageError, match="exactly one of"):
        filter_candidates({"a": a}, top_k=2, threshold=0.5)
    with pytest.raises(UsageError, match="unknown combination"):
        filter_candidates({"a": a}, top_k=2, combine="max")


def test_filter_on_benchmark_beats_random_with_an_informative_proxy(full_oracle, full_proxy):
    report = filter_on_benchmark(
        full_oracle, {"synflow": full_proxy}, candidates=500, repeats=4, seed=0, top_k=10
    )
    assert report["kept_count"]["median"] == 10
    assert report["kept_best"]["median"] > report["random_same_count_best"]["median"]
    assert report["kept_best"]["median"] <= report["candidates_best"]["median"]


def test_search_figure(tmp_path):
    from fewshot.plotting.search import plot_search_curves
    from fewshot.search.run import curve_bands

    bands = {"ae": curve_bands(np.random.default_rng(0).random((5, 30)).cumsum(axis=1))}
    path = plot_search_curves(bands, tmp_path / "f.png", target=5.0)
    assert path.is_file() and path.stat().st_size > 1000


def test_small_space_ops_fixture_is_a_product_space(small_benchmark):
    oracle = Oracle.from_benchmark(small_benchmark, "cifar100")
    mask = Mask.from_op_lists([list(SMALL_OPS)] * 6)
    assert oracle.in_mask(mask).all()


def test_proxy_statistics(full_oracle, full_proxy):
    from fewshot.search.analysis import move_match_rate, top_k_in_top_fraction

    acc = full_oracle.report_acc
    assert top_k_in_top_fraction(acc, acc, k=64) == 64  # a perfect proxy
    assert top_k_in_top_fraction(-acc, acc, k=64) == 0
    perfect = move_match_rate(full_oracle, acc, acc, samples=100)
    assert perfect["match_rate"] == 1.0 and 0.03 < perfect["random_rate"] < 0.06
    noisy = move_match_rate(full_oracle, full_proxy.values, acc, samples=200)
    assert perfect["random_rate"] < noisy["match_rate"] < 1.0
