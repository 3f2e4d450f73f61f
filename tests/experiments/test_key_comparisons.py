"""The key comparisons read few-vs-one-shot results, pool their seeds and refuse what cannot
be pooled."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from fewshot.experiments import key_comparisons as kc

ARCHS = [f"arch{i}" for i in range(30)]


def write_results(path: Path, seeds: list[int], *, archs: list[str] = ARCHS) -> Path:
    """A few-vs-one-shot results file: ``good-d1-inh`` ranks well, ``weak-d1-inh`` and the
    random split worse, one-shot-x3 in between (per-seed noise)."""
    rng = np.random.default_rng(sum(seeds))
    true = np.linspace(50, 90, len(archs))
    noise = {"good-d1-inh": 2.0, "weak-d1-inh": 20.0, "random-d1-inh": 15.0, "one-shot-x3": 8.0}
    predictions = {str(s): {m: (true + rng.normal(0, n, len(archs))).tolist()
                            for m, n in noise.items()} for s in seeds}  # fmt: skip
    taus = {m: 1.0 / n for m, n in noise.items()}  # only the order matters to the arm choice
    pairs = {m: {"equal-compute": {"baseline": "one-shot-x3"},
                 "vs-random": {"baseline": "random-d1-inh"}}
             for m in ("good-d1-inh", "weak-d1-inh")}  # fmt: skip
    result = {
        "format": "fewshot.few_vs_one_shot",
        "config": {"threads": 2, "pack": True, "epochs": 30},
        "sample": {"archs": archs, "accuracy": true.tolist()},
        "methods": {m: {"kendall_tau_mean": t} for m, t in taus.items()},
        "tau_difference": {
            kind: {m: pairs[m][kind] for m in pairs} for kind in ("equal-compute", "vs-random")
        },  # fmt: skip
        "predictions": predictions,
        "timings": {"wall_s": 10.0},
    }
    path.write_text(json.dumps(result))
    return path


def test_two_files_pool_their_seeds_and_the_best_split_is_the_arm(tmp_path):
    a = write_results(tmp_path / "a.json", [0, 1, 2])
    b = write_results(tmp_path / "b.json", [3, 4])
    out = tmp_path / "kc.json"
    argv = ["--results", f"{a},{b}", "--out", str(out), "--resamples", "200"]
    assert kc.main(argv) == 0
    result = json.loads(out.read_text())
    assert result["arm"] == "good-d1-inh" and result["seeds"] == ["0", "1", "2", "3", "4"]
    vs_one_shot = result["comparisons"]["equal-compute"]
    assert vs_one_shot["baseline"] == "one-shot-x3" and len(vs_one_shot["per_seed"]) == 5
    assert all(d > 0 for d in vs_one_shot["per_seed"])  # a 2-point noise beats an 8-point one
    assert result["comparisons"]["vs-random"]["baseline"] == "random-d1-inh"
    assert (tmp_path / "kc_table.md").read_text().count("good-d1-inh") == 2


def test_a_named_arm_is_compared_instead(tmp_path):
    a = write_results(tmp_path / "a.json", [0, 1, 2])
    config = kc.KeyComparisonsConfig(results=[a], arm="weak-d1-inh", resamples=100)
    result = kc.analyse(config)
    assert result["arm"] == "weak-d1-inh"
    assert np.mean(result["comparisons"]["equal-compute"]["per_seed"]) < 0


@pytest.mark.parametrize(
    ("second", "message"),
    [
        ({"seeds": [2, 3]}, "seed 2 is in"),
        ({"seeds": [3], "archs": ARCHS[::-1]}, "another arch sample"),
    ],
)
def test_files_that_cannot_be_pooled_are_refused(tmp_path, capsys, second, message):
    a = write_results(tmp_path / "a.json", [0, 1, 2])
    b = write_results(tmp_path / "b.json", second["seeds"], archs=second.get("archs", ARCHS))
    assert kc.main(["--results", f"{a},{b}", "--out", str(tmp_path / "kc.json")]) == 2
    assert message in capsys.readouterr().err


def test_unknown_arm_and_foreign_files_are_usage_errors(tmp_path, capsys):
    a = write_results(tmp_path / "a.json", [0, 1])
    assert kc.main(["--results", str(a), "--arm", "nope", "--out", str(tmp_path / "o.json")]) == 2
    assert "no method nope" in capsys.readouterr().err
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"format": "fewshot.ranking_budget"}))
    assert kc.main(["--results", str(other), "--out", str(tmp_path / "o.json")]) == 2
    assert "not a few-vs-one-shot results file" in capsys.readouterr().err


def test_a_second_study_on_the_same_seeds_joins_its_arm_by_its_shared_runs(tmp_path):
    """A file whose seeds repeat the first's with the same shared runs (equal predictions) adds
    its methods to those seeds; ``--pairs`` compares across the files; shared runs that differ
    are refused."""
    a = write_results(tmp_path / "a.json", [0, 1, 2])
    first = json.loads(a.read_text())
    second = json.loads(a.read_text())
    for seed, methods in second["predictions"].items():
        second["predictions"][seed] = {
            "one-shot-x3": methods["one-shot-x3"],
            "efs-d1-inh": first["sample"]["accuracy"],
        }  # fmt: skip
    second["methods"] = {"efs-d1-inh": {"kendall_tau_mean": 1.0}}
    second["tau_difference"] = {}
    b = tmp_path / "b.json"
    b.write_text(json.dumps(second))
    config = kc.KeyComparisonsConfig(results=[a, b], arm="good-d1-inh", resamples=100,
                                      pairs=["efs-d1-inh:one-shot-x3"])  # fmt: skip
    result = kc.analyse(config)
    assert result["seeds"] == ["0", "1", "2"]
    cross = result["comparisons"]["efs-d1-inh vs one-shot-x3"]
    assert all(d > 0 for d in cross["per_seed"])  # a perfect ranker against a noisy one
    second["predictions"]["1"]["one-shot-x3"] = first["sample"]["accuracy"]
    b.write_text(json.dumps(second))
    with pytest.raises(kc.UsageError, match=r"seed 1 is in .* as other runs \(one-shot-x3"):
        kc.analyse(config)
    with pytest.raises(kc.UsageError, match="ARM:BASELINE"):
        kc.extra_pairs(["efs-d1-inh"], {"efs-d1-inh"})


def test_an_arm_without_baselines_of_its_own_is_compared_by_pairs_only(tmp_path, capsys):
    """An arm whose file paired it with nothing (e.g. a papers' arm trained without a longer
    one-shot run) is compared only with what ``--pairs`` names, here a one-shot run of another
    file on the same seeds; with no pair at all it is a usage error that says to name one."""
    a = write_results(tmp_path / "a.json", [0, 1, 2])
    first = json.loads(a.read_text())
    first["tau_difference"] = {}
    a.write_text(json.dumps(first))
    second = json.loads(a.read_text())
    for seed, methods in second["predictions"].items():
        second["predictions"][seed] = {"one-shot-x3": methods["one-shot-x3"],
                                       "one-shot-x6": methods["random-d1-inh"]}  # fmt: skip
    b = tmp_path / "b.json"
    b.write_text(json.dumps(second))
    argv = ["--results", f"{a},{b}", "--arm", "good-d1-inh", "--resamples", "100"]
    assert kc.main([*argv, "--out", str(tmp_path / "none.json")]) == 2
    assert "name its comparisons with --pairs" in capsys.readouterr().err
    out = tmp_path / "kc.json"
    assert kc.main([*argv, "--pairs", "good-d1-inh:one-shot-x6", "--out", str(out)]) == 0
    comparisons = json.loads(out.read_text())["comparisons"]
    assert list(comparisons) == ["good-d1-inh vs one-shot-x6"]
    assert all(d > 0 for d in comparisons["good-d1-inh vs one-shot-x6"]["per_seed"])
