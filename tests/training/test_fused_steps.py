"""Fused training steps (issue 30, a lean step): one Lightning batch carries ``steps_per_call``
training batches, each its own optimiser step, and every run gives what one batch per Lightning
batch gives, bit for bit: weights, ``metrics.jsonl``, ``logs/metrics.csv`` and ``done.json``
(for whole epochs, a step budget that ends inside a chunk, several archs per step, another
schedule, tight clipping, and a preemption resumed with another chunk size)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import Tensor

from fewshot import faults
from fewshot.data.tensor import CHUNK_KEY, ChunkSampler, chunk_batches
from fewshot.spaces import get_space
from fewshot.training.module import LeafModule, carry_step_count
from fewshot.training.runner import TrainerSettings, train_subsupernet
from fewshot.training.trainer import fused_steps
from tests.training.tiny_run import (
    MASK,
    cpu_hardware,
    run_outputs,
    tiny_data,
    tiny_settings,
    train_tiny,
)


def _data(data_path: str = "tensor"):
    """:func:`tiny_data` read through ``data_path`` (``tensor`` can fuse steps)."""
    return tiny_data(data_path=data_path)


def _hw(steps: int) -> TrainerSettings:
    return cpu_hardware(steps_per_call=steps)


def _outputs(out: Path) -> dict[str, object]:
    return run_outputs(out, ignore=("resumed_from", "steps_per_call"))


def _train(
    out: Path, steps: int, data_path: str = "tensor", **settings: object
) -> dict[str, object]:
    trainer = train_tiny(out, _data(data_path), _hw(steps), **settings)
    assert trainer.lightning_module.automatic_optimization == (steps == 1)
    assert trainer.gradient_clip_val == (settings.get("grad_clip", 5.0) if steps == 1 else None)
    return _outputs(out)


def assert_same(a: dict[str, object], b: dict[str, object]) -> None:
    wa, wb = a["weights"], b["weights"]
    assert isinstance(wa, dict) and isinstance(wb, dict) and wa.keys() == wb.keys()
    for key, value in wa.items():
        assert torch.equal(value, wb[key]), key
    assert a["epochs"] == b["epochs"] and a["epochs"]
    assert a["csv"] == b["csv"] and "train_loss_step" in str(a["csv"])
    assert a["done"] == b["done"]


@pytest.mark.parametrize(
    "settings",
    [
        {},  # whole epochs: chunks of 4 cross the logging step 9; chunks of 5 end short
        {"max_steps": 15},  # a budget inside epoch 2's chunk 12-15 (4) / 10-14 (5)
        {"sampling": "sandwich"},  # four archs per optimiser step
        {"schedule": "step", "milestones": (1,), "gamma": 0.5},  # an epoch-interval schedule
        {"grad_clip": 0.01},  # clipping that bites: applied once, where Lightning applies it
    ],
    ids=["epochs", "budget", "sandwich", "step-schedule", "clip"],
)
def test_fused_steps_train_bitwise_as_one_step_per_batch(tmp_path, settings) -> None:
    one = _train(tmp_path / "one", 1, **settings)
    for steps in (4, 5, 64):
        assert_same(_train(tmp_path / f"fused{steps}", steps, **settings), one)
    if "max_steps" in settings:
        assert one["done"]["global_step"] == 15  # type: ignore[index]


def test_the_loader_path_steps_once_per_batch_with_the_same_results(tmp_path) -> None:
    """The loader path gives one batch per item: a fusing module then steps once per call
    (manual optimisation), with the results of Lightning's own loop."""
    one = _train(tmp_path / "one", 1, "loader", max_steps=15)
    assert_same(_train(tmp_path / "fused", 8, "loader", max_steps=15), one)


def test_the_clip_test_can_fail(tmp_path) -> None:
    """Clipping at 0.01 changes the weights (so the ``clip`` case above checks clipping)."""
    tight = _train(tmp_path / "tight", 4, grad_clip=0.01)["weights"]
    loose = _train(tmp_path / "loose", 4, grad_clip=None)["weights"]
    assert isinstance(tight, dict) and isinstance(loose, dict)
    assert not all(torch.equal(tight[k], loose[k]) for k in tight)


@pytest.mark.parametrize(("before", "after"), [(5, 3), (5, 1), (1, 4)])
def test_a_preempted_run_resumes_bitwise_under_another_chunk_size(
    tmp_path, monkeypatch, before, after
) -> None:
    """SIGTERM at step 7 (inside a chunk): the checkpoint is saved at step 8, as unfused, and
    the run resumed with another ``steps_per_call`` (fused or not) ends as an uninterrupted
    one, logs included."""
    reference = _train(tmp_path / "reference", 1)
    original = LeafModule.step_loss

    def step_loss(self: LeafModule, batch: tuple[Tensor, Tensor]) -> Tensor:
        if self.global_step == 7 and faults.preemption_signal() is None:
            faults.request_preemption()
        return original(self, batch)

    out = tmp_path / "preempted"
    monkeypatch.setattr(LeafModule, "step_loss", step_loss)
    settings = tiny_settings()
    with pytest.raises(faults.Preempted):
        train_subsupernet(MASK, _data(), out, settings, _hw(before))
    monkeypatch.setattr(LeafModule, "step_loss", original)
    checkpoint = torch.load(out / "checkpoints" / "last.ckpt", weights_only=False)
    assert checkpoint["global_step"] == 8
    assert checkpoint["MixedValidation"]["data_batches"] == 8  # training batches, not chunks
    assert not (out / "weights.pt").exists()
    train_subsupernet(MASK, _data(), out, settings, _hw(after))
    assert_same(_outputs(out), reference)


