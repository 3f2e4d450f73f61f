"""tools/macro_sample.py and tools/macro_report.py on a fake NAS-Bench-Macro file."""

from __future__ import annotations

import json

import numpy as np
import pytest

from fewshot.spaces.macro import MACRO, MacroBenchmark
from tests.conftest import load_tool

sample_tool = load_tool("macro_sample")
report_tool = load_tool("macro_report")


def test_stratified_sample_draws_equally_from_equal_count_bins_round_robin():
    acc = np.random.default_rng(0).permutation(100).astype(float)
    picked = sample_tool.stratified_sample(acc, num=20, strata=4, seed=1)
    assert len(set(picked)) == 20
    bins = np.searchsorted([25, 50, 75], acc[picked], side="right")
    assert np.bincount(bins, minlength=4).tolist() == [5, 5, 5, 5]
    assert bins[:4].tolist() == [0, 1, 2, 3]  # one of each stratum in turn
    assert picked == sample_tool.stratified_sample(acc, num=20, strata=4, seed=1)
    assert picked != sample_tool.stratified_sample(acc, num=20, strata=4, seed=2)


def test_stratified_sample_gives_the_remainder_to_the_top_bins():
    acc = np.arange(30, dtype=float)
    picked = sample_tool.stratified_sample(acc, num=11, strata=3, seed=0)
    assert np.bincount(np.asarray(picked) // 10).tolist() == [3, 4, 4]
    with pytest.raises(ValueError, match="strata"):
        sample_tool.stratified_sample(acc, num=2, strata=3, seed=0)


def test_sample_file_holds_canonical_archs_only(fake_macro_benchmark, tmp_path):
    out = tmp_path / "sample.txt"
    assert sample_tool.main(["--num", "40", "--benchmark", str(fake_macro_benchmark),
                             "--out", str(out)]) == 0  # fmt: skip
    archs = [MACRO.parse_arch(line) for line in out.read_text().split()]
    assert len(set(archs)) == 40
    assert all(a == a.canonical() for a in archs)


def test_report_baselines_and_metric_rows(fake_macro_benchmark, tmp_path):
    bench = MacroBenchmark(fake_macro_benchmark)
    chosen = [bench.arch(i) for i in range(0, 600, 20)]
    folder = tmp_path / "score"
    folder.mkdir()
    rows = ["arch,index,params,noise,seconds,error"]
    rng = np.random.default_rng(0)
    for a in chosen:
        rows.append(f"{a},,{bench.param_count(a)},{rng.normal()},0.1,")
    (folder / "scores.csv").write_text("\n".join(rows) + "\n")
    out = tmp_path / "macro_scores.md"
    assert report_tool.main(["--scores", str(folder), "--benchmark", str(fake_macro_benchmark),
                             "--out", str(out)]) == 0  # fmt: skip
    result = json.loads(out.with_suffix(".json").read_text())
    by_metric = {r["metric"]: r for r in result["metrics"]}
    sample = result["samples"][0]
    # the CSV's params column is the benchmark's: the same tau as the free baseline
    assert by_metric["params"]["kendall"] == pytest.approx(sample["baselines_kendall"]["params"])
    assert by_metric["params"]["n"] == len(chosen)
    assert "all archs (6,561)" in result["baselines_kendall"]
    assert "| noise |" in out.read_text()


def test_report_judges_a_trees_leaves(fake_macro_benchmark, tmp_path):
    from fewshot.splitting.tree import Split, SplitTree

    tree = SplitTree(metric="snip", seed=0, dataset="synthetic", space=MACRO)
    tree.add_root()
    groups = (("id",), ("ir_3x3_t3", "ir_5x5_t6"))
    distance = ((0.0, 1.0, 2.0), (1.0, 0.0, 0.5), (2.0, 0.5, 0.0))
    tree.apply_split(0, Split(edge=2, ops=MACRO.ops, groups=groups, distance=distance, cut=3.0))
    path = tree.save(tmp_path / "tree.json")
    bench = MacroBenchmark(fake_macro_benchmark)
    result = report_tool.leaf_report(bench, path)
    leaves = result["leaves"]
    assert [leaf["size"] for leaf in leaves] == [2187, 4374]
    assert [leaf["ops"] for leaf in leaves] == ["L2:id", "L2:mb3k3/mb6k5"]
    acc = bench.accuracies()
    in_first = np.array([bench.arch(i).ops[2] == "id" for i in range(len(bench))])
    assert leaves[0]["mean"] == pytest.approx(acc[in_first].mean())
    assert sum(leaf["top"] for leaf in leaves) == result["top_count"]
    assert "### Leaves of" in report_tool.to_markdown({**report_tool.report(bench, []),
                                                      "tree": result})  # fmt: skip
