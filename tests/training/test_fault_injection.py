"""Fault injection (issue 28): a leaf of ``fewshot.train`` (tiny network, synthetic data, 3 epochs
of 5 steps) killed with SIGKILL at random steps and inside a checkpoint save, stopped by SIGTERM and
SIGINT, started twice at once, resumed from corrupt and truncated checkpoints and result files, and
run into a full file system. Each ends bitwise with the weights of one uninterrupted run.

The full disk is a 300 KB tmpfs where this process may mount one (root), else a patched writer
(``$FEWSHOT_DISK_BYTES`` in ``resume_driver.py``). docs/reliability.md shows what each case prints.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from fewshot.faults import LOCK_NAME, TOKEN_ENV
from fewshot.spaces.nb201 import Mask
from fewshot.splitting.tree import Split, SplitTree
from tests.conftest import REPO_ROOT

DRIVER = REPO_ROOT / "tests" / "training" / "resume_driver.py"
ROOT = Mask.from_op_lists(
    [["skip_connect", "nor_conv_3x3"], ["nor_conv_1x1", "avg_pool_3x3"], ["nor_conv_3x3"],
     ["nor_conv_3x3"], ["skip_connect"], ["nor_conv_1x1"]]
)  # fmt: skip
ARGS = ["--leaf", "1", "--dataset", "synthetic", "--data-option", "image_size=8",
        "--data-option", "num_train=40", "--batch-size", "8", "--C", "4", "--N", "1",
        "--epochs", "3", "--no-search", "--threads", "1", "--accelerator", "cpu",
        "--devices", "1", "--no-progress-bar"]  # fmt: skip
# 36 training examples: 5 batches an epoch, 15 steps in all
LEAF = Path("leaves") / "1"

pytestmark = pytest.mark.slow


def make_run(folder: Path) -> Path:
    """A run folder holding a complete two-leaf tree (leaf 1: three ops on edge 0)."""
    tree = SplitTree(metric="snip", seed=0, dataset="synthetic", config={"C": 4, "N": 1})
    tree.add_root(ROOT)
    ops = ROOT.ops(0)
    tree.apply_split(0, Split(0, ops, (ops[:1], ops[1:]), ((0.0, 1.0), (1.0, 0.0)), cut=1.0))
    tree.complete = True
    tree.save(folder / "tree.json")
    return folder


def train(folder: Path, *, driver: bool = False, wait: bool = True, **faults: str):
    """``python -m fewshot.train FOLDER ARGS`` (through the fault driver when asked)."""
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT), OMP_NUM_THREADS="1", **faults)
    env.pop(TOKEN_ENV, None)
    head = [str(DRIVER)] if driver or faults else []
    cmd = [sys.executable, *head, "-m", "fewshot.train", str(folder), *ARGS]
    if not wait:
        return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)  # fmt: skip
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)


def weights(folder: Path) -> dict[str, torch.Tensor]:
    return torch.load(folder / LEAF / "weights.pt", weights_only=True)


def assert_same_weights(a: Path, b: Path) -> None:
    wa, wb = weights(a), weights(b)
    assert wa.keys() == wb.keys()
    assert all(torch.equal(wa[k], wb[k]) for k in wa), "weights differ"


def epoch_rows(folder: Path) -> list[dict]:
    rows = [json.loads(x) for x in (folder / LEAF / "metrics.jsonl").read_text().splitlines()]
    return [{k: v for k, v in r.items() if k != "seconds"} for r in rows]


def leftovers(folder: Path) -> list[str]:
    """Temporary files and locks anywhere in ``folder`` (a finished run leaves none)."""
    return sorted(
        str(p.relative_to(folder)) for p in folder.rglob("*")
        if p.name.endswith(".tmp") or p.name == LOCK_NAME
    )  # fmt: skip


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith(("error:", "interrupted"))]


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    """One uninterrupted run: the weights every faulty run must end with."""
    folder = make_run(tmp_path_factory.mktemp("reference"))
    done = train(folder)
    assert done.returncode == 0, done.stderr[-3000:]
    assert len(epoch_rows(folder)) == 3
    return folder


def test_killed_at_random_steps_and_inside_a_save_resumes_to_identical_weights(tmp_path, reference):
    folder = make_run(tmp_path)
    steps = sorted(random.Random(28).sample(range(1, 15), 3))
    for step in steps:
        killed = train(folder, FEWSHOT_KILL_AT_STEP=str(step))
        assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    killed = train(folder, FEWSHOT_KILL_IN_SAVE="1")  # during the next checkpoint's rename
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    assert any(p.name.endswith(".tmp") for p in (folder / LEAF / "checkpoints").iterdir())
    again = train(folder)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "taking over a stale lock" in again.stderr  # the killed run's lock
    assert_same_weights(reference, folder)
    assert epoch_rows(folder) == epoch_rows(reference)
    assert leftovers(folder) == []


@pytest.mark.parametrize("name", ["SIGTERM", "SIGINT"])
def test_a_signal_checkpoints_at_the_next_step_and_resumes_to_identical_weights(
    tmp_path, reference, name
):
    folder = make_run(tmp_path)
    stopped = train(folder, FEWSHOT_KILL_AT_STEP="7", FEWSHOT_KILL_SIGNAL=name)
    signum = getattr(signal, name)
    assert stopped.returncode == 128 + signum, stopped.stderr[-3000:]
    (line,) = error_lines(stopped.stderr)
    assert f"interrupted by {name}" in line and "run the same command again" in line
    assert "last.ckpt (step 8)" in line  # the step in progress, finished and saved
    assert "Traceback" not in stopped.stderr
    ckpt = torch.load(folder / LEAF / "checkpoints" / "last.ckpt", weights_only=False)
    assert ckpt["global_step"] == 8 and not (folder / LEAF / "weights.pt").exists()
    again = train(folder)
    assert again.returncode == 0, again.stderr[-3000:]
    assert_same_weights(reference, folder)
    # every epoch's line, the interrupted epoch's training means included: the checkpoint
    # keeps the running sums of the steps before the signal (issue 30's lean step)
    assert epoch_rows(folder) == epoch_rows(reference)
    assert leftovers(folder) == []


def test_a_second_command_on_a_leaf_in_training_exits_2_naming_the_first(tmp_path, reference):
    folder = make_run(tmp_path)
    go = tmp_path / "go"
    first = train(folder, wait=False, FEWSHOT_PAUSE_AT_STEP="3", FEWSHOT_RESUME_FILE=str(go))
    try:
        lock = folder / LEAF / LOCK_NAME
        deadline = time.monotonic() + 300
        while not (lock.is_file() and lock.read_text().strip()):
            assert first.poll() is None and time.monotonic() < deadline, "the first never locked"
            time.sleep(0.1)
        second = train(folder)
        whole = subprocess.run(
            [sys.executable, "-m", "fewshot.train", str(folder), *ARGS[2:]],
            env=dict(os.environ, PYTHONPATH=str(REPO_ROOT)), capture_output=True, text=True,
        )  # fmt: skip
    finally:
        go.touch()
        out, err = first.communicate(timeout=600)
    assert first.returncode == 0, err[-3000:]
    for refused in (second, whole):
        assert refused.returncode == 2, refused.stderr[-3000:]
        (line,) = error_lines(refused.stderr)
        assert "is in use by another command" in line and f"pid {first.pid}" in line
        assert "fewshot.train" in line and "Traceback" not in refused.stderr
    assert_same_weights(reference, folder)
    assert epoch_rows(folder) == epoch_rows(reference)  # 3 rows for 3 epochs
    assert leftovers(folder) == []


@pytest.mark.parametrize(
    "damage",
    ["truncated last.ckpt, no weights", "every checkpoint corrupt, no weights",
     "truncated done.json", "truncated weights.pt"],
)  # fmt: skip
def test_corrupt_checkpoints_and_results_are_set_aside_and_the_run_resumes(
    tmp_path, reference, damage
):
    folder = tmp_path / "run"
    shutil.copytree(reference, folder)
    leaf, ckpts = folder / LEAF, folder / LEAF / "checkpoints"
    if damage.startswith("truncated last.ckpt"):
        os.truncate(ckpts / "last.ckpt", 1000)
        (leaf / "weights.pt").unlink()
    elif damage.startswith("every checkpoint"):
        for path in ckpts.glob("*.ckpt"):
            path.write_bytes(b"not a checkpoint")
        (leaf / "weights.pt").unlink()
    else:
        name = damage.split()[1]
        os.truncate(leaf / name, (leaf / name).stat().st_size // 2)
    again = train(folder)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "Traceback" not in again.stderr
    warnings = [x for x in again.stderr.splitlines() if "set aside as" in x]
    assert warnings and all(".corrupt" in x for x in warnings)
    assert list(folder.rglob("*.corrupt"))
    assert_same_weights(reference, folder)
    assert epoch_rows(folder) == epoch_rows(reference)
    assert json.loads((leaf / "done.json").read_text())["global_step"] == 15


def _tmpfs(folder: Path, size: str) -> bool:
    """Mount a ``size`` tmpfs at ``folder`` (or remount it at that size); False where not allowed."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        return False
    folder.mkdir(exist_ok=True)
    options = f"size={size}" + (",remount" if os.path.ismount(folder) else "")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)],
                          capture_output=True)  # fmt: skip
    return done.returncode == 0


