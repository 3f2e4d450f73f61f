"""``fewshot.refine.evaluate``: the trainer honours ``--device``, and a killed training resumes
to the same weights (issue 19 item 3, issue 23)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch

from fewshot.refine.evaluate import main as evaluate_main
from tests.conftest import REPO_ROOT

DRIVER = Path(__file__).with_name("kill_resume_driver.py")
EVALUATE = ["--candidates", "2", "--batch-size", "16", "--milestones", "1",
            "--dataset", "synthetic", "--data-option", "num_train=64",
            "--data-option", "num_test=16", "--score-batch-size", "8", "--threads", "1",
            "--no-progress", "--no-baseline"]  # fmt: skip


@pytest.fixture
def run_dir(refined_run: Path) -> Path:
    return refined_run


class TrainerAsked(Exception):
    """Raised by the fake ``Trainer``: the arguments were captured, stop there."""


@pytest.fixture
def trainer_kwargs(monkeypatch: pytest.MonkeyPatch) -> dict:
    """The keyword arguments of the next ``pl.Trainer(...)``, which raises :class:`TrainerAsked`."""
    captured: dict = {}

    def fake_trainer(**kwargs):
        captured.update(kwargs)
        raise TrainerAsked

    monkeypatch.setattr(pl, "Trainer", fake_trainer)
    return captured


@pytest.mark.parametrize(("device", "devices"), [("cuda", 1), ("cuda:1", [1])])
def test_evaluate_on_a_cuda_device_asks_lightning_for_the_gpu(
    run_dir, trainer_kwargs, monkeypatch, device, devices
):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    argv = [str(run_dir), *EVALUATE, "--epochs", "1", "--device", device]
    with pytest.raises(TrainerAsked):
        evaluate_main([*argv, "--precision", "bf16-mixed"])
    assert trainer_kwargs["accelerator"] == "gpu" and trainer_kwargs["devices"] == devices
    assert trainer_kwargs["precision"] == "bf16-mixed"
    assert trainer_kwargs["enable_model_summary"] is False
    assert trainer_kwargs["enable_progress_bar"] is False


def test_evaluate_on_the_cpu_asks_lightning_for_the_cpu(run_dir, trainer_kwargs):
    with pytest.raises(TrainerAsked):
        evaluate_main([str(run_dir), *EVALUATE, "--epochs", "1", "--device", "cpu"])
    assert trainer_kwargs["accelerator"] == "cpu"
    assert "precision" not in trainer_kwargs  # Lightning's default, 32-true


def test_evaluate_refuses_a_cuda_device_that_is_not_there(run_dir, monkeypatch, capsys):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert evaluate_main([str(run_dir), *EVALUATE, "--device", "cuda"]) == 2
    assert "CUDA is not available" in capsys.readouterr().err


# -- kill and resume ----------------------------------------------------------------------------


def _drive(count: Path, *args: str, kill: bool = False) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, str(DRIVER), str(count), *(["--kill"] if kill else []), *args]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)


def _epochs_run(count: Path) -> int:
    return json.loads(count.read_text())["epochs_run"]


def _same_weights(a: Path, b: Path) -> bool:
    wa, wb = (torch.load(p, map_location="cpu", weights_only=True) for p in (a, b))
    return wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)


def _killed_then_resumed(tmp_path: Path, args: list[str], out: Path) -> None:
    """Run ``args`` killed at the start of its second epoch, then again; check it resumed."""
    killed = _drive(tmp_path / "killed.json", *args, kill=True)
    assert killed.returncode == -9, killed.stderr[-2000:]
    assert (out / "checkpoints" / "last.ckpt").is_file() and not (out / "weights.pt").exists()
    resumed = _drive(tmp_path / "resumed.json", *args)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert _epochs_run(tmp_path / "resumed.json") == 2  # epochs 2 and 3: it resumed
    assert "GPU available" not in resumed.stderr + resumed.stdout  # quiet without progress


@pytest.mark.slow
def test_killed_training_resumes_to_the_same_weights(tmp_path):
    """Fixed-order data: what the trainer restores (weights, optimizer, lr schedule, epoch)
    makes a killed-and-resumed run end bitwise where an uninterrupted run ends."""
    whole, cut = tmp_path / "whole", tmp_path / "cut"
    done = _drive(tmp_path / "whole.json", "library", str(whole))
    assert done.returncode == 0, done.stderr[-2000:]
    assert _epochs_run(tmp_path / "whole.json") == 3
    _killed_then_resumed(tmp_path, ["library", str(cut)], cut)
    assert _same_weights(whole / "weights.pt", cut / "weights.pt")
    assert json.loads((whole / "result.json").read_text()) == json.loads(
        (cut / "result.json").read_text()
    )


@pytest.mark.slow
def test_killed_evaluate_resumes_to_the_same_result(run_dir, tmp_path):
    """``fewshot.refine.evaluate`` killed after its first checkpoint and re-run ends with the
    weights and evaluation.json of an uninterrupted run (the data module's shuffled order
    must be a function of the seed and the epoch for this)."""
    argv = [*EVALUATE, "--epochs", "3", "--limit-train-batches", "2"]
    whole, cut = tmp_path / "whole", tmp_path / "cut"
    done = _drive(tmp_path / "whole.json", "cli", str(run_dir), *argv, "--out", str(whole))
    assert done.returncode == 0, done.stderr[-2000:]
    _killed_then_resumed(tmp_path, ["cli", str(run_dir), *argv, "--out", str(cut)], cut / "top")
    assert json.loads((whole / "evaluation.json").read_text()) == json.loads(
        (cut / "evaluation.json").read_text()
    )
    assert _same_weights(whole / "top" / "weights.pt", cut / "top" / "weights.pt")
