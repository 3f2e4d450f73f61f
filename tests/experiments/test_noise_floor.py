"""The noise-floor command: it reads two budget-study results files and writes the table."""

from __future__ import annotations

import json

import pytest

from fewshot.experiments.noise_floor import main

TRUE = [float(i) for i in range(1, 11)]


def _study(path, predictions, threads, *, steps=16000, archs=None):
    """A ranking_budget results file with one regime, one budget and the given seeds."""
    seeds = {s: {"predicted": p, "train_s": 200.0 + int(s)} for s, p in predictions.items()}
    path.write_text(json.dumps({
        "format": "fewshot.ranking_budget", "config": {"threads": threads, "device": "cpu"},
        "sample": {"archs": archs or [f"a{i}" for i in range(10)], "accuracy": TRUE},
        "regimes": {"px8-c4-n1-full": {
            "sensitivity": {"chosen": {"calib_batches": 16, "held_out": 2000}},
            "budgets": {str(steps): {"seeds": seeds}}}},
    }))  # fmt: skip
    return path


def test_noise_floor_reads_runs_and_repeats_and_writes_the_table(tmp_path, capsys):
    runs = _study(tmp_path / "t1.json", {"0": TRUE, "1": TRUE[::-1], "2": TRUE}, 1)
    again = _study(tmp_path / "t2.json", {"0": TRUE[::-1]}, 2)
    out = tmp_path / "noise.json"
    assert main(["--runs", str(runs), "--again", str(again), "--results", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["runs"]["threads"] == 1 and result["again"]["threads"] == 2
    assert result["summary"]["kendall_tau"]["mean"] == pytest.approx(1 / 3)
    assert result["repeats"]["0"]["difference"] == pytest.approx(2.0)
    assert result["repeats"]["0"]["agreement"] == pytest.approx(-1.0)
    assert result["predicted"]["1"] == TRUE[::-1]
    table = (tmp_path / "noise_table.md").read_text()
    assert "| 0 (repeat) | 2 | -1.000 |" in table
    assert "unpaired" in capsys.readouterr().out


def test_noise_floor_refuses_another_sample_and_a_missing_budget(tmp_path, capsys):
    runs = _study(tmp_path / "t1.json", {"0": TRUE, "1": TRUE}, 1)
    other = _study(tmp_path / "t2.json", {"0": TRUE}, 2, archs=[f"b{i}" for i in range(10)])
    out = str(tmp_path / "noise.json")
    assert main(["--runs", str(runs), "--again", str(other), "--results", out]) == 2
    assert "another arch sample" in capsys.readouterr().err
    assert main(["--runs", str(runs), "--steps", "8000", "--results", out]) == 2
    assert "no budget 8000" in capsys.readouterr().err
    assert main(["--runs", str(tmp_path / "none.json"), "--results", out]) == 2
