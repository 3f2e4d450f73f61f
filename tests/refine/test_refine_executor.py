"""``fewshot.refine --executor ray``: each iteration's nets scored by Ray tasks give the local
files; a failed shard is named, the iteration is not summarised, a re-run finishes it."""

from __future__ import annotations

import json

import fewshot.refine.engine as engine
from fewshot.refine.cli import main

ARGS = ["--predictor", "synflow", "--samples", "6", "--initial-samples", "8", "--iterations"]
ARGS += ["2", "--dataset", "synthetic", "--batch-size", "4", "--draws", "300", "--no-progress"]
ARGS += ["--threads", "1", "--no-plots"]
RAY = ["--executor", "ray", "--workers", "2"]


def _files(out) -> dict:
    """The record and the scored nets by id, without timings and the run's own flags."""
    record = json.loads((out / "refinement.json").read_text())
    for it in record["iterations"]:
        it.pop("seconds")
    nets = {}
    for path in sorted((out / "samples").glob("*.jsonl")):
        rows = [json.loads(line) for line in path.read_text().splitlines()]
        nets[path.name] = {r["id"]: {**r, "seconds": None} for r in rows}
    return {"record": record, "nets": nets}


def test_ray_scores_the_local_files_and_a_failed_shard_is_rerun(
    tmp_path, ray_session, monkeypatch, capsys
):
    assert main([*ARGS, "--out", str(tmp_path / "local")]) == 0
    real = engine.score_nets

    def fail_net_three(scoring, nets):  # a local function: shipped to Ray workers by value
        if any(i == 3 for i, _ in nets):
            raise RuntimeError("worker lost")
        return real(scoring, nets)

    monkeypatch.setattr(engine, "score_nets", fail_net_three)
    ray_out = tmp_path / "ray"
    assert main([*ARGS, "--out", str(ray_out), *RAY]) == 1
    assert "net 3: RuntimeError: worker lost" in capsys.readouterr().err
    lines = (ray_out / "samples" / "iter0.jsonl").read_text().splitlines()
    assert sorted(json.loads(x)["id"] for x in lines) == [0, 1, 2, 4, 5, 6, 7]
    monkeypatch.setattr(engine, "score_nets", real)
    assert main([*ARGS, "--out", str(ray_out), *RAY]) == 0
    assert _files(ray_out) == _files(tmp_path / "local")


def test_ray_is_for_anynet_samples(tmp_path, capsys):
    assert main(["--space", "nb201", *RAY, "--out", str(tmp_path)]) == 2
    assert "--space nb201 runs locally" in capsys.readouterr().err
