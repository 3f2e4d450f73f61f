"""``python -m fewshot.distance`` and ``tools/sweep.py`` on tiny hand-built trees."""

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

from fewshot.distance import main
from fewshot.splitting.tree import Split, SplitTree, load_tree

ROOT = Path(__file__).resolve().parents[1]
OPS5 = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _tree(metric, seed, cut, *, config=None):
    """Depth-2 tree: root on edge 0 and children on edge 1, all cut after ``cut`` ops."""
    tree = SplitTree(metric, seed, "digits", config=config or {"C": 4, "depth": 2, "seed": seed})
    tree.add_root()
    for node_id in (0, 1, 2):
        edge = 0 if node_id == 0 else 1
        ops = tree.node(node_id).mask.ops(edge)
        zero = tuple(tuple(0.0 for _ in ops) for _ in ops)
        tree.apply_split(node_id, Split(edge, ops, (ops[:cut], ops[cut:]), zero, 0.0))
    tree.complete = True
    return tree


def _runs(tmp_path):
    runs = tmp_path / "runs"
    for seed in range(3):
        _tree("snip", seed, 2).save(runs / f"snip_s{seed}" / "tree.json")  # always the same split
        _tree("ntk", seed, 1 + seed).save(runs / f"ntk_s{seed}" / "tree.json")  # a new cut a seed
    return runs


def test_cli_writes_table_json_and_figures(tmp_path, capsys):
    runs, out = _runs(tmp_path), tmp_path / "out"
    assert main([str(runs), "--out", str(out)]) == 0
    table = capsys.readouterr().out
    assert "| snip" in table and "| ntk" in table
    report = json.loads((out / "split_distance.json").read_text())
    snip, ntk = report["metrics"]["snip"], report["metrics"]["ntk"]
    assert snip["external"]["mean"] == 0.0 and snip["external"]["n_pairs"] == 3 * 9
    # ntk roots {n}{s13p}, {ns}{13p}, {ns1}{3p}: pairwise 4/4, 6/4, 4/4 differing pairs / (n-1)
    assert ntk["external_by_level"]["1"]["mean"] == pytest.approx(3.5 / 3)
    assert ntk["seeds"] == [0, 1, 2]
    for name in ("internal_external.png", "by_level.png"):
        data = (out / name).read_bytes()
        assert data.startswith(PNG_MAGIC) and len(data) > 5000
    assert (out / "table.md").read_text() == table
    assert "same_edge_only: false" in (out / "config.yaml").read_text()


def test_the_same_command_twice_and_other_settings(tmp_path, capsys):
    runs, out = _runs(tmp_path), tmp_path / "out"
    assert main([str(runs), "--out", str(out), "--no-plots"]) == 0
    first = (out / "split_distance.json").read_bytes()
    assert main([str(runs), "--out", str(out), "--no-plots"]) == 0
    assert (out / "split_distance.json").read_bytes() == first
    capsys.readouterr()
    assert main([str(runs), "--out", str(out), "--same-edge-only"]) == 2
    assert "same_edge_only: False -> True" in capsys.readouterr().err