def test_a_full_disk_is_one_line_exit_2_nothing_partial_and_resumes(tmp_path, reference):
    disk = tmp_path / "disk"
    mounted = _tmpfs(disk, "300k")
    try:
        folder = make_run(disk / "run")
        full = train(folder) if mounted else train(folder, FEWSHOT_DISK_BYTES="300000")
        assert full.returncode == 2, full.stderr[-3000:]
        (line,) = error_lines(full.stderr)
        assert "no space left on device to write" in line and str(folder / LEAF) in line
        assert "run the same command again" in line and "Traceback" not in full.stderr
        assert leftovers(folder) == []
        for ckpt in folder.rglob("*.ckpt"):  # whatever was written is whole
            torch.load(ckpt, weights_only=False)
        if mounted:
            assert _tmpfs(disk, "20m")  # space freed
        again = train(folder)
        assert again.returncode == 0, again.stderr[-3000:]
        assert_same_weights(reference, folder)
        assert epoch_rows(folder) == epoch_rows(reference)
    finally:
        if mounted:
            subprocess.run(["umount", str(disk)], check=False)


def test_a_sigterm_in_library_training_checkpoints_and_resumes_to_identical_weights(tmp_path):
    """``train_archs`` called from a script (not a command): the training installs the handler
    itself; the script ends with :class:`fewshot.faults.Preempted` after the checkpoint."""
    script = str(REPO_ROOT / "tests" / "training" / "standalone_script.py")
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT), OMP_NUM_THREADS="1")

    def run(out: Path, **faults: str) -> subprocess.CompletedProcess:
        head = [str(DRIVER)] if faults else []
        return subprocess.run([sys.executable, *head, script, str(out), "tensor"],
                              env={**env, **faults}, capture_output=True, text=True,
                              timeout=600)  # fmt: skip

    assert run(tmp_path / "full").returncode == 0
    stopped = run(tmp_path / "term", FEWSHOT_KILL_AT_STEP="7", FEWSHOT_KILL_SIGNAL="SIGTERM")
    assert stopped.returncode != 0 and "Preempted" in stopped.stderr, stopped.stderr[-3000:]
    (ckpt,) = (tmp_path / "term").rglob("last.ckpt")
    assert torch.load(ckpt, weights_only=False)["global_step"] == 8
    assert run(tmp_path / "term").returncode == 0
    states = [
        torch.load(next((tmp_path / n).rglob("last.ckpt")), weights_only=False)["state_dict"]
        for n in ("full", "term")
    ]
    assert states[0].keys() == states[1].keys()
    assert all(torch.equal(states[0][k], states[1][k]) for k in states[0])
