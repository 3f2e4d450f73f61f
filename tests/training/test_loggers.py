"""``--logger csv|tensorboard`` (issue 30): the same per-epoch metrics in both, CSV default."""

from __future__ import annotations

import csv

import pytest

from fewshot.data import make_datamodule
from fewshot.spaces import get_space
from fewshot.training.runner import (
    ResumableCSVLogger,
    TrainerSettings,
    TrainSettings,
    make_loggers,
    tensorboard_missing,
    train_subsupernet,
)


def test_csv_is_the_default_and_unknown_kinds_are_refused(tmp_path) -> None:
    loggers = make_loggers(tmp_path)
    assert [type(lg) for lg in loggers] == [ResumableCSVLogger]
    with pytest.raises(ValueError, match="unknown logger 'wandb'"):
        make_loggers(tmp_path, kind="wandb")


def test_tensorboard_gets_the_csv_per_epoch_metrics(tmp_path) -> None:
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    dm = make_datamodule("synthetic", batch_size=16, num_train=96, num_test=32, image_size=8)
    hw = TrainerSettings(accelerator="cpu", devices=1, progress_bar=False, threads=1)
    settings = TrainSettings(C=4, N=1, epochs=2, seed=0)
    train_subsupernet(get_space().full_mask(), dm, tmp_path, settings, hw, logger="tensorboard")
    with (tmp_path / "logs" / "metrics.csv").open() as f:
        rows = list(csv.DictReader(f))
    events = EventAccumulator(str(tmp_path / "logs" / "tensorboard"))
    events.Reload()
    for key in ("train_loss_epoch", "train_acc", "val_acc", "val_loss"):
        in_csv = [float(r[key]) for r in rows if r.get(key)]
        in_tb = [e.value for e in events.Scalars(key)]
        assert len(in_csv) == 2 and in_tb == pytest.approx(in_csv, rel=1e-6), key


def test_the_command_refuses_tensorboard_without_the_package(tmp_path, capsys) -> None:
    if tensorboard_missing() is None:
        pytest.skip("tensorboard is installed here")
    from fewshot.splitting.tree import SplitTree
    from fewshot.train import main

    tree = SplitTree(metric="snip", seed=0, dataset="synthetic", config={"C": 4, "N": 1})
    tree.add_root(get_space().full_mask())
    tree.complete = True
    tree.save(tmp_path / "tree.json")
    assert main([str(tmp_path), "--logger", "tensorboard", "--no-search"]) == 2
    assert "needs the tensorboard package" in capsys.readouterr().err
