"""tools/benchmark_split.py: which commands it runs, how it reads a run, its report."""

from __future__ import annotations

import json

import pytest

from tests.conftest import load_tool


@pytest.fixture(scope="module")
def bench():
    return load_tool("benchmark_split")


def test_default_cases_are_the_main_command_gm_and_score(bench):
    args = bench.build_parser().parse_args([])
    runs = dict(bench.case_args(args))
    assert list(runs) == ["snip", "gm", "score"]
    main = runs["snip"]
    for flag, value in [("--metric", "snip"), ("--depth", "3"), ("--branch", "2"),
                        ("--C", "16"), ("--N", "5"), ("--batch-size", "64")]:  # fmt: skip
        assert main[main.index(flag) + 1] == value
    assert runs["score"][runs["score"].index("--edge-policy") + 1] == "score"
    assert runs["gm"][runs["gm"].index("--metric") + 1] == "gm"


def test_quick_and_real_images(bench, tmp_path):
    args = bench.build_parser().parse_args(
        ["--quick", "--cases", "snip", "--real-images", str(tmp_path)]
    )
    runs = dict(bench.case_args(args))
    assert runs["snip"][runs["snip"].index("--C") + 1] == "4"
    real = runs["snip-real-images"]
    assert real[real.index("--data-root") + 1] == str(tmp_path)
    with pytest.raises(SystemExit, match="unknown case 'fast'"):
        bench.case_args(bench.build_parser().parse_args(["--cases", "fast"]))


def test_run_case_measures_a_child_process(bench, tmp_path, monkeypatch):
    """A stand-in child writes a tree file; the measurements come from it and wait4."""
    run = tmp_path / "x"
    run.mkdir()
    tree = {"dataset": "digits", "timings": {"total_seconds": 1.5, "forward_passes": 7,
            "backward_passes": 6, "candidates_scored": 7},
            "nodes": [{"id": 0, "parent": None}, {"id": 1, "parent": 0}, {"id": 2, "parent": 0}]}  # fmt: skip
    (run / "tree.json").write_text(json.dumps(tree))
    monkeypatch.setattr(bench.sys, "executable", "true")  # `true -m fewshot.split ...` exits 0
    r = bench.run_case("x", ["--metric", "snip"], tmp_path, threads=1, timeout=30)
    assert (r.forward, r.backward, r.candidates, r.leaves) == (7, 6, 7, 2)
    assert r.split_seconds == 1.5 and r.peak_mib > 0 and r.wall_seconds >= 0
    table = bench.format_table([r])
    assert table.splitlines()[-1].startswith("| x | ") and "| 7 | 6 | 7 |" in table
