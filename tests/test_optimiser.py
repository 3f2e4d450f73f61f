"""The one optimiser-settings type (issue 30): every training path's settings derive from it,
keep their defaults and flat keywords, and record what they recorded before."""

from __future__ import annotations

import dataclasses
import json

import pytest
import torch

from fewshot.optimiser import SPEC_SGD, SGDSettings, settings_record
from fewshot.refine.evaluation import TrainingRecipe, recipe_from
from fewshot.splitting.warmup import WarmupSettings
from fewshot.training.runner import TrainSettings
from fewshot.training.standalone import StandaloneSettings, train_archs

SETTINGS_TYPES = (TrainSettings, StandaloneSettings, WarmupSettings, TrainingRecipe)
OPTIMISER_FIELDS = {f.name for f in dataclasses.fields(SGDSettings)}


@pytest.mark.parametrize("cls", SETTINGS_TYPES)
def test_every_settings_type_is_the_one_optimiser_type(cls):
    assert issubclass(cls, SGDSettings)
    assert {f.name for f in dataclasses.fields(cls)} >= OPTIMISER_FIELDS
    assert cls().sgd() == SGDSettings(**{k: getattr(cls(), k) for k in OPTIMISER_FIELDS})


def test_the_defaults_are_those_of_before():
    assert (SPEC_SGD.lr, SPEC_SGD.lr_min, SPEC_SGD.momentum) == (0.025, 0.001, 0.9)
    assert (SPEC_SGD.weight_decay, SPEC_SGD.grad_clip, SPEC_SGD.nesterov) == (5e-4, 5.0, True)
    assert TrainSettings().sgd() == SPEC_SGD
    assert (TrainSettings().epochs, TrainSettings().sampling) == (50, "uniform")
    assert StandaloneSettings().sgd() == dataclasses.replace(SPEC_SGD, lr=0.1)
    assert WarmupSettings().sgd() == dataclasses.replace(SPEC_SGD, schedule="constant")
    recipe = TrainingRecipe()
    assert (recipe.lr, recipe.momentum, recipe.nesterov, recipe.weight_decay) == (
        0.025, 0.9, True, 5e-5,
    )  # fmt: skip
    assert (recipe.schedule, recipe.milestones, recipe.gamma, recipe.grad_clip) == (
        "step", (150, 225), 0.1, None,
    )  # fmt: skip


def test_records_equal_those_written_before_the_fields_were_added():
    standalone = {"C": 8, "N": 1, "epochs": 2, "lr": 0.1, "lr_min": 0.001,
                  "weight_decay": 5e-4, "grad_clip": 5.0, "seed": 0,
                  "limit_train_batches": None}  # fmt: skip
    assert settings_record(StandaloneSettings()) == standalone
    recipe = {"epochs": 300, "batch_size": 32, "lr": 0.025, "momentum": 0.9, "nesterov": True,
              "weight_decay": 5e-5, "milestones": (150, 225), "gamma": 0.1,
              "label_smoothing": 0.1}  # fmt: skip
    assert settings_record(TrainingRecipe()) == recipe
    assert settings_record(StandaloneSettings(momentum=0.5))["momentum"] == 0.5  # not default


def test_standalone_results_written_before_are_still_finished(tmp_path):
    """A ``results.json`` of the old settings record: its archs are not trained again."""
    from fewshot.spaces import get_space

    space = get_space("nb201")
    arch = next(iter(space.full_mask()))
    old = {"C": 4, "N": 1, "epochs": 1, "lr": 0.1, "lr_min": 0.001, "weight_decay": 5e-4,
           "grad_clip": 5.0, "seed": 0, "limit_train_batches": 2}  # fmt: skip
    row = {"arch": arch.to_string(), "val_acc": 12.5, "test_acc": 10.0, "seconds": 1.0}
    (tmp_path / "results.json").write_text(json.dumps({"settings": old, "results": [row]}))
    settings = StandaloneSettings(C=4, N=1, epochs=1, limit_train_batches=2)
    assert train_archs([arch], None, settings, tmp_path) == [row]  # no data module needed


def test_refine_recipe_keys_still_load():
    recipe = recipe_from({"epochs": 3, "lr": 0.05, "milestones": [1], "label_smoothing": 0.0})
    assert recipe == TrainingRecipe(epochs=3, lr=0.05, milestones=(1,), label_smoothing=0.0)


def test_impossible_settings_are_refused():
    with pytest.raises(ValueError, match="need 0 < lr_min <= lr"):
        SGDSettings(lr=0.01, lr_min=0.1).check()
    with pytest.raises(ValueError, match="unknown schedule 'linear'"):
        SGDSettings(schedule="linear").check()  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="constant learning rate"):
        WarmupSettings(epochs=1, schedule="cosine").check()
    SGDSettings(lr=0.01, lr_min=0.1, schedule="constant").check()  # lr_min unused


def test_the_schedules():
    net = torch.nn.Linear(2, 2)
    cosine = SGDSettings(lr=0.1, lr_min=0.01)
    opt = cosine.optimizer(net.parameters())
    assert opt.defaults["nesterov"] and opt.defaults["weight_decay"] == 5e-4
    entry = cosine.scheduler(opt, 10)
    assert entry is not None and entry["interval"] == "step"
    factor = cosine.cosine_factor(10)
    assert factor(0) == 1.0 and factor(10) == pytest.approx(0.1) and factor(20) == factor(10)
    step = SGDSettings(schedule="step", milestones=(2,), gamma=0.5)
    entry = step.scheduler(step.optimizer(net.parameters()), 10)
    assert entry is not None and entry["interval"] == "epoch"
    assert entry["scheduler"].milestones == {2: 1}
    constant = SGDSettings(schedule="constant")
    assert constant.scheduler(constant.optimizer(net.parameters()), 10) is None
