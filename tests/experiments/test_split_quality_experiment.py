"""fewshot.experiments.split_quality: the table from trees on disk, resuming, one-line errors."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from fewshot.analysis.split_quality import GroundTruth, tree_quality
from fewshot.experiments.split_quality import main, split_values
from fewshot.run_folder import tree_path
from fewshot.spaces import get_space
from fewshot.spaces.tnb101 import BENCHMARK_ENV, TASKS
from fewshot.splitting.tree import Split, SplitTree

TNB = get_space("tnb101-micro")


@pytest.fixture(autouse=True)
def _nowhere(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv(BENCHMARK_ENV, raising=False)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))
    monkeypatch.setenv("FEWSHOT_DATA", str(tmp_path / "fewshot-data"))


def write_tnb_csv(path: Path) -> Path:
    """Every cell; score = 0.5 * code + task index (higher codes are better on every task)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["op_indices", "arch_str", *TASKS])
        for code in range(4096):
            digits = np.base_repr(code, 4).rjust(6, "0")
            writer.writerow([digits, "", *(0.5 * code + k for k in range(len(TASKS)))])
    return path


def split_of(mask, edge: int, groups) -> Split:
    ops = mask.ops(edge)
    return Split(edge=edge, ops=ops, groups=groups, distance=((0.0,) * len(ops),) * len(ops),
                 cut=0.0)  # fmt: skip


def save_tree(runs: Path, metric: str, seed: int, space=TNB, complete: bool = True) -> Path:
    """A depth-2 tree on positions 0 then 1 whose groups depend on the seed."""
    ops = space.ops
    tree = SplitTree(metric=metric, seed=seed, dataset="cifar10", space=space,
                     config={"depth": 2, "branch": 2, "C": 8, "N": 1}, complete=complete)  # fmt: skip
    root = tree.add_root()
    cut = 1 + seed % (len(ops) - 1)
    left, right = tree.apply_split(0, split_of(root.mask, 0, (ops[:cut], ops[cut:])))
    for child in (left, right):
        tree.apply_split(child.id, split_of(child.mask, 1, (ops[:2], ops[2:])))
    path = tree_path(runs, metric, seed)
    tree.save(path)
    return path


@pytest.fixture
def bench_csv(tmp_path: Path) -> Path:
    return write_tnb_csv(tmp_path / "tnb" / "tnb101_micro_val.csv")


def run(*argv: str) -> int:
    return main(["--space", "tnb101-micro", "--no-progress", *argv])


def test_table_from_trees_on_disk(tmp_path, bench_csv, capsys):
    runs = tmp_path / "runs"
    for metric in ("snip", "random"):
        for seed in (0, 1):
            save_tree(runs, metric, seed)
    out = tmp_path / "docs" / "quality.md"
    argv = ["--metrics", "snip,random", "--seeds", "2", "--runs", str(runs), "--no-split",
            "--benchmark", str(bench_csv), "--out", str(out)]  # fmt: skip
    assert run(*argv) == 0
    report = json.loads(out.with_suffix(".json").read_text())
    assert report["space"] == "tnb101-micro" and report["datasets"] == list(TASKS)
    assert [t["label"] for t in report["trees"]] == ["snip_s0", "random_s0", "snip_s1", "random_s1"]
    assert report["trees"][0]["leaf_sizes"] == [512, 512, 1536, 1536]  # p0 1|3 ops, p1 2|2 ops
    # the JSON holds what the analysis gives for the saved trees
    from fewshot.splitting.tree import load_tree

    bench = TNB.open_benchmark(bench_csv)
    truth = GroundTruth.from_benchmark(bench, "jigsaw")
    q0 = tree_quality(load_tree(tree_path(runs, "snip", 0)), truth)
    q1 = tree_quality(load_tree(tree_path(runs, "snip", 1)), truth)
    assert report["trees"][0]["quality"]["jigsaw"]["top_share"] == q0.top_share
    # the top 1% (41 highest codes, all conv3x3 on positions 0 and 1) lies in the leaf
    # {skip,c1,c3} x {c1,c3} (seed 0) / {c1,c3} x {c1,c3} (seed 1), the best leaf by mean
    assert q0.top_share == 1.0 and q1.top_share == 1.0
    summary = report["summary"]["snip"]["jigsaw"]["top_share"]
    assert summary == {"mean": 1.0, "std": 0.0, "n": 2}
    baseline = report["random_expected"]
    # one shape (position 0, then position 1 in both children): 7 partitions of 4 ops at each
    assert len(baseline) == 1 and baseline[0]["exact"] and baseline[0]["trees"] == 7 * 7 * 7
    assert set(report["transfer"]) == {"top_share", "variance_explained"}
    # save_tree's groups depend on the seed only: each seed's two trees are one distinct tree
    assert report["distinct_trees"] == {"snip_s0": ["snip_s0", "random_s0"],
                                        "snip_s1": ["snip_s1", "random_s1"]}  # fmt: skip
    assert report["transfer"]["top_share"]["labels"] == ["snip_s0", "snip_s1"]
    table = out.read_text()
    assert "| snip (2) | 1.000 ± 0.000 |" in table
    assert "| random (expected) |" in table and "## Transfer across data sets" in table
    assert str(out) in capsys.readouterr().out
    # resumable: a second run reuses the trees and gives the same numbers
    mtime = tree_path(runs, "snip", 0).stat().st_mtime_ns
    written = out.with_suffix(".json").stat().st_mtime_ns
    assert run(*argv) == 0
    assert "already finished (same settings)" in capsys.readouterr().out
    assert out.with_suffix(".json").stat().st_mtime_ns == written  # nothing redone
    assert run(*argv, "--top-fraction", "0.5") == 0  # another analysis of the same trees
    assert "already finished" not in capsys.readouterr().out
    assert run(*argv) == 0
    again = json.loads(out.with_suffix(".json").read_text())
    assert again["summary"] == report["summary"] and again["trees"] == report["trees"]
    assert tree_path(runs, "snip", 0).stat().st_mtime_ns == mtime


