"""LeafModule: single-path steps inside the leaf's mask, re-initialisation, schedule, resume."""

from __future__ import annotations

import json
import math

import pytest
import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import Callback
from torch.utils.data import DataLoader, TensorDataset

from fewshot.models.supernet import Supernet
from fewshot.optimiser import SGDSettings
from fewshot.spaces.nb201 import OPS, Mask
from fewshot.training.module import LeafModule, batch_statistics_bn, path_generator
from fewshot.training.runner import TrainerSettings, TrainSettings, train_subsupernet

# No nor_conv_3x3 anywhere; nor_conv_1x1 only on edges 0 and 5.
LEAF = Mask.from_op_lists(
    [
        ["nor_conv_1x1", "skip_connect"],
        ["skip_connect", "avg_pool_3x3"],
        ["none", "skip_connect"],
        ["skip_connect"],
        ["avg_pool_3x3", "none"],
        ["nor_conv_1x1"],
    ]
)


def _loader(n: int = 16, size: int = 8, batch: int = 8) -> DataLoader:
    g = torch.Generator().manual_seed(0)
    data = TensorDataset(torch.randn(n, 3, size, size, generator=g), torch.arange(n) % 10)
    return DataLoader(data, batch_size=batch)


def _trainer(**kw) -> pl.Trainer:
    defaults = dict(
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        limit_val_batches=0,
        gradient_clip_val=5.0,
    )
    return pl.Trainer(**{**defaults, **kw})


def _op_of(name: str) -> tuple[int, str] | None:
    """``(edge, op)`` of a cell-op parameter name, None for shared layers."""
    parts = name.split(".")
    if "edges" not in parts:
        return None
    i = parts.index("edges")
    return int(parts[i + 1]), parts[i + 3]


def test_one_step_changes_only_the_sampled_path_inside_the_mask():
    net = Supernet(C=4, N=1, num_classes=10)  # every op instantiated
    module = LeafModule(net, LEAF, seed=3)
    before = {k: v.clone() for k, v in net.named_parameters()}
    _trainer(max_steps=1).fit(module, train_dataloaders=_loader())
    arch = net.sample_arch(path_generator(3, 0))  # the path step 0 trained
    changed = {k for k, v in net.named_parameters() if not torch.equal(v, before[k])}
    for name in before:
        where = _op_of(name)
        if where is None:
            continue
        edge, op = where
        on_path = arch.ops[edge] == op
        assert (name in changed) == on_path, (name, arch)
        if not LEAF.enabled[edge][OPS.index(op)]:
            assert name not in changed, f"disabled op {name} changed"
    shared = [k for k in before if _op_of(k) is None]
    assert {"stem.0.weight", "classifier.weight"} <= changed
    assert any(k.startswith("cells.") and k in changed for k in shared)  # reduction blocks


def test_reinitialisation_is_seeded_and_fresh():
    a, b = Supernet(C=4, N=1), Supernet(C=4, N=1)
    b.load_state_dict(a.state_dict())
    LeafModule(a, seed=1)
    LeafModule(b, seed=1)
    c = Supernet(C=4, N=1)
    c.load_state_dict(a.state_dict())
    LeafModule(c, seed=2)
    assert all(torch.equal(x, y) for x, y in zip(a.parameters(), b.parameters(), strict=True))
    assert not torch.equal(a.stem[0].weight, c.stem[0].weight)


def test_cosine_schedule_runs_from_lr_to_lr_min():
    module = LeafModule(Supernet(C=4, N=1), LEAF, optimiser=SGDSettings(lr=0.1, lr_min=0.01))
    lrs = []

    class Record(Callback):
        def on_train_batch_start(self, trainer, *args):
            lrs.append(trainer.optimizers[0].param_groups[0]["lr"])

    _trainer(max_epochs=2, callbacks=[Record()]).fit(module, train_dataloaders=_loader(n=32))
    assert lrs[0] == pytest.approx(0.1)
    assert all(a > b for a, b in zip(lrs, lrs[1:], strict=False))
    assert lrs[4] == pytest.approx(0.01 + 0.09 * 0.5 * (1 + math.cos(math.pi * 4 / 8)))
    opt = module.configure_optimizers()["optimizer"]
    assert opt.defaults["nesterov"] and opt.defaults["momentum"] == 0.9
    assert opt.defaults["weight_decay"] == 5e-4


