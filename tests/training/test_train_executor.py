"""``fewshot.train --executor ray``: one Ray task per leaf gives the files of the local run; a
leaf that raises is named while the other is trained; running again finishes it."""

from __future__ import annotations

import json
import shutil

import pytest
import torch

import fewshot.training.parallel as parallel
from fewshot.errors import UsageError
from fewshot.train import main
from fewshot.training.runner import TrainerSettings
from tests.training.test_train_cli import FAST
from tests.training.test_train_cli import run_dir as run_dir  # noqa: F401  (fixture)

SHORT = [*FAST, "--epochs", "1", "--limit-train-batches", "2", "--limit-val-batches", "1"]
SHORT += ["--search-k", "4", "--search-val-batches", "1", "--threads", "1"]
RAY = ["--executor", "ray", "--workers", "2"]


def _outputs(run) -> dict:
    """What training and search wrote, without timings and resume bookkeeping."""
    out = {}
    for leaf in ("1", "2"):
        folder = run / "leaves" / leaf
        done = json.loads((folder / "done.json").read_text())
        done.pop("resumed_from")
        weights = torch.load(folder / "weights.pt", weights_only=True)
        out[leaf] = (done, {k: v.tolist() for k, v in weights.items()})
    search = json.loads((run / "search.json").read_text())
    for leaf in search["searches"]["few-shot"]["leaves"].values():
        leaf.pop("seconds", None)
    out["search"] = search["searches"]
    return out


def test_ray_trains_each_leaf_in_a_task_with_the_local_results(
    run_dir,  # noqa: F811
    tmp_path,
    ray_session,
    monkeypatch,
    capsys,
    caplog,
):
    run = shutil.copytree(run_dir, tmp_path / "ray")  # the same tree, untrained
    assert main([str(run_dir), *SHORT]) == 0
    local_outputs = _outputs(run_dir)
    real = parallel.train_leaf

    def fail_leaf_two(context, job):  # a local function: shipped to the Ray workers by value
        if job.id == "2":
            raise RuntimeError("lost the node")
        return real(context, job)

    monkeypatch.setattr(parallel, "train_leaf", fail_leaf_two)
    assert main([str(run), *SHORT, *RAY]) == 1
    err = capsys.readouterr().err
    assert "leaf 2: RuntimeError: lost the node" in err and "run again" in err
    assert (run / "leaves" / "1" / "weights.pt").is_file()
    assert not (run / "leaves" / "2" / "weights.pt").exists()
    monkeypatch.setattr(parallel, "train_leaf", real)
    caplog.set_level("INFO", logger="fewshot")
    assert main([str(run), *SHORT, *RAY]) == 0  # only leaf 2 is sent to Ray
    assert "1 of 2 jobs already trained" in caplog.text
    assert _outputs(run) == local_outputs


def test_ray_tasks_use_their_own_hardware_and_refuse_ddp():
    hw = TrainerSettings(accelerator="auto", devices="0,1", strategy="ddp", num_nodes=2)
    assert parallel.task_hardware(hw, 0.5).accelerator == "gpu"
    cpu = parallel.task_hardware(hw, 0)
    assert (cpu.accelerator, cpu.devices, cpu.strategy) == ("cpu", "auto", "auto")
    with pytest.raises(UsageError, match="--executor local"):
        parallel._check_one_process_per_task(hw)
