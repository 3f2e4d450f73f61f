"""``python -m fewshot.experiments.combination``: the study's arms and the baselines' CSV,
matched by arch; the result JSON and its table; usage errors in one line."""

from __future__ import annotations

import json

import numpy as np

from fewshot.experiments.combination import main


def _write_inputs(tmp_path, n: int = 12):
    """A budget result (2 seeds), a few-vs-one-shot result (3 seeds) on the same sample, and
    a baselines CSV whose rows are in another order than the sample."""
    rng = np.random.default_rng(0)
    archs = [f"arch{i}" for i in range(n)]
    true = rng.normal(90, 2, size=n)
    sample = {"archs": archs, "indices": list(range(n)), "accuracy": list(true)}
    budget = {"format": "fewshot.ranking_budget", "sample": sample, "regimes": {"px8": {
        "budgets": {"100": {"seeds": {str(s): {"predicted": list(rng.normal(size=n))}
                                      for s in range(2)}}}}}}  # fmt: skip
    few = {"format": "fewshot.few_vs_one_shot", "config": {"bootstrap_seeds": True},
           "sample": sample, "predictions": {str(s): {"one-shot": list(true + rng.normal(size=n))}
                                             for s in range(3)}}  # fmt: skip
    (tmp_path / "budget.json").write_text(json.dumps(budget))
    (tmp_path / "few.json").write_text(json.dumps(few))
    naswot = true + rng.normal(scale=0.5, size=n)
    lines = ["arch,index,accuracy,naswot,vote"]
    for i in reversed(range(n)):
        lines.append(
            f"{archs[i]},{i},{float(true[i])!r},{float(naswot[i])!r},{float(-naswot[i])!r}"
        )
    (tmp_path / "base.csv").write_text("\n".join(lines) + "\n")
    return true, naswot


def _argv(tmp_path, *extra: str) -> list[str]:
    return ["--results", f"{tmp_path / 'budget.json'},{tmp_path / 'few.json'}",
            "--baselines", str(tmp_path / "base.csv"), "--out", str(tmp_path / "comb.json"),
            "--arms", "budget:px8 100,few:one-shot", "--proxies", "naswot,vote",
            "--fractions", "0.25,1", "--resamples", "100", *extra]  # fmt: skip


def test_writes_the_comparison_and_its_table(tmp_path, capsys):
    true, naswot = _write_inputs(tmp_path)
    assert main(_argv(tmp_path)) == 0
    result = json.loads((tmp_path / "comb.json").read_text())
    assert result["format"] == "fewshot.combination" and result["archs"] == 12
    assert list(result["arms"]) == ["budget:px8 100", "few:one-shot"]
    naswot_block = result["arms"]["few:one-shot"]["naswot"]
    # the CSV was read in the sample's order: the proxy's own pick is the sample's
    assert naswot_block["values"]["proxy"]["picked_accuracy"] == true[np.argmax(naswot)]
    assert len(naswot_block["per_seed"]["supernet"]["kendall_tau"]) == 3
    # keeping 100% is the supernet's own pick
    v = naswot_block["values"]["supernet"]
    assert v["filter100_picked_accuracy"] == v["picked_accuracy"]
    table = (tmp_path / "comb_table.md").read_text()
    assert "| budget:px8 100 | vote |" in table and "| 25% |" in table
    assert "comb_table.md" in capsys.readouterr().out


def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys):
    _write_inputs(tmp_path)
    assert main(_argv(tmp_path, "--arms", "few:two-shot")) == 2
    assert "has no arm 'two-shot'" in capsys.readouterr().err
    assert main(_argv(tmp_path, "--proxies", "zen")) == 2
    assert "no baseline zen" in capsys.readouterr().err
    assert main(_argv(tmp_path, "--fractions", "1.5")) == 2
    (tmp_path / "base.csv").write_text("arch,index,accuracy,naswot\narch0,0,90.0,1.0\n")
    assert main(_argv(tmp_path, "--proxies", "naswot")) == 2
    assert "no row for 11" in capsys.readouterr().err
