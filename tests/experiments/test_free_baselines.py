"""``python -m fewshot.experiments.free_baselines``: free baselines added to a study's result
JSON on its own sample, scored once (cached), its table rewritten; the two result formats."""

from __future__ import annotations

import json

import numpy as np
import pytest

from fewshot.analysis.baselines import KEY
from fewshot.errors import UsageError
from fewshot.experiments.free_baselines import main, study_arms
from fewshot.spaces import get_space

PROXY_FLAGS = ["--dataset", "synthetic", "--C", "4", "--N", "1", "--batch-size", "8",
               "--resamples", "100", "--threads", "1", "--no-progress"]  # fmt: skip


def _budget_result(n: int = 10) -> dict:
    """A ranking_budget result of ``n`` connected archs, two seeds of one budget."""
    rng = np.random.default_rng(0)
    space = get_space()
    archs = [a for a in (space.sample(None, rng) for _ in range(40)) if a.is_valid][:n]
    true = [float(space.num_parametric(a)) + float(rng.uniform()) for a in archs]
    seeds = {str(s): {"predicted": list(rng.normal(size=n))} for s in range(2)}
    budget = {"seeds": seeds, "kendall_tau_mean": 0.1, "kendall_tau_sd": 0.01,
              "kendall_tau_top10pct_mean": None, "picked_accuracy_mean": 90.0,
              "train_s_mean": 1.0}  # fmt: skip
    regime = {"train_images": 640, "budgets": {"100": budget},
              "sensitivity": {"steps": 100, "kendall_tau": {"c1-h50": 0.1},
                              "chosen": {"calib_batches": 1, "held_out": 50}}}  # fmt: skip
    return {"format": "fewshot.ranking_budget", "config": {"batch_size": 64},
            "sample": {"archs": [a.to_string() for a in archs], "indices": list(range(n)),
                       "accuracy": true},
            "regimes": {"px8-c4-n1-full": regime}}  # fmt: skip


def test_arms_of_both_result_formats():
    arms, by_seed = study_arms(_budget_result())
    assert list(arms) == ["px8-c4-n1-full 100"] and len(arms["px8-c4-n1-full 100"]) == 2
    assert not by_seed
    few = {"format": "fewshot.few_vs_one_shot", "config": {"bootstrap_seeds": True},
           "predictions": {"1": {"one-shot": [1, 2]}, "0": {"one-shot": [3, 4]}}}  # fmt: skip
    assert study_arms(few) == ({"one-shot": [[3, 4], [1, 2]]}, True)
    with pytest.raises(UsageError, match="not a ranking-study result"):
        study_arms({"format": "fewshot.search"})


def test_baselines_are_added_scored_once_and_a_changed_spec_is_refused(tmp_path, capsys):
    path = tmp_path / "budget.json"
    path.write_text(json.dumps(_budget_result()))
    argv = ["--results", str(path), "--out", str(tmp_path / "cache"), *PROXY_FLAGS,
            "--csv", str(tmp_path / "per_arch.csv")]  # fmt: skip
    assert main(argv) == 0
    result = json.loads(path.read_text())
    block = result[KEY]
    assert list(block["baselines"]) == ["convs", "nonlinear", "params", "flops", "synflow",
                                        "naswot", "jacob_cov", "snip", "vote",
                                        "vote+naswot"]  # fmt: skip
    convs = [get_space().num_parametric(get_space().Arch.from_string(a))
             for a in result["sample"]["archs"]]  # fmt: skip
    assert block["baselines"]["convs"]["predicted"] == convs
    nonlinear = [get_space().nonlinear_count(get_space().Arch.from_string(a))
                 for a in result["sample"]["archs"]]  # fmt: skip
    assert block["baselines"]["nonlinear"]["predicted"] == nonlinear
    assert set(block["tau_difference"]["px8-c4-n1-full 100"]) == set(block["baselines"])
    assert block["settings"]["C"] == 4 and block["settings"]["batches"] == 1
    table = (tmp_path / "budget_table.md").read_text()
    assert "| free: naswot |" in table and "minus each baseline" in table
    assert len((tmp_path / "per_arch.csv").read_text().splitlines()) == 11
    scores = tmp_path / "cache" / "scores.csv"
    stamp = scores.stat().st_mtime_ns
    assert main(argv) == 0  # cached: nothing scored again, the same block
    assert scores.stat().st_mtime_ns == stamp
    assert json.loads(path.read_text())[KEY] == block
    capsys.readouterr()
    assert main([*argv, "--seed", "1"]) == 2  # the cache was scored with seed 0
    err = capsys.readouterr().err
    assert "scored with other settings (seed)" in err and len(err.strip().splitlines()) == 1


def test_no_results_is_one_line(capsys):
    assert main([]) == 2
    assert "give --results" in capsys.readouterr().err
