"""Kill-and-resume: a training job killed mid-epoch (SIGKILL, in a subprocess, after its first
checkpoint) and re-run ends with bitwise-identical weights, metrics.jsonl and Lightning CSV logs
to an uninterrupted run, on both data paths: a leaf of ``fewshot.train`` and the few-shot vs one-shot supernets."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from fewshot.spaces.nb201 import Mask
from fewshot.splitting.tree import Split, SplitTree
from tests.conftest import REPO_ROOT
from tests.fakes import write_fake_benchmark

DRIVER = REPO_ROOT / "tests" / "training" / "resume_driver.py"
ROOT = Mask.from_op_lists(
    [["skip_connect", "nor_conv_3x3"], ["nor_conv_1x1", "avg_pool_3x3"], ["nor_conv_3x3"],
     ["nor_conv_3x3"], ["skip_connect"], ["nor_conv_1x1"]]
)  # fmt: skip
SYNTHETIC = ["--dataset", "synthetic", "--data-option", "image_size=8"]


def run(args: list[str], cwd: Path, kill_at: int | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
    cmd = [sys.executable, *args]
    if kill_at is not None:
        env["FEWSHOT_KILL_AT_STEP"] = str(kill_at)
        cmd = [sys.executable, str(DRIVER), *args]
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=900)


def weights(folder: Path) -> dict[str, dict[str, torch.Tensor]]:
    return {
        str(p.relative_to(folder)): torch.load(p, weights_only=True)
        for p in sorted(folder.rglob("weights.pt"))
    }


def epoch_lines(folder: Path) -> dict[str, list[dict]]:
    """Every metrics.jsonl without its timing field."""
    out = {}
    for path in sorted(folder.rglob("metrics.jsonl")):
        rows = [json.loads(line) for line in path.read_text().splitlines()]
        out[str(path.relative_to(folder))] = [
            {k: v for k, v in r.items() if k != "seconds"} for r in rows
        ]
    return out


def assert_identical(a: Path, b: Path) -> None:
    wa, wb = weights(a), weights(b)
    assert wa and sorted(wa) == sorted(wb)
    for name in wa:
        for key, value in wa[name].items():
            assert torch.equal(value, wb[name][key]), (name, key)
    assert epoch_lines(a) == epoch_lines(b) and epoch_lines(a)
    assert csv_logs(a) == csv_logs(b) and csv_logs(a)


def csv_logs(folder: Path) -> dict[str, str]:
    """Every Lightning CSV log (``logs/metrics.csv``), as text."""
    return {str(p.relative_to(folder)): p.read_text() for p in sorted(folder.rglob("metrics.csv"))}


def kill_and_resume(args: list[str], full: Path, killed: Path, kill_at: int, cwd: Path) -> None:
    """``args`` run uninterrupted in ``full``, and killed at step ``kill_at`` then re-run in
    ``killed`` (``{out}`` in ``args`` is the folder)."""
    sub = lambda out: [a.replace("{out}", str(out)) for a in args]  # noqa: E731
    done = run(sub(full), cwd)
    assert done.returncode == 0, done.stderr[-3000:]
    first = run(sub(killed), cwd, kill_at=kill_at)
    assert first.returncode == -signal.SIGKILL, first.stderr[-3000:]
    assert list(killed.rglob("last.ckpt")), "killed before its first checkpoint"
    assert not list(killed.rglob("weights.pt")) or len(weights(killed)) < len(weights(full))
    again = run(sub(killed), cwd)
    assert again.returncode == 0, again.stderr[-3000:]
    resumed = [json.loads(p.read_text())["resumed_from"] for p in killed.rglob("done.json")]
    assert sum(r is not None for r in resumed) == 1  # the killed one resumed its checkpoint


@pytest.mark.slow
@pytest.mark.parametrize("data_path", ["tensor", "loader"])
def test_a_killed_leaf_resumes_to_identical_weights_and_metrics(tmp_path, data_path):
    tree = SplitTree(metric="snip", seed=0, dataset="synthetic", config={"C": 4, "N": 1})
    tree.add_root(ROOT)
    ops = ROOT.ops(0)
    tree.apply_split(0, Split(0, ops, (ops[:1], ops[1:]), ((0.0, 1.0), (1.0, 0.0)), cut=1.0))
    tree.complete = True
    for name in ("full", "killed"):
        tree.save(tmp_path / name / "tree.json")
    args = ["-m", "fewshot.train", "{out}", "--leaf", "1", *SYNTHETIC, "--data-option",
            "num_train=40", "--data-option", f"data_path={data_path}", "--batch-size", "8",
            "--C", "4", "--N", "1", "--epochs", "3", "--no-search", "--threads", "1",
            "--accelerator", "cpu", "--devices", "1", "--no-progress-bar"]  # fmt: skip
    # 36 training examples: 5 batches an epoch; step 7 is mid-way through the second epoch
    kill_and_resume(args, tmp_path / "full", tmp_path / "killed", 7, tmp_path)
    assert_identical(tmp_path / "full", tmp_path / "killed")
    done = json.loads((tmp_path / "killed" / "leaves" / "1" / "done.json").read_text())
    full = json.loads((tmp_path / "full" / "leaves" / "1" / "done.json").read_text())
    assert done["metrics"] == full["metrics"]


@pytest.mark.slow
@pytest.mark.parametrize("data_path", ["tensor", "loader"])
def test_killed_few_vs_one_shot_supernets_resume_to_identical_weights(tmp_path, data_path):
    from fewshot.spaces.nb201 import all_archs

    archs = list(all_archs())[::997][:12]
    entries = {a.to_string(): {"cifar10": [float(i)], "cifar100": [1.0],
                               "ImageNet16-120": [1.0], "cifar10-valid": [1.0]}
               for i, a in enumerate(archs)}  # fmt: skip
    bench = write_fake_benchmark(tmp_path / "bench", entries)
    trees = tmp_path / "trees"
    args = [str(REPO_ROOT / "tools" / "few_vs_one_shot.py"), *SYNTHETIC,
            "--data-option", "num_train=64", "--data-option", "num_test=8",
            "--data-option", f"data_path={data_path}", "--val-fraction", "0.25",
            "--batch-size", "16", "--benchmark", str(bench), "--trees", str(trees),
            "--out", "{out}", "--C", "4", "--N", "1", "--epochs", "2", "--seeds", "1",
            "--sample", "6", "--metrics", "random", "--depths", "1", "--no-exhaustive",
            "--split-args", "--C 4 --N 1 --batch-size 8", "--threads", "1", "--no-progress",
            "--resamples", "100", "--benchmark-dataset", "cifar10"]  # fmt: skip
    # 48 training examples: 3 batches an epoch; step 4 is in the first supernet's second epoch
    kill_and_resume(args, tmp_path / "full", tmp_path / "killed", 4, tmp_path)
    assert_identical(tmp_path / "full", tmp_path / "killed")
    for scores in (tmp_path / "full").rglob("scores.json"):
        other = tmp_path / "killed" / scores.relative_to(tmp_path / "full")
        assert json.loads(scores.read_text()) == json.loads(other.read_text())
    shutil.rmtree(trees, ignore_errors=True)


@pytest.mark.slow
def test_a_killed_step_budget_run_resumes_to_its_budget_and_identical_weights(tmp_path):
    """A budget in steps (3 epochs of 5 batches cut at 12 steps, as the ranking study trains):
    killed in its second epoch and resumed, it ends at step 12 with the uninterrupted run's
    weights. With Lightning's own ``max_steps`` the resumed run replayed one batch as an extra
    epoch and stopped short (a 4,000-step run ended at 3,876)."""
    args = [str(REPO_ROOT / "tests" / "training" / "step_budget_run.py"), "{out}", "3", "12"]
    kill_and_resume(args, tmp_path / "full", tmp_path / "killed", 7, tmp_path)
    assert_identical(tmp_path / "full", tmp_path / "killed")
    for name in ("full", "killed"):
        done = json.loads((tmp_path / name / "done.json").read_text())
        assert done["global_step"] == 12, (name, done)
        epochs = [json.loads(x)["epoch"] for x in (tmp_path / name / "metrics.jsonl").open()]
        assert epochs == [1, 2, 3], (name, epochs)


def _standalone_outcome(out: Path) -> tuple[dict[str, torch.Tensor], list[dict]]:
    """The final weights (the last checkpoint's) and results of a standalone run, no timings."""
    (ckpt,) = out.rglob("last.ckpt")
    state = torch.load(ckpt, map_location="cpu", weights_only=False)["state_dict"]
    rows = json.loads((out / "results.json").read_text())["results"]
    return state, [{k: v for k, v in r.items() if k != "seconds"} for r in rows]


@pytest.mark.slow
@pytest.mark.parametrize("data_path", ["tensor", "loader"])
def test_killed_standalone_training_resumes_to_identical_weights(tmp_path, data_path):
    """The standalone training of the search's ``--train-epochs`` (and of its library callers),
    killed mid-way through its second epoch and re-run, ends bitwise where an uninterrupted run
    ends: the resumed epochs see the batches of their own epoch (the data module's epoch is
    saved in the checkpoint and restored), not epoch 0's."""
    script = str(REPO_ROOT / "tests" / "training" / "standalone_script.py")
    full, killed = tmp_path / "full", tmp_path / "killed"
    done = run([script, str(full), data_path], tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    # 36 training examples: 5 batches an epoch; step 7 is mid-way through the second epoch
    first = run([script, str(killed), data_path], tmp_path, kill_at=7)
    assert first.returncode == -signal.SIGKILL, first.stderr[-3000:]
    assert list(killed.rglob("last.ckpt")) and not (killed / "results.json").exists()
    again = run([script, str(killed), data_path], tmp_path)
    assert again.returncode == 0, again.stderr[-3000:]
    (w_full, r_full), (w_killed, r_killed) = map(_standalone_outcome, (full, killed))
    assert w_full.keys() == w_killed.keys()
    assert all(torch.equal(w_full[k], w_killed[k]) for k in w_full)
    assert r_full == r_killed
