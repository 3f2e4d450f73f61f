"""The one Trainer factory: hardware mapping, quiet output, GPU options, resuming, accuracy."""

from __future__ import annotations

import logging
import os

import pytest
import pytorch_lightning as pl
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from fewshot.data import make_datamodule
from fewshot.models.supernet import build_network
from fewshot.spaces.nb201 import Arch
from fewshot.training.module import LeafModule
from fewshot.training.standalone import StandaloneSettings, arch_folder, train_arch
from fewshot.training.trainer import (
    LR_BASE_BATCH,
    RecordSettings,
    TrainerSettings,
    accuracy,
    eval_device,
    last_checkpoint_callback,
    make_trainer,
    prepare_model,
    quiet_lightning,
    resume_checkpoint,
    scaled_lr,
)

ARCH = Arch.from_string("|nor_conv_3x3~0|+|skip_connect~0|none~1|+|none~0|none~1|avg_pool_3x3~2|")
QUIET_CPU = TrainerSettings(accelerator="cpu", devices=1, progress_bar=False)


@pytest.fixture(autouse=True)
def _restore_lightning_loggers():
    yield
    quiet_lightning(False)


class AutocastProbe(pl.LightningModule):
    """One linear layer; records whether its forward ran under CPU autocast, and in which dtype."""

    def __init__(self) -> None:
        super().__init__()
        self.layer = nn.Linear(4, 2)
        self.seen: list[tuple[bool, torch.dtype]] = []

    def training_step(self, batch, batch_idx):
        x, y = batch
        self.seen.append((torch.is_autocast_enabled("cpu"), torch.get_autocast_dtype("cpu")))
        return nn.functional.cross_entropy(self.layer(x).float(), y)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


def _fit_probe(tmp_path, precision: str | None) -> AutocastProbe:
    data = DataLoader(TensorDataset(torch.randn(8, 4), torch.arange(8) % 2), batch_size=4)
    hardware = TrainerSettings(
        accelerator="cpu", devices=1, progress_bar=False, precision=precision
    )
    probe = AutocastProbe()
    make_trainer(hardware, max_epochs=1, out_dir=tmp_path, limit_train_batches=1).fit(probe, data)
    return probe


def test_make_trainer_maps_the_hardware_and_stays_quiet(tmp_path, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # restored after the test, as the threads are
    monkeypatch.setattr(torch, "set_num_threads", lambda n: threads.append(n))
    threads: list[int] = []
    hardware = TrainerSettings(accelerator="cpu", devices="1", progress_bar=False, threads=3)
    trainer = make_trainer(hardware, max_epochs=2, out_dir=tmp_path, gradient_clip_val=5.0)
    assert threads == [3] and os.environ["OMP_NUM_THREADS"] == "3"
    assert trainer.max_epochs == 2 and trainer.gradient_clip_val == 5.0
    assert trainer.num_devices == 1 and trainer.precision == "32-true"
    assert trainer.progress_bar_callback is None
    assert not any(isinstance(c, pl.callbacks.ModelSummary) for c in trainer.callbacks)
    assert trainer.checkpoint_callback is None  # none asked for: none written
    assert not logging.getLogger("pytorch_lightning.utilities.rank_zero").isEnabledFor(logging.INFO)


def test_accuracy_is_measured_where_the_training_ran(monkeypatch):
    assert eval_device(QUIET_CPU) == torch.device("cpu")
    assert eval_device(TrainerSettings(accelerator="gpu", devices="[1]")) == torch.device("cuda", 1)
    assert eval_device(TrainerSettings(accelerator="gpu", devices=1)) == torch.device("cuda", 0)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert eval_device(TrainerSettings()) == torch.device("cpu")  # auto without CUDA


def test_bf16_flag_reaches_the_trainer_and_autocasts_the_forward(tmp_path):
    assert _fit_probe(tmp_path / "bf16", "bf16-mixed").seen == [(True, torch.bfloat16)]
    assert not _fit_probe(tmp_path / "default", None).seen[0][0]  # default: full precision


def test_channels_last_puts_the_weights_in_channels_last(tmp_path):
    def module() -> LeafModule:
        return LeafModule(build_network(ARCH, C=4, N=1), val_bn="running")

    def convs(hardware: TrainerSettings) -> list[torch.Tensor]:  # 3x3 kernels: formats differ
        return [p for p in prepare_model(module(), hardware).parameters() if p.ndim == 4
                and p.shape[1] > 1 and p.shape[-1] > 1]  # fmt: skip

    assert convs(QUIET_CPU) and not any(
        p.is_contiguous(memory_format=torch.channels_last) for p in convs(QUIET_CPU)
    )
    fast = TrainerSettings(channels_last=True)
    assert all(p.is_contiguous(memory_format=torch.channels_last) for p in convs(fast))


def test_compile_flag_wraps_the_module():
    module = LeafModule(build_network(ARCH, C=4, N=1), val_bn="running")
    compiled = prepare_model(module, TrainerSettings(compile=True))
    assert isinstance(compiled, torch._dynamo.eval_frame.OptimizedModule)
    assert compiled._orig_mod is module  # the caller's module keeps the trained weights


@pytest.mark.slow
def test_a_compiled_standalone_training_runs(tmp_path):
    dm = make_datamodule("synthetic", batch_size=8, num_train=32, num_test=8, image_size=8)
    settings = StandaloneSettings(C=4, N=1, epochs=1, limit_train_batches=1)
    try:
        result = train_arch(ARCH, dm, settings, hardware=TrainerSettings(
            accelerator="cpu", devices=1, progress_bar=False, compile=True))  # fmt: skip
    except Exception as exc:
        if not no_cxx_compiler(exc):
            raise
        pytest.skip(f"torch.compile does not run here: {exc}".splitlines()[0])
    assert 0 <= result["test_acc"] <= 100


def no_cxx_compiler(exc: BaseException | None) -> bool:
    """Whether ``exc`` is, or wraps, inductor's "no working C++ compiler" error.

    Without a compiler (``CXX`` unset and no ``g++``), torch 2.x raises ``InductorError`` (a
    ``BackendCompilerFailed``) whose ``inner_exception`` is ``InvalidCxxCompiler``; any other
    failure of a compiled training is a failure of this test.
    """
    from torch._inductor.exc import InvalidCxxCompiler

    seen = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, InvalidCxxCompiler):
            return True
        seen.add(id(exc))
        exc = getattr(exc, "inner_exception", None) or exc.__cause__ or exc.__context__
    return False


