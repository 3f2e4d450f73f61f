"""The lean training step (issue 30): bitwise the weights and logs of the per-step logging it
replaced. The reference below is the training step as it was (``self.log`` of the loss and
top-1 at every step, a new path generator per step); both train a leaf through
``train_subsupernet`` on synthetic data, and everything a run writes must be equal."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import Tensor
from torch.nn.functional import cross_entropy

from fewshot.training import runner
from fewshot.training.module import EpochSums, LeafModule, path_generator
from fewshot.training.trainer import top1
from tests.training.tiny_run import cpu_hardware, run_outputs, tiny_data, train_tiny


class PerStepLogging(LeafModule):
    """The step before issue 30: Lightning accumulates the epoch means from per-step logs."""

    def training_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> Tensor:
        x, y = batch
        arch = self.supernet.sample_arch(path_generator(self.hparams.seed, self.global_step))
        logits = self.supernet(x, arch)
        loss = cross_entropy(logits, y)
        acc = top1(logits, y)
        self.log("train_loss", loss, on_step=True, on_epoch=True, prog_bar=True, sync_dist=True)
        self.log("train_acc", acc, on_step=False, on_epoch=True, prog_bar=True, sync_dist=True)
        return loss

    def on_train_batch_end(self, *args: object) -> None:
        pass


def _train(out: Path, max_steps: int | None) -> dict[str, object]:
    train_tiny(out, tiny_data(), cpu_hardware(), max_steps=max_steps)
    return run_outputs(out)


@pytest.mark.parametrize("max_steps", [None, 17])  # whole epochs; a budget that ends mid-epoch
def test_lean_step_is_bitwise_the_per_step_logging(tmp_path, monkeypatch, max_steps) -> None:
    lean = _train(tmp_path / "lean", max_steps)
    monkeypatch.setattr(runner, "LeafModule", PerStepLogging)
    before = _train(tmp_path / "before", max_steps)
    assert lean["weights"].keys() == before["weights"].keys()
    for key, value in before["weights"].items():
        assert torch.equal(lean["weights"][key], value), key
    assert lean["epochs"] == before["epochs"] and len(lean["epochs"]) == 2
    assert lean["csv"] == before["csv"] and "train_loss_step" in lean["csv"]
    assert lean["done"] == before["done"]


def test_path_generator_reused_draws_as_a_fresh_one() -> None:
    g = torch.Generator()
    for step in (0, 1, 7, 123_456):
        ours = torch.randint(5, (8,), generator=path_generator(2, step, g))
        fresh = torch.randint(5, (8,), generator=path_generator(2, step))
        assert torch.equal(ours, fresh)


def test_epoch_sums_round_trip_through_a_checkpoint_state() -> None:
    sums = EpochSums()
    sums.add(torch.tensor(2.5), torch.tensor(0.25), 16)
    sums.add(torch.tensor(1.5), torch.tensor(0.75), 8)
    again = EpochSums.from_state(sums.state())
    assert [float(v) for v in again.means()] == pytest.approx([(40 + 12) / 24, (4 + 6) / 24])
    assert [float(v) for v in EpochSums.from_state(None).count.reshape(1)] == [0]
