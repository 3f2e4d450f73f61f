"""The thread count and the device are result-affecting settings of a training run (issue 31):
recorded beside the weights (``compute.json``, ``done.json``) and a resume under others is
refused with one line."""

from __future__ import annotations

import json

import pytest
import torch

from fewshot.data import make_datamodule
from fewshot.errors import UsageError
from fewshot.spaces import get_space
from fewshot.training.runner import TrainerSettings, TrainSettings, train_subsupernet
from fewshot.training.trainer import compute_difference, compute_record


@pytest.fixture
def restore_threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def _train(folder, threads: int, epochs: int) -> None:
    dm = make_datamodule("synthetic", batch_size=16, num_train=64, num_test=16, image_size=8)
    hw = TrainerSettings(accelerator="cpu", devices=1, progress_bar=False, threads=threads,
                         limit_val_batches=0)  # fmt: skip
    train_subsupernet(
        get_space().full_mask(), dm, folder, TrainSettings(C=4, N=1, epochs=epochs), hw
    )


def test_the_record_holds_the_effective_threads_and_the_device(restore_threads):
    record = compute_record(TrainerSettings(accelerator="cpu", threads=2))
    assert record["device"] == "cpu" and record["threads"] == 2 and torch.get_num_threads() == 2
    assert record["cpu_capability"] and record["onednn"]
    torch.set_num_threads(3)  # no --threads: torch's count (one per core by default) is recorded
    assert compute_record(TrainerSettings(accelerator="cpu"))["threads"] == 3


def test_differences_compare_threads_on_the_cpu_only():
    cpu1, cpu2 = {"device": "cpu", "threads": 1}, {"device": "cpu", "threads": 2}
    assert compute_difference(cpu1, cpu2) == ["threads: 1 -> 2"]
    assert compute_difference(cpu1, cpu1) == []
    gpu1, gpu8 = {"device": "cuda", "threads": 1}, {"device": "cuda", "threads": 8}
    assert compute_difference(gpu1, gpu8) == []  # the GPU does the arithmetic
    assert compute_difference(cpu1, gpu1) == ["device: 'cpu' -> 'cuda'"]


def test_a_resume_under_another_thread_count_is_refused(tmp_path, restore_threads):
    _train(tmp_path, threads=1, epochs=1)
    assert json.loads((tmp_path / "compute.json").read_text())["threads"] == 1
    done = json.loads((tmp_path / "done.json").read_text())
    assert (done["compute"]["device"], done["compute"]["threads"]) == ("cpu", 1)
    with pytest.raises(UsageError) as exc:  # epochs 2 resumes from the 1-epoch checkpoint
        _train(tmp_path, threads=2, epochs=2)
    message = str(exc.value)
    assert "threads: 1 -> 2" in message and "--threads" in message and "\n" not in message
    assert json.loads((tmp_path / "done.json").read_text())["epochs"] == 1  # left as it was
    _train(tmp_path, threads=1, epochs=2)  # the recorded count resumes
    done = json.loads((tmp_path / "done.json").read_text())
    assert done["epochs"] == 2 and done["resumed_from"] is not None


def test_a_folder_trained_before_the_record_existed_resumes(tmp_path, restore_threads):
    _train(tmp_path, threads=1, epochs=1)
    (tmp_path / "compute.json").unlink()
    _train(tmp_path, threads=2, epochs=2)
    assert json.loads((tmp_path / "done.json").read_text())["compute"]["threads"] == 2


def test_standalone_training_refuses_a_checkpoint_of_another_thread_count(
    tmp_path, restore_threads
):
    """fit_resumable (standalone archs, refinement) keeps the record in its checkpoints."""
    from fewshot.training.standalone import StandaloneSettings, train_arch

    arch = get_space().Arch.from_string(
        "|nor_conv_3x3~0|+|skip_connect~0|none~1|+|none~0|none~1|avg_pool_3x3~2|"
    )
    settings = StandaloneSettings(C=4, N=1, epochs=1, limit_train_batches=2)

    def run(threads: int) -> dict:
        dm = make_datamodule("synthetic", batch_size=16, num_train=64, num_test=16, image_size=8)
        hw = TrainerSettings(accelerator="cpu", devices=1, progress_bar=False, threads=threads)
        return train_arch(arch, dm, settings, hardware=hw, out_dir=tmp_path)

    first = run(1)
    with pytest.raises(UsageError, match=r"other compute settings \(threads: 1 -> 2\)"):
        run(2)
    assert run(1)["val_acc"] == first["val_acc"]  # the recorded count resumes (finished)
