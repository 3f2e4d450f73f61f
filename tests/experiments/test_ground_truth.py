"""The same-regime ground truth: sub-sample, taus, end to end on a tiny budget document."""

from __future__ import annotations

import json

import numpy as np
import pytest

from fewshot.errors import UsageError
from fewshot.experiments.ground_truth import (
    main,
    sample_archs,
    sub_sample,
    summarise,
    supernet_predictions,
)
from fewshot.spaces.nb201 import Arch, all_archs


def _budget(n: int = 12) -> dict:
    archs = [a for a in list(all_archs())[::997] if a.is_connected][:n]
    accuracy = list(np.linspace(50, 90, len(archs)))
    predicted = {
        "0": list(np.linspace(40, 60, len(archs))),
        "1": list(np.linspace(60, 40, len(archs))),
    }
    seeds = {s: {"kendall_tau": 0.0, "predicted": p} for s, p in predicted.items()}
    return {
        "sample": {"archs": [a.to_string() for a in archs], "accuracy": accuracy,
                   "indices": list(range(len(archs)))},
        "regimes": {"px8-c2-n1-subset": {"budgets": {"5": {"seeds": seeds}, "10": {"seeds": seeds}}}},
    }  # fmt: skip


def test_the_sample_is_read_in_the_budget_studys_space():
    budget = _budget()
    archs = sample_archs(budget, [0, 2], "nb201")  # a study saved before --space: NB201
    assert [a.to_string() for a in archs] == [budget["sample"]["archs"][p] for p in (0, 2)]
    budget["config"] = {"space": "nas-bench-macro"}
    with pytest.raises(UsageError, match="searched space 'nas-bench-macro', not 'nb201'"):
        sample_archs(budget, [0], "nb201")


def test_sub_sample_is_stratified_and_predictions_follow_the_positions():
    budget = _budget()
    positions = sub_sample(budget, 6, 0)
    assert len(set(positions)) == 6 and positions == sub_sample(budget, 6, 0)
    steps, predictions = supernet_predictions(budget, "px8-c2-n1-subset", None, positions)
    assert steps == 10  # the largest budget by default
    seed1 = budget["regimes"]["px8-c2-n1-subset"]["budgets"]["10"]["seeds"]["1"]["predicted"]
    assert predictions["1"] == [seed1[p] for p in positions]
    with pytest.raises(UsageError, match="no regime"):
        supernet_predictions(budget, "px9-c1-n1-x", None, positions)
    with pytest.raises(UsageError, match="exceeds"):
        sub_sample(budget, 99, 0)


def test_the_two_taus_separate_regime_and_weight_sharing():
    nats = np.array([1.0, 2.0, 3.0, 4.0])
    trained = [{"val_acc": v, "test_acc": v} for v in (4.0, 3.0, 2.0, 1.0)]  # regime reverses
    summary = summarise(nats, trained, {"0": [4.0, 3.0, 2.0, 1.0]})  # supernet = regime
    assert summary["tau_standalone_vs_nats"] == pytest.approx(-1.0)
    assert summary["supernet"]["0"]["tau_supernet_vs_standalone"] == pytest.approx(1.0)
    assert summary["tau_supernet_vs_nats_mean"] == pytest.approx(-1.0)


def test_tiny_ground_truth_end_to_end(tmp_path, shared_data, capsys):
    subset = shared_data / "cifar10-subset"
    if not subset.is_dir():
        pytest.skip("the CIFAR-10 subset is absent")
    (tmp_path / "budget.json").write_text(json.dumps(_budget()))
    argv = ["--regime", "px8-c2-n1-subset", "--data-roots", f"subset={subset}",
            "--budget-results", str(tmp_path / "budget.json"), "--archs", "3", "--epochs", "1",
            "--out", str(tmp_path / "gt"), "--results", str(tmp_path / "docs" / "gt.json"),
            "--threads", "1", "--no-progress", "--batch-size", "256"]  # fmt: skip
    assert main(argv) == 0
    result = json.loads((tmp_path / "docs" / "gt.json").read_text())
    assert len(result["archs"]) == 3 and result["supernet_steps"] == 10
    assert all(Arch.from_string(r["arch"]).is_connected for r in result["archs"])
    assert (tmp_path / "docs" / "gt.csv").read_text().count("\n") == 4
    written = (tmp_path / "gt" / "ground_truth.json").stat().st_mtime_ns
    capsys.readouterr()
    assert main(argv) == 0  # the same settings again: finished, nothing redone
    assert "already finished (same settings)" in capsys.readouterr().out
    assert (tmp_path / "gt" / "ground_truth.json").stat().st_mtime_ns == written
    # another budget compared reuses the standalone runs in the same folder
    assert main([*argv, "--steps", "5"]) == 0
    assert json.loads((tmp_path / "docs" / "gt.json").read_text())["supernet_steps"] == 5