def test_batch_statistics_bn_leaves_running_stats_alone():
    net = Supernet(C=4, N=1).eval()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    with batch_statistics_bn(net):
        net(torch.randn(4, 3, 8, 8), net.sample_arch())
    assert all(torch.equal(v, before[k]) for k, v in net.state_dict().items())
    assert not net.training and all(
        m.track_running_stats for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d)
    )


class _StopAfterFirstEpoch(Callback):
    """Simulates an interrupted run: stop once the first epoch is checkpointed."""

    def on_train_epoch_end(self, trainer, pl_module):
        trainer.should_stop = True


def test_resume_continues_the_epoch_count(tmp_path):
    from fewshot.data import make_datamodule

    dm = make_datamodule("synthetic", batch_size=16, image_size=8, num_train=64, num_test=8)
    settings = TrainSettings(C=4, N=1, epochs=3)
    hw = TrainerSettings(accelerator="cpu", devices=1, progress_bar=False)
    train_subsupernet(LEAF, dm, tmp_path, settings, hw, callbacks=[_StopAfterFirstEpoch()])
    assert (tmp_path / "checkpoints" / "last.ckpt").is_file()
    first = json.loads((tmp_path / "done.json").read_text())
    assert first["epochs"] == 1 and first["resumed_from"] is None
    train_subsupernet(LEAF, dm, tmp_path, settings, hw)
    done = json.loads((tmp_path / "done.json").read_text())
    assert done["epochs"] == 3 and done["resumed_from"].endswith("last.ckpt")
    assert done["global_step"] == 3 * first["global_step"]
    epochs = [json.loads(line)["epoch"] for line in (tmp_path / "metrics.jsonl").open()]
    assert epochs == [1, 2, 3]
    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").open()]
    assert all(0 <= r["val_acc"] <= 1 and r["train_loss"] > 0 for r in rows)
    assert rows[-1]["lr"] == pytest.approx(0.001)


@pytest.mark.slow
def test_ddp_two_cpu_processes_run_a_step(tmp_path):
    from fewshot.data import make_datamodule

    dm = make_datamodule("synthetic", batch_size=8, image_size=8, num_train=64, num_test=8)
    settings = TrainSettings(C=4, N=1, epochs=1)
    hw = TrainerSettings(
        accelerator="cpu",
        devices=2,
        strategy="ddp_spawn",
        limit_train_batches=2,
        limit_val_batches=1,
        progress_bar=False,
    )
    _, trainer = train_subsupernet(LEAF, dm, tmp_path, settings, hw)
    assert trainer.world_size == 2
    done = json.loads((tmp_path / "done.json").read_text())
    assert done["global_step"] == 2
    weights = torch.load(tmp_path / "weights.pt", weights_only=True)
    fresh = Supernet(C=4, N=1, candidates=LEAF)
    LeafModule(fresh, seed=0)  # the same re-initialisation the run started from
    assert not torch.equal(weights["stem.0.weight"], fresh.stem[0].weight)


class _SortedData:
    """A data module stand-in whose held-out part is sorted by class (like an image folder)."""

    batch_size, num_workers = 8, 0

    def val_dataset(self):
        return TensorDataset(torch.arange(40).float(), torch.arange(40) // 10)


def test_mixed_validation_batches_mix_classes_and_cover_the_held_out_set():
    from fewshot.training.runner import MixedValidation

    loader = MixedValidation(_SortedData(), seed=0).val_dataloader()
    batches = list(loader)
    assert all(len(set(y.tolist())) >= 2 for _, y in batches)
    assert sorted(torch.cat([x for x, _ in batches]).tolist()) == list(range(40))
    again = list(MixedValidation(_SortedData(), seed=0).val_dataloader())
    assert all(torch.equal(a[0], b[0]) for a, b in zip(batches, again, strict=True))
