"""``fewshot.search --executor ray``: repeats as Ray tasks give the local summary; a failing
repeat is named; a proxy table that workers would have to complete is refused."""

from __future__ import annotations

import json

import numpy as np

import fewshot.search.run as run
from fewshot.scoring import ScoreFile, ScoreRow
from fewshot.search.__main__ import main
from fewshot.search.oracle import Oracle
from tests.search.search_fakes import known_quality

FLAGS = ["--dataset", "cifar10", "--algo", "ae", "--proxy", "synflow", "--warmup", "16"]
FLAGS += ["--no-scoring", "--repeats", "3", "--budget", "24", "--population", "8"]
FLAGS += ["--tournament", "3", "--target", "84", "--threads", "1"]
RAY = ["--executor", "ray", "--workers", "2"]


def _table(path, benchmark, count=None):
    """A synflow CSV for the first ``count`` archs of the benchmark (default: all)."""
    oracle = Oracle.from_benchmark(benchmark, "cifar10")
    store = ScoreFile(path, ["synflow"])
    for i in range(count or len(oracle)):
        value = known_quality(oracle.arch(i)) + 0.01 * i
        store.append(ScoreRow(oracle.arch(i).to_string(), i, {"synflow": value}, 0.1))
    return path


def _search(benchmark, table, out, *extra) -> int:
    return main(["--benchmark", str(benchmark), "--proxy-table", str(table), "--out", str(out),
                 *FLAGS, *extra])  # fmt: skip


def _summary(out) -> dict:
    summary = json.loads((out / "summary.json").read_text())
    del summary["seconds"], summary["config"]  # timing; the executor flags themselves
    return summary


def test_ray_repeats_give_the_local_summary(tmp_path, small_benchmark, ray_session):
    table = _table(tmp_path / "scores.csv", small_benchmark)
    assert _search(small_benchmark, table, tmp_path / "local") == 0
    assert _search(small_benchmark, table, tmp_path / "ray", *RAY) == 0
    assert _summary(tmp_path / "ray") == _summary(tmp_path / "local")
    assert np.array(_summary(tmp_path / "ray")["trained"]).shape == (3, 24)


def test_a_failing_repeat_is_named(tmp_path, small_benchmark, ray_session, monkeypatch, capsys):
    table = _table(tmp_path / "scores.csv", small_benchmark)
    real = run.run_repeat

    def fail_one(job, repeat):  # a local function: shipped to the Ray workers by value
        if repeat == 1:
            raise RuntimeError("node lost")
        return real(job, repeat)

    monkeypatch.setattr(run, "run_repeat", fail_one)
    assert _search(small_benchmark, table, tmp_path / "ray", *RAY) == 1
    assert "repeat 1: RuntimeError: node lost" in capsys.readouterr().err
    assert not (tmp_path / "ray" / "summary.json").exists()


def test_an_incomplete_proxy_table_is_refused_on_ray(tmp_path, small_benchmark, capsys):
    table = _table(tmp_path / "scores.csv", small_benchmark, count=40)
    assert _search(small_benchmark, table, tmp_path / "ray", *RAY) == 2
    assert "needs the synflow table for every arch" in capsys.readouterr().err
