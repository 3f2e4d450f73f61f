"""What ``python -m fewshot.train`` prints, run as a user runs it (a subprocess): no Lightning
banner or unactionable warning with ``--no-progress``, banners at most once without it, a
note saying where the benchmark was looked for, and a closing table with the output paths."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT
from tests.outputs import assert_lists_outputs
from tests.training.test_train_cli import FAST, write_run

BANNERS = (
    "GPU available",
    "TPU available",
    "Tip:",
    "Loading `train_dataloader`",
    "`Trainer.fit` stopped",
    "LeafSpec",  # Lightning's own deprecated torch call
    "logging interval",  # log_every_n_steps: not a fewshot flag
    "| Name",  # a model summary
)
WARNINGS = ("LeafSpec", "logging interval")  # silenced at the source, progress or not


def _train(run_dir: Path, tmp_path: Path, *flags: str) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO_ROOT),
        "OMP_NUM_THREADS": "1",
        "TORCH_HOME": str(tmp_path / "torch"),  # no benchmark in the default folders
        "FEWSHOT_DATA": str(tmp_path / "data"),
    }
    env.pop("FEWSHOT_BENCHMARK", None)
    fast = [f for f in FAST if f != "--no-progress-bar"]
    argv = [str(run_dir), *fast, "--epochs", "1", "--limit-train-batches", "2", *flags]
    return subprocess.run(
        [sys.executable, "-m", "fewshot.train", *argv],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=600,
    )  # fmt: skip


@pytest.mark.parametrize("progress", [False, True], ids=["no-progress", "progress"])
def test_train_output_is_quiet_and_ends_with_a_summary(tmp_path, progress):
    run_dir = write_run(tmp_path)
    flags = [] if progress else ["--no-progress"]
    done = _train(run_dir, tmp_path, *flags)
    printed = done.stdout + done.stderr
    assert done.returncode == 0, printed
    for banner in BANNERS:
        count = printed.count(banner)
        if banner in WARNINGS or not progress:
            assert count == 0, f"{banner!r} printed (progress {progress})\n{printed}"
        else:  # two leaves trained: Lightning's banners still only once
            assert count <= 1, f"{banner!r} printed {count} times\n{printed}"
    if progress:
        assert printed.count("GPU available") == 1  # shown, once
    # the benchmark: said once where it was looked for and how to get it
    assert printed.count("no NATS-Bench benchmark found") == 1
    assert str(tmp_path / "torch" / "NATS-tss-v1_0-3ffb9-simple") in printed
    assert "not judged" in done.stdout
    files = [run_dir / "train_config.yaml", run_dir / "search.json"]
    files += [run_dir / "leaves" / leaf for leaf in ("1", "2")]
    assert_lists_outputs(done.stdout, files)