def test_an_epoch_end_checkpoint_resumes_fused_from_unfused(tmp_path) -> None:
    """A run of one epoch unfused, continued to two fused (and the reverse) ends as one
    continued unfused: the optimiser step counter (Lightning keeps automatic and manual steps
    apart) carries over."""
    _train(tmp_path / "reference", 1, epochs=1)
    reference = _train(tmp_path / "reference", 1)
    for first, second in ((1, 5), (5, 1)):
        out = tmp_path / f"{first}-{second}"
        _train(out, first, epochs=1)
        assert_same(_train(out, second), reference)


def test_the_step_counter_carries_to_the_optimisation_that_resumes() -> None:
    def checkpoint(automatic: int, manual: int) -> dict:
        step = {"total": {"ready": automatic, "completed": automatic},
                "current": {"ready": 1, "completed": 1}}  # fmt: skip
        return {"loops": {"fit_loop": {
            "epoch_loop.automatic_optimization.optim_progress": {"optimizer": {"step": step}},
            "epoch_loop.manual_optimization.optim_step_progress": {
                "total": {"ready": manual, "completed": manual},
                "current": {"ready": 0, "completed": 0}},
        }}}  # fmt: skip

    ckpt = checkpoint(12, 0)
    carry_step_count(ckpt, manual=True)
    manual = ckpt["loops"]["fit_loop"]["epoch_loop.manual_optimization.optim_step_progress"]
    assert manual["total"]["completed"] == 12 and manual["current"]["completed"] == 1
    ckpt = checkpoint(12, 20)
    carry_step_count(ckpt, manual=False)
    auto = ckpt["loops"]["fit_loop"]["epoch_loop.automatic_optimization.optim_progress"]
    assert auto["optimizer"]["step"]["total"]["completed"] == 20
    ckpt = checkpoint(12, 20)
    carry_step_count(ckpt, manual=True)  # already the larger: untouched
    manual = ckpt["loops"]["fit_loop"]["epoch_loop.manual_optimization.optim_step_progress"]
    assert manual["total"]["completed"] == 20
    carry_step_count({}, manual=True)  # no loops: nothing to do


def test_a_subclass_with_its_own_step_keeps_lightnings_loop() -> None:
    class OwnStep(LeafModule):
        def training_step(self, batch, batch_idx):  # type: ignore[override]
            return super().step_loss(batch)

    net = get_space().build_supernet(C=4, N=1)
    assert LeafModule(net).fuse_steps(8) and not OwnStep(net).fuse_steps(8)
    assert not LeafModule(net).fuse_steps(1)


def test_fused_steps_only_where_a_lightning_batch_may_carry_several() -> None:
    assert fused_steps(_hw(8)) == 8 and fused_steps(_hw(1)) == 1
    ddp = TrainerSettings(accelerator="gpu", devices="0,1", strategy="ddp", steps_per_call=8)
    assert fused_steps(ddp) == 1
    assert fused_steps(TrainerSettings(accelerator="cpu", devices=1, fast_dev_run=True)) == 1
    assert fused_steps(TrainerSettings(accelerator="cpu", devices=1, limit_train_batches=3)) == 1


def test_the_chunk_sampler_cuts_at_multiples_and_continues_a_skip() -> None:
    sampler = ChunkSampler(10, seed=0, steps=4)
    sampler.set_epoch(2)
    assert list(sampler) == [(2, 0, 4), (2, 4, 8), (2, 8, 10)] and len(sampler) == 10
    sampler.skip_once(5)  # a resumed epoch: a short first chunk, then the same cuts
    assert list(sampler) == [(2, 5, 8), (2, 8, 10)]
    assert list(sampler)[0] == (2, 0, 4)  # the skip is once


def test_a_chunk_is_the_batches_one_by_one() -> None:
    dm = _data()
    dm.setup()
    batches = dm.train_dataloader().dataset
    chunk = batches[(1, 9, 12)]
    assert set(chunk) == {CHUNK_KEY}
    parts = chunk_batches(chunk)
    assert len(parts) == 3 and len(parts[-1][1]) == 180 - 11 * 16
    for b, (x, y) in zip(range(9, 12), parts, strict=True):
        one_x, one_y = batches[(1, b)]
        assert torch.equal(x, one_x) and torch.equal(y, one_y)
    small = type(batches)(batches.data, batches.indices.tolist(), 16, batches.seed, batches.aug,
                          epoch_bytes=0)  # fmt: skip
    for (x, y), (sx, sy) in zip(parts, chunk_batches(small[(1, 9, 12)]), strict=True):
        assert torch.equal(x, sx) and torch.equal(y, sy)  # made batch by batch: the same
    x, y = parts[0]
    assert chunk_batches((x, y))[0][0] is x  # a plain batch is one step