def test_incomplete_and_missing_trees_are_left_out(tmp_path, bench_csv):
    runs = tmp_path / "runs"
    save_tree(runs, "snip", 0)
    save_tree(runs, "snip", 1, complete=False)
    out = tmp_path / "q.md"
    assert run("--metrics", "snip,synflow", "--seeds", "2", "--runs", str(runs), "--no-split",
               "--benchmark", str(bench_csv), "--out", str(out)) == 0  # fmt: skip
    report = json.loads(out.with_suffix(".json").read_text())
    assert [t["label"] for t in report["trees"]] == ["snip_s0"]


@pytest.mark.parametrize(
    ("setup", "extra", "message"),
    [
        ("nats", [], "is NATS-Bench's topology benchmark (--space nb201)"),
        ("nb201-tree", [], "splits 'nb201', not --space 'tnb101-micro'"),
        ("none", [], "no complete tree under"),
        ("tnb-tree", ["--depth", "3"], "was split with --depth 2, not 3"),
        (
            "tnb-tree",
            ["--datasets", "cifar10"],
            "--datasets: unknown TransNAS-Bench-101 micro task",
        ),
    ],
)
def test_bad_input_is_one_line_exit_2(tmp_path, bench_csv, capsys, setup, extra, message):
    runs = tmp_path / "runs"
    bench = bench_csv
    if setup == "nats":
        bench = tmp_path / "NATS-tss-v1_0-3ffb9-simple"
        bench.mkdir()
        (bench / "meta.pickle.pbz2").write_bytes(b"")
    elif setup == "nb201-tree":
        save_tree(runs, "snip", 0, space=get_space("nb201"))
    elif setup == "tnb-tree":
        save_tree(runs, "snip", 0)
    argv = ["--metrics", "snip", "--seeds", "1", "--runs", str(runs), "--no-split",
            "--benchmark", str(bench), *extra]  # fmt: skip
    assert run(*argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


def test_split_values_are_a_split_configuration(tmp_path):
    from fewshot.config import make_config
    from fewshot.experiments.split_quality import SplitQualityConfig
    from fewshot.splitting.run import SplitConfig

    config = make_config(SplitQualityConfig, {"runs": tmp_path, "C": 8, "N": 1,
                                              "dataset": "digits", "threads": 1})  # fmt: skip
    nb201 = get_space("nb201")
    values = split_values(config, nb201, "snip", 2, resume=False)
    split = make_config(SplitConfig, values)
    assert (split.metric, split.seed, split.C, split.N, split.depth, split.branch) == (
        "snip", 2, 8, 1, 2, 2)  # fmt: skip
    assert Path(split.out) / str(split.name) == tree_path(tmp_path, "snip", 2).parent
    assert split.space == "nb201"
    tnb = make_config(SplitConfig, split_values(config, TNB, "snip", 0, resume=False))
    assert tnb.space == "tnb101-micro" and tnb.C == 8


@pytest.mark.slow
def test_splits_the_space_then_reuses_the_trees(tmp_path, bench_csv, capsys):
    """End to end on tnb101-micro: the trees are split (tiny network, synthetic images), judged,
    and a second run reuses them instead of splitting again."""
    runs, out = tmp_path / "runs", tmp_path / "q.md"
    argv = ["--metrics", "synflow,random", "--seeds", "1", "--depth", "1", "--C", "2", "--N", "1",
            "--batch-size", "2", "--dataset", "synthetic", "--threads", "1", "--runs", str(runs),
            "--benchmark", str(bench_csv), "--out", str(out)]  # fmt: skip
    assert run(*argv) == 0
    from fewshot.splitting.tree import load_tree

    trees = [load_tree(tree_path(runs, m, 0)) for m in ("synflow", "random")]
    assert all(t.complete and t.space is TNB and t.config["C"] == 2 for t in trees)
    report = json.loads(out.with_suffix(".json").read_text())
    assert [len(t["leaf_sizes"]) for t in report["trees"]] == [2, 2]
    assert report["model"]["C"] == 2 and report["model"]["depth"] == 1
    mtimes = [tree_path(runs, m, 0).stat().st_mtime_ns for m in ("synflow", "random")]
    assert run(*argv) == 0
    assert [tree_path(runs, m, 0).stat().st_mtime_ns for m in ("synflow", "random")] == mtimes
    # a complete tree made with other settings is not reused silently
    changed = [a if a != "2" or argv[i - 1] != "--C" else "3" for i, a in enumerate(argv)]
    assert run(*changed) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "with a different configuration" in err[0] and "C" in err[0]