def test_space_is_recorded_and_trees_of_another_space_are_refused(tmp_path, capsys):
    from tests.toy_space import TOY, toy_space

    runs, out = _runs(tmp_path), tmp_path / "out"
    assert main([str(runs), "--out", str(out), "--space", "nb201", "--no-plots"]) == 0
    assert yaml.safe_load((out / "config.yaml").read_text())["space"] == "nb201"
    capsys.readouterr()
    toy = SplitTree("snip", 9, "digits", config={"C": 4, "depth": 2, "seed": 9}, space=toy_space())
    toy.add_root()
    toy.complete = True
    toy.save(runs / "toy_s9" / "tree.json")
    assert main([str(runs), "--out", str(out), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert f"splits search space '{TOY}', not 'nb201'" in err and len(err.splitlines()) == 1
    # another space in the same output folder is another setting (exit 2); in its own, it runs
    assert main([str(runs / "toy_s9"), "--out", str(out), "--space", TOY, "--no-plots"]) == 2
    assert "space: 'nb201' -> " in capsys.readouterr().err
    toy_out = tmp_path / "toy_out"
    assert main([str(runs / "toy_s9"), "--out", str(toy_out), "--space", TOY, "--no-plots"]) == 0


def test_cli_accepts_tree_files_and_run_folders(tmp_path, capsys):
    runs = _runs(tmp_path)
    args = [str(runs / "snip_s0" / "tree.json"), str(runs / "snip_s1"), "--no-plots"]
    assert main([*args, "--out", str(tmp_path / "o")]) == 0
    report = json.loads((tmp_path / "o" / "split_distance.json").read_text())
    assert list(report["metrics"]) == ["snip"] and report["metrics"]["snip"]["seeds"] == [0, 1]
    assert not (tmp_path / "o" / "by_level.png").exists()


def test_cli_errors_name_the_file(tmp_path, capsys):
    runs = _runs(tmp_path)
    _tree("snip", 7, 2, config={"C": 16, "depth": 2}).save(runs / "snip_s7" / "tree.json")
    assert main([str(runs), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "snip_s7/tree.json" in err and "C: 4 vs 16" in err and "Traceback" not in err
    (runs / "snip_s7" / "tree.json").write_text("{not json")
    assert main([str(runs), "--out", str(tmp_path / "o")]) == 2
    assert "snip_s7/tree.json: not valid JSON" in capsys.readouterr().err


# -- tools/sweep.py, with a fake split module that writes trees instantly ----------------------
FAKE_SPLIT = textwrap.dedent(
    """
    import argparse, sys
    from pathlib import Path
    sys.path.insert(0, {root!r})
    from fewshot.splitting.tree import Split, SplitTree

    def main(argv):
        p = argparse.ArgumentParser()
        for flag in ("--metric", "--out", "--name"):
            p.add_argument(flag)
        for flag in ("--seed", "--depth", "--branch", "--C", "--N", "--batch-size"):
            p.add_argument(flag, type=int)
        p.add_argument("--resume", action="store_true")
        a = p.parse_args(argv)
        path = Path(a.out) / a.name / "tree.json"
        with (Path(a.out) / "calls.txt").open("a") as f:
            f.write(" ".join(argv) + "\\n")
        print("fake split of", a.name)
        if path.exists() and not a.resume:
            sys.exit("exists")
        t = SplitTree(a.metric, a.seed, "digits", config={{"C": a.C, "depth": a.depth}})
        t.add_root()
        ops = t.node(0).mask.ops(0)
        cut = 1 + a.seed % 2 if a.metric == "ntk" else 2
        zero = tuple(tuple(0.0 for _ in ops) for _ in ops)
        t.apply_split(0, Split(0, ops, (ops[:cut], ops[cut:]), zero, 0.0))
        t.complete = a.metric != "broken"
        t.save(path)
        return 0

    if __name__ == "__main__":
        sys.exit(main(sys.argv[1:]))
    """
)


@pytest.mark.slow
@pytest.mark.parametrize("mode", [[], ["--no-fork"]], ids=["fork", "subprocess"])
def test_sweep_runs_skips_resumes_and_analyses(tmp_path, mode):
    (tmp_path / "fake_split.py").write_text(FAKE_SPLIT.format(root=str(ROOT)))
    runs, out = tmp_path / "runs", tmp_path / "out"
    cmd = [sys.executable, str(ROOT / "tools" / "sweep.py"), "--metrics", "snip,ntk", *mode]
    cmd += ["--seeds", "3", "--jobs", "2", "--runs", str(runs), "--out", str(out)]
    cmd += ["--C", "4", "--depth", "1", "--split-module", "fake_split"]
    env = {"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        cmd, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300
    )  # a hung fork fails the test instead of stalling CI
    assert done.returncode == 0, done.stderr
    calls = (runs / "calls.txt").read_text().splitlines()
    assert len(calls) == 6 and all("--C 4" in c and "--depth 1" in c for c in calls)
    assert "fake split of ntk_s2" in (runs / "logs" / "ntk_s2.log").read_text()
    assert yaml.safe_load((runs / "sweep_config.yaml").read_text())["seeds"] == 3
    report = json.loads((out / "split_distance.json").read_text())
    assert report["metrics"]["snip"]["external"]["mean"] == 0.0
    assert report["metrics"]["ntk"]["external"]["mean"] > 0.0
    # a second sweep skips the finished runs; an unfinished tree is resumed with --resume
    tree = load_tree(runs / "ntk_s1")
    tree.complete = False
    tree.save(runs / "ntk_s1" / "tree.json")
    done = subprocess.run(
        cmd, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300
    )  # a hung fork fails the test instead of stalling CI
    assert done.returncode == 0, done.stderr
    calls = (runs / "calls.txt").read_text().splitlines()[6:]
    assert len(calls) == 1 and "--seed 1" in calls[0] and "--resume" in calls[0]
