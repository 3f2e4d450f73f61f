"""Evaluation of a refined subspace (tiny Lightning run) and the initial-sample analysis CLI."""

from __future__ import annotations

import json

import numpy as np
import yaml

from fewshot.analysis.refinement import kendall_matrix, log_scores, tertile_labels, tertile_trees
from fewshot.refine.analyse import main as analyse_main
from fewshot.refine.evaluate import main as evaluate_main
from fewshot.spaces.anynet import hyperparameter_names
from tests.outputs import assert_lists_outputs


def test_evaluate_trains_the_top_candidate_and_the_baseline(refined_run, capsys):
    run = refined_run
    argv = [str(run), "--candidates", "2", "--epochs", "1", "--batch-size", "16",
            "--limit-train-batches", "2", "--milestones", "1", "--dataset", "synthetic",
            "--data-option", "num_train=64", "--data-option", "num_test=32",
            "--score-batch-size", "8", "--threads", "1", "--no-progress"]  # fmt: skip
    assert evaluate_main(argv) == 0
    result = json.loads((run / "eval" / "evaluation.json").read_text())
    assert len(result["candidates"]) == 2
    best = max(result["candidates"], key=lambda r: r["score"])
    assert result["top"]["hyperparameters"] == best["hyperparameters"]
    for name in ("top", "baseline"):
        assert 0 <= result[name]["test_acc"] <= 1 and result[name]["epochs"] == 1
    saved = yaml.safe_load((run / "eval" / "evaluation_config.yaml").read_text())
    assert saved["epochs"] == 1 and saved["candidates"] == 2 and saved["out"] == "."
    assert saved["resolved_data_path"] == "tensor"
    files = [run / "eval" / "evaluation.json", run / "eval" / "evaluation_config.yaml"]
    assert_lists_outputs(capsys.readouterr().out, files)
    written = (run / "eval" / "evaluation.json").stat().st_mtime_ns
    assert evaluate_main(argv) == 0  # the same settings again: finished, nothing trained
    assert "already finished (same settings)" in capsys.readouterr().out
    assert (run / "eval" / "evaluation.json").stat().st_mtime_ns == written
    changed = list(argv)
    changed[changed.index("--epochs") + 1] = "2"
    assert evaluate_main(changed) == 2  # other result-affecting settings: refused, named
    assert "epochs" in capsys.readouterr().err


def test_analyse_cli_scores_once_and_reports_correlations_and_trees(tmp_path, capsys):
    out = tmp_path / "initial"
    argv = ["--predictors", "synflow,snip,jacov", "--samples", "9", "--dataset", "synthetic",
            "--batch-size", "4", "--flops-range", "2e6,12e6", "--threads", "1",
            "--no-progress", "--out", str(out)]  # fmt: skip
    assert analyse_main(argv) == 0
    result = json.loads((out / "analysis.json").read_text())
    assert result["predictors"] == ["synflow", "snip", "jacob_cov"] and result["nets"] == 9
    tau = np.array(result["kendall"])
    assert tau.shape == (3, 3) and np.allclose(np.diag(tau), 1) and np.allclose(tau, tau.T)
    assert (out / "figures" / "kendall.png").is_file()
    files = [out / "analysis.json", out / "trees.txt", out / "samples" / "iter0.jsonl"]
    assert_lists_outputs(capsys.readouterr().out, files, [out / "figures" / "kendall.png"])
    rows = (out / "samples" / "iter0.jsonl").read_text().splitlines()
    assert len(rows) == 9 and all(len(json.loads(r)["scores"]) == 3 for r in rows)


def test_analysis_functions_on_known_data():
    rng = np.random.default_rng(0)
    x = rng.lognormal(size=60)
    assert np.allclose(log_scores(x), np.log(x))
    assert np.allclose(log_scores([-np.e + 1, 0.0, np.e - 1]), [-1, 0, 1])
    tau = kendall_matrix(np.stack([x, 2 * x, -x], 1))
    assert np.allclose(tau, [[1, 1, -1], [1, 1, -1], [-1, -1, 1]])
    assert np.bincount(tertile_labels(x)).tolist() == [20, 20, 20]
    names = hyperparameter_names(3)
    values = np.column_stack(
        [rng.integers(1, 17, 60)] * 3 + [2 ** rng.integers(0, 10, 60)] * 6 + [np.ones(60)] * 3
    )
    trees = tertile_trees(values, names, values[:, [0]].astype(float), ["d"], depth=2)
    assert trees[0].train_accuracy > 0.9 and max(
        trees[0].importances, key=trees[0].importances.get
    ) in {"d1", "d2", "d3"}