def test_no_cxx_compiler_matches_only_inductors_missing_compiler_error():
    from torch._dynamo.exc import BackendCompilerFailed
    from torch._inductor.exc import InvalidCxxCompiler

    missing = InvalidCxxCompiler("/nonexistent/g++")
    assert no_cxx_compiler(missing)
    assert no_cxx_compiler(BackendCompilerFailed(lambda: None, missing, None))
    try:
        raise RuntimeError("in Lightning's fit") from missing
    except RuntimeError as exc:
        assert no_cxx_compiler(exc)
    assert not no_cxx_compiler(BackendCompilerFailed(lambda: None, ValueError("bug"), None))
    assert not no_cxx_compiler(RuntimeError("shape mismatch"))


def test_linear_lr_scaling_rule():
    assert LR_BASE_BATCH == 64
    assert scaled_lr(0.025, 64, "linear") == 0.025  # the spec's batch keeps the spec's lr
    assert scaled_lr(0.025, 256, "linear") == pytest.approx(0.1)
    assert scaled_lr(0.025, 32, "linear") == pytest.approx(0.0125)
    assert scaled_lr(0.025, 256, "none") == 0.025  # the default: lr as given
    with pytest.raises(ValueError, match="sqrt"):
        scaled_lr(0.025, 256, "sqrt")  # type: ignore[arg-type]


def test_accuracy_is_top1_in_eval_mode_without_grad():
    model = nn.Sequential(nn.Linear(2, 2, bias=False), nn.BatchNorm1d(2, affine=False))
    with torch.no_grad():
        model[0].weight.copy_(torch.eye(2))
    x = torch.tensor([[1.0, 0.0], [0.0, 1.0], [2.0, 0.0]])
    batches = [(x[:2], torch.tensor([0, 1])), (x[2:], torch.tensor([1]))]
    assert accuracy(model, batches) == pytest.approx(200 / 3)  # running stats: identity
    assert not model.training and x.grad is None

    class Flip(nn.Module):
        def forward(self, x, arch):
            return x * arch

    assert accuracy(Flip(), batches, arch=-1) == pytest.approx(100 / 3)
    with pytest.raises(ValueError, match="no batches"):
        accuracy(model, [])


def test_resume_checkpoint_only_for_the_same_settings(tmp_path):
    data = DataLoader(TensorDataset(torch.randn(8, 4), torch.arange(8) % 2), batch_size=4)
    record = {"lr": 0.1, "seed": 0}
    callbacks = [last_checkpoint_callback(tmp_path), RecordSettings(record)]
    make_trainer(QUIET_CPU, max_epochs=1, out_dir=tmp_path, callbacks=callbacks).fit(
        AutocastProbe(), data
    )
    last = tmp_path / "checkpoints" / "last.ckpt"
    assert resume_checkpoint(tmp_path, QUIET_CPU, record) == last
    assert resume_checkpoint(tmp_path, QUIET_CPU) == last
    assert resume_checkpoint(tmp_path, QUIET_CPU, {"lr": 0.2, "seed": 0}) is None
    assert resume_checkpoint(tmp_path, TrainerSettings(fast_dev_run=True), record) is None
    assert resume_checkpoint(tmp_path / "elsewhere", QUIET_CPU, record) is None


def test_standalone_training_resumes_from_its_checkpoint(tmp_path, monkeypatch):
    def data():
        return make_datamodule("synthetic", batch_size=16, num_train=64, num_test=16, image_size=8)

    steps = []  # training steps taken, so retraining from scratch cannot pass for a resume
    step = LeafModule.training_step

    def counted(self, *args, **kwargs):
        steps.append(self.global_step)
        return step(self, *args, **kwargs)

    monkeypatch.setattr(LeafModule, "training_step", counted)
    settings = StandaloneSettings(C=4, N=1, epochs=1, limit_train_batches=2)
    out = arch_folder(tmp_path, ARCH)
    first = train_arch(ARCH, data(), settings, out_dir=out)
    assert steps == [0, 1]
    assert (out / "checkpoints" / "last.ckpt").is_file()
    again = train_arch(ARCH, data(), settings, out_dir=out)  # resumes after its last epoch
    assert steps == [0, 1]  # the resumed run starts at the end: no step is taken again
    assert (again["val_acc"], again["test_acc"]) == (first["val_acc"], first["test_acc"])
    more = StandaloneSettings(C=4, N=1, epochs=1, limit_train_batches=3)  # other settings:
    train_arch(ARCH, data(), more, out_dir=out)  # no resume, trained from step 0
    assert steps == [0, 1, 0, 1, 2]
    assert not torch.are_deterministic_algorithms_enabled()
