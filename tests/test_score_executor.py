"""``fewshot.score --executor ray``: the same CSV as the local executor; a shard that raises
is named while the others are written; running again scores only the missing archs."""

from __future__ import annotations

import csv

import pytest

import fewshot.score as score
from fewshot.scoring import select_archs, shard_name

ARCHS = ["--num", "5", "--seed", "3"]
TINY = ["--C", "4", "--N", "1", "--dataset", "synthetic", "--data-option", "image_size=8"]
TINY += ["--batch-size", "8", "--batches", "1", "--no-progress", "--threads", "1"]
TINY += ["--metrics", "params,synflow,grad_norm", *ARCHS]
RAY = ["--executor", "ray", "--workers", "2"]


def _score(out, *extra) -> int:
    return score.main([*TINY, "--out", str(out), *extra])


def _rows(out) -> list[dict[str, str]]:
    """The CSV's rows without the timing column (the only cell that may differ)."""
    with (out / "scores.csv").open(newline="") as f:
        return [{k: v for k, v in r.items() if k != "seconds"} for r in csv.DictReader(f)]


@pytest.fixture(scope="module")
def local_rows(tmp_path_factory) -> list[dict[str, str]]:
    """The reference: the CSV the local executor writes."""
    out = tmp_path_factory.mktemp("local")
    assert _score(out) == 0
    return _rows(out)


def test_ray_writes_the_local_csv(tmp_path, ray_session, local_rows):
    assert _score(tmp_path, *RAY) == 0
    assert _rows(tmp_path) == local_rows
    assert len(local_rows) == 5 and all(r["synflow"] and not r["error"] for r in local_rows)


@pytest.mark.parametrize("executor", ["local", "ray"])
def test_failed_shard_is_named_and_a_rerun_scores_only_it(
    tmp_path, monkeypatch, capsys, request, local_rows, executor
):
    if executor == "ray":
        request.getfixturevalue("ray_session")
    broken = local_rows[1]["arch"]
    real = score.score_shard

    def failing(context, archs):  # a local function: shipped to Ray workers by value
        if any(a.to_string() == broken for a in archs):
            raise RuntimeError("worker lost")
        return real(context, archs)

    monkeypatch.setattr(score, "score_shard", failing)
    flags = ["--executor", executor, "--workers", "2"]
    assert _score(tmp_path, *flags) == 1
    err = capsys.readouterr().err
    assert f"{broken}: RuntimeError: worker lost" in err and "run the command again" in err
    assert [r["arch"] for r in _rows(tmp_path)] == [
        r["arch"] for r in local_rows if r["arch"] != broken
    ]
    monkeypatch.setattr(score, "score_shard", real)
    assert _score(tmp_path, *RAY) == 0  # resumed with the Ray executor whichever wrote it
    err = capsys.readouterr().err
    assert "scored 1 archs" in err and "4 already in" in err
    rows = _rows(tmp_path)
    assert rows[-1]["arch"] == broken
    assert sorted(rows, key=lambda r: r["arch"]) == sorted(local_rows, key=lambda r: r["arch"])


def test_shards_are_named_by_their_archs():
    archs = select_archs(num=23, seed=0)
    assert shard_name(archs[:2]) == ", ".join(a.to_string() for a in archs[:2])
    assert shard_name(archs).startswith("23 archs |")


def test_ray_not_installed_is_one_clear_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(__import__("sys").modules, "ray", None)
    assert _score(tmp_path, *RAY) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "pip install 'fewshot[ray]'" in err


def test_an_unreachable_ray_address_exits_2_with_one_line(tmp_path, fake_benchmark):
    """``--ray-address`` of a closed port with the real Ray package: one line, exit 2, no hang
    (it used to hang for more than 300 s; the 30 s bound on the connection itself is
    tests/test_executor.py's, without this command's start-up)."""
    import os
    import subprocess
    import sys

    from tests.test_executor import closed_port

    pytest.importorskip("ray")
    # a benchmark is given, so the one line is the error (no note on where one was looked for)
    argv = [*TINY, "--out", str(tmp_path), "--executor", "ray",
            "--ray-address", f"127.0.0.1:{closed_port()}",
            "--benchmark", str(fake_benchmark.path)]  # fmt: skip
    done = subprocess.run([sys.executable, "-m", "fewshot.score", *argv], capture_output=True,
                          text=True, timeout=90, env=os.environ.copy())  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert done.stderr.count("\n") == 1 and "cannot start or reach 127.0.0.1:" in done.stderr
