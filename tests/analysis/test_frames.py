"""Run folders as DataFrames (:mod:`fewshot.analysis.frames`): what the loaders read back."""

from __future__ import annotations

import json

import pytest
from scipy.stats import kendalltau

from fewshot.analysis.frames import load_curves, load_ranking, load_scores, load_search
from fewshot.errors import UsageError
from tests.conftest import REPO_ROOT


def test_the_ranking_study_gives_back_its_taus():
    """docs/training/ranking_compare.json: the tau of each (method, seed) computed from the
    flat frame equals the one the experiment saved."""
    path = REPO_ROOT / "docs" / "training" / "ranking_compare.json"
    saved = json.loads(path.read_text())["methods"]
    frame = load_ranking(path)
    assert len(frame) == frame.groupby(["seed", "method"]).ngroups * 100
    for (method, seed), group in frame.groupby(["method", "seed"]):
        tau = kendalltau(group["predicted"], group["true"])[0]
        assert tau == pytest.approx(saved[method]["seeds"][str(seed)]["kendall_tau"]), method


def test_missing_files_are_clear_errors(tmp_path):
    with pytest.raises(UsageError, match="run fewshot.score first"):
        load_scores(tmp_path)
    with pytest.raises(UsageError, match="run fewshot.train first"):
        load_search(tmp_path)
    with pytest.raises(UsageError, match="run fewshot.train first"):
        load_curves(tmp_path)
    (tmp_path / "r.json").write_text('{"format": "other"}')
    with pytest.raises(UsageError, match="not a few-shot vs one-shot"):
        load_ranking(tmp_path / "r.json")


def test_curves_keep_every_logged_epoch_of_every_job(tmp_path):
    for job, rows in {"2": [{"epoch": 1, "step": 5, "train_loss": 2.0}],
                      "10": [{"epoch": 1, "step": 5}, {"epoch": 2, "step": 10}],
                      "oneshot": [{"epoch": 1, "step": 5, "val_acc": 0.2}]}.items():  # fmt: skip
        folder = tmp_path / ("oneshot" if job == "oneshot" else f"leaves/{job}")
        folder.mkdir(parents=True)
        (folder / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    frame = load_curves(tmp_path)
    assert frame["job"].tolist() == ["2", "10", "10", "oneshot"]  # leaves by id, then one-shot
    assert frame["step"].tolist() == [5, 5, 10, 5]
