"""The one optimiser: its settings (:class:`SGDSettings`), the SGD it builds and its schedules.

Every training path of fewshot optimises with SGD and one of three learning-rate schedules:

- ``cosine``: from ``lr`` to ``lr_min`` over the run's optimiser steps, read at every step
  (leaves, one-shot supernets, standalone archs; SPEC section 5);
- ``constant``: ``lr`` throughout (the split warm-up: warm-ups are short);
- ``step``: ``lr`` times ``gamma`` at each epoch of ``milestones`` (refine's AnyNet evaluation,
  da Silva et al.'s recipe).

Their settings are declared once, here: the settings types of the training paths
(``TrainSettings``, ``StandaloneSettings``, ``WarmupSettings``, ``TrainingRecipe``) derive from
:class:`SGDSettings`, adding their own fields and restating only the defaults that differ, so
they keep their flat keyword arguments, flags and saved keys. A field a type gained after its
records were first written is named in its ``added_fields`` and left out of its
:func:`settings_record` while it holds its default, so those records still compare equal.

Imports torch only: every layer (splitting's warm-up included) may use it.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import torch
from torch import nn

Schedule = Literal["cosine", "constant", "step"]
SCHEDULES: tuple[str, ...] = ("cosine", "constant", "step")


@dataclass(frozen=True)
class SGDSettings:
    """SGD with (Nesterov) momentum, weight decay, gradient-norm clipping and a schedule.

    Defaults: the spec's (section 5): lr 0.025 cosine to 0.001, momentum 0.9 Nesterov, weight
    decay 5e-4, clipping at norm 5. ``grad_clip`` None: no clipping. ``lr_min`` is the cosine
    schedule's end; ``milestones`` (epochs) and ``gamma`` the step schedule's.
    """

    lr: float = 0.025
    lr_min: float = 0.001
    momentum: float = 0.9
    weight_decay: float = 5e-4
    nesterov: bool = True
    grad_clip: float | None = 5.0
    schedule: Schedule = "cosine"
    milestones: tuple[int, ...] = ()
    gamma: float = 0.1

    added_fields: ClassVar[tuple[str, ...]] = ()
    """Fields added after this type's records were first written (see :func:`settings_record`)."""

    def check(self) -> None:
        """``ValueError`` for settings no schedule can run: an unknown schedule, or a cosine
        one without ``0 < lr_min <= lr``."""
        if self.schedule not in SCHEDULES:
            raise ValueError(f"unknown schedule {self.schedule!r}; known: {', '.join(SCHEDULES)}")
        if self.schedule == "cosine" and not 0 < self.lr_min <= self.lr:
            raise ValueError(f"need 0 < lr_min <= lr, got lr={self.lr}, lr_min={self.lr_min}")

    def optimizer(self, params: Iterable[nn.Parameter]) -> torch.optim.SGD:
        """The SGD optimiser of ``params`` with these settings."""
        return torch.optim.SGD(
            params,
            lr=self.lr,
            momentum=self.momentum,
            weight_decay=self.weight_decay,
            nesterov=self.nesterov,
        )

    def cosine_factor(self, total_steps: int) -> Callable[[int], float]:
        """``step -> lr(step) / lr`` of the cosine schedule from ``lr`` to ``lr_min`` over
        ``total_steps`` (a ``LambdaLR`` factor; steps past the end keep ``lr_min``)."""
        lr, lr_min = self.lr, self.lr_min

        def factor(step: int) -> float:
            t = min(step, total_steps) / total_steps
            return (lr_min + (lr - lr_min) * 0.5 * (1.0 + math.cos(math.pi * t))) / lr

        return factor

    def scheduler(
        self, optimizer: torch.optim.Optimizer, total_steps: int
    ) -> dict[str, Any] | None:
        """Lightning's ``lr_scheduler`` entry of this schedule (None: ``constant``)."""
        if self.schedule == "cosine":
            lam = torch.optim.lr_scheduler.LambdaLR(optimizer, self.cosine_factor(total_steps))
            return {"scheduler": lam, "interval": "step", "frequency": 1}
        if self.schedule == "step":
            multi = torch.optim.lr_scheduler.MultiStepLR(
                optimizer, list(self.milestones), gamma=self.gamma
            )
            return {"scheduler": multi, "interval": "epoch"}
        return None

    def sgd(self) -> SGDSettings:
        """The optimiser settings alone (a subclass's extra fields dropped)."""
        names = [f.name for f in dataclasses.fields(SGDSettings)]
        return SGDSettings(**{n: getattr(self, n) for n in names})


SPEC_SGD = SGDSettings()
"""The one place the spec's optimiser defaults are written."""


def settings_record(settings: SGDSettings) -> dict[str, Any]:
    """``asdict(settings)`` without the ``added_fields`` that hold their default: what a run
    records of its settings, equal to the records written before those fields existed."""
    record = dataclasses.asdict(settings)
    for f in dataclasses.fields(settings):
        if f.name in settings.added_fields and record[f.name] == f.default:
            del record[f.name]
    return record


__all__ = ["SCHEDULES", "SGDSettings", "SPEC_SGD", "Schedule", "settings_record"]
