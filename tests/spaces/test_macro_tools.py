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


fvo_tool = load_tool("macro_fvo_report")


def _fvo_result(bench: MacroBenchmark, archs: list[str]) -> dict:
    """A few-vs-one-shot results JSON of 3 seeds and 2 methods on ``archs``."""
    rng = np.random.default_rng(0)
    true = [bench.accuracy(a) for a in archs]
    predictions = {
        str(s): {m: [t + rng.normal(scale=s + 1.0 + k) for t in true]
                 for k, m in enumerate(("one-shot", "snip-d1-inh"))}
        for s in range(3)
    }  # fmt: skip
    methods = {m: {"kendall_tau_mean": 0.0} for m in ("one-shot", "snip-d1-inh")}
    config = {"space": "nas-bench-macro", "sample_seed": 0, "bootstrap_seeds": True,
              "benchmark": str(bench.path)}  # fmt: skip
    return {"config": config, "sample": {"archs": archs, "accuracy": true},
            "methods": methods, "predictions": predictions}  # fmt: skip


def test_fvo_report_ranks_the_free_baselines_beside_the_methods(fake_macro_benchmark, tmp_path):
    from fewshot.correlation import kendall_tau

    bench = MacroBenchmark(fake_macro_benchmark)
    archs = sorted({str(bench.arch(i).canonical()) for i in range(0, 6561, 97)})[:30]
    result = _fvo_result(bench, archs)
    (tmp_path / "r.json").write_text(json.dumps(result))
    naswot = {a: float(i % 5) for i, a in enumerate(archs)}
    (tmp_path / "s.csv").write_text(
        "arch,naswot\n" + "".join(f"{a},{v}\n" for a, v in naswot.items())
    )
    out = tmp_path / "fb.md"
    argv = ["--results", str(tmp_path / "r.json"), "--scores", str(tmp_path / "s.csv"),
            "--proxies", "naswot", "--resamples", "100", "--out", str(out)]  # fmt: skip
    assert fvo_tool.main(argv) == 0
    written = json.loads(out.with_suffix(".json").read_text())
    values, true = written["values"], result["sample"]["accuracy"]
    assert values["params"] == [bench.param_count(a) for a in archs]
    assert values["inverted residuals"] == [
        MACRO.num_parametric(MACRO.parse_arch(a)) for a in archs
    ]
    assert values["naswot"] == [naswot[a] for a in archs]
    for name, entry in written["free_baselines"].items():
        own = entry["kendall_tau"]
        assert own["estimate"] == pytest.approx(kendall_tau(values[name], true))
        assert own["low"] <= own["estimate"] <= own["high"]
        for method in result["methods"]:
            taus = [kendall_tau(result["predictions"][s][method], true) for s in "012"]
            diff = entry["method_minus_baseline"][method]
            assert diff["estimate"] == pytest.approx(np.mean(taus) - own["estimate"])
    text = out.read_text()
    assert "over seeds and archs" in text and "| method | tau | - params |" in text


def test_fvo_report_refuses_another_space_and_missing_scores(
    fake_macro_benchmark, tmp_path, capsys
):
    bench = MacroBenchmark(fake_macro_benchmark)
    result = _fvo_result(bench, ["00000000", "22212220", "11100000"])
    (tmp_path / "s.csv").write_text("arch,naswot\n00000000,1\n")
    (tmp_path / "r.json").write_text(json.dumps(result))
    base = ["--results", str(tmp_path / "r.json"), "--out", str(tmp_path / "o.md")]
    assert fvo_tool.main([*base, "--scores", str(tmp_path / "s.csv"), "--proxies", "naswot"]) == 2
    assert "no scores of 2 sampled archs" in capsys.readouterr().err
    result["config"]["space"] = "nb201"
    (tmp_path / "r.json").write_text(json.dumps(result))
    assert fvo_tool.main(base) == 2
    assert "not a NAS-Bench-Macro comparison" in capsys.readouterr().err
