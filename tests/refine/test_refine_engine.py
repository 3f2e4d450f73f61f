"""The refinement loop: a depth-driven predictor narrows depth upwards; resume; files."""

from __future__ import annotations

import json

import pytest

from fewshot.errors import UsageError
from fewshot.metrics import ScoringData
from fewshot.refine.engine import RefineSettings, refine
from fewshot.refine.predictors import Scored, resolve_predictors, score_network

DATA = ScoringData.random(batch_size=4, num_batches=1, seed=0)
WIDE_FLOPS = (0, 10**12)


def depth_scorer(config):
    """A predictor that is a known function of depth: more blocks, higher score."""
    return Scored({"depth": float(sum(config.depths))})


def test_a_depth_predictor_drives_the_depth_interval_up(tmp_path):
    settings = RefineSettings(
        "depth", samples=60, initial_samples=80, iterations=4, flops_range=WIDE_FLOPS, draws=2000
    )
    record = refine(tmp_path, settings, DATA, scorer=depth_scorer, progress=False)
    first, last = record["iterations"][0], record["iterations"][-1]
    # log-uniform sampling: a random stage has median depth 4; the winners are deep
    assert all(first["intervals"][f"d{s}"]["median"] >= 8 for s in (1, 2, 3))
    for s in (1, 2, 3):  # the lower ends move up from 1: shallow stages are cut away
        assert last["intervals"][f"d{s}"]["low"] >= 5
    assert sum(last["intervals"][f"d{s}"]["median"] for s in (1, 2, 3)) >= 30
    sizes = [it["subspace_size"] for it in record["iterations"]]
    assert sizes == sorted(sizes, reverse=True) and sizes[-1] < sizes[0]


def test_files_resume_and_early_stop(tmp_path):
    settings = RefineSettings(
        "depth", samples=30, initial_samples=30, iterations=2, flops_range=WIDE_FLOPS, draws=500
    )
    first = refine(tmp_path, settings, DATA, scorer=depth_scorer, progress=False)
    on_disk = json.loads((tmp_path / "refinement.json").read_text())
    assert on_disk["iterations"] == json.loads(json.dumps(first["iterations"]))
    lines = (tmp_path / "samples" / "iter1.jsonl").read_text().splitlines()
    assert len(lines) == 30
    # a half-written line and a lost record entry: the rerun rescoring nothing it has
    (tmp_path / "samples" / "iter1.jsonl").write_text("\n".join(lines[:10]) + '\n{"id": 1')
    on_disk["iterations"] = on_disk["iterations"][:1]
    (tmp_path / "refinement.json").write_text(json.dumps(on_disk))
    calls = []

    def counting(config):
        calls.append(config)
        return depth_scorer(config)

    again = refine(tmp_path, settings, DATA, scorer=counting, progress=False)
    assert len(calls) == 20  # only the nets missing from iteration 1
    assert _timeless(again["iterations"]) == _timeless(first["iterations"])
    more = RefineSettings(**{**settings.__dict__, "iterations": 30})
    final = refine(tmp_path, more, DATA, scorer=depth_scorer, progress=False)
    assert final["status"] == "converged" and len(final["iterations"]) < 30
    a, b = final["iterations"][-2:]
    assert [(v["low"], v["high"]) for v in a["intervals"].values()] == [
        (v["low"], v["high"]) for v in b["intervals"].values()
    ]


def _timeless(iterations):
    return [{k: v for k, v in it.items() if k != "seconds"} for it in iterations]


def test_other_settings_are_refused(tmp_path):
    s = RefineSettings(
        "depth", samples=10, initial_samples=10, iterations=1, flops_range=WIDE_FLOPS
    )
    refine(tmp_path, s, DATA, scorer=depth_scorer, progress=False)
    other = RefineSettings(
        "depth", samples=12, initial_samples=10, iterations=1, flops_range=WIDE_FLOPS
    )
    with pytest.raises(UsageError, match="other settings"):
        refine(tmp_path, other, DATA, scorer=depth_scorer, progress=False)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(iterations=0), "iterations"),
        (dict(flops_range=(5, 1)), "empty"),
        (dict(samples=1), "at least 2"),
    ],
)
def test_bad_settings_raise(kwargs, match):
    with pytest.raises(UsageError, match=match):
        RefineSettings("synflow", **kwargs)


def test_unknown_predictor():
    with pytest.raises(UsageError, match="unknown predictor"):
        resolve_predictors("synflow,nope")
    assert resolve_predictors("jacov,logdet") == ["jacob_cov", "naswot"]


@pytest.mark.parametrize("predictor", resolve_predictors("all"))
def test_every_predictor_scores_a_plain_anynet(predictor):
    from fewshot.spaces.anynet import AnyNetConfig

    config = AnyNetConfig((1, 1, 1), (8, 16, 16), (1, 2, 1), (2, 4, 4))
    scored = score_network(lambda: config.build(), [predictor], DATA, seed=0)
    assert predictor in scored.scores, scored.errors
