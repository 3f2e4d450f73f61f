"""``python -m fewshot.refine.evaluate RUN_DIR``: train the top net of a refined subspace.

Examples::

    # the paper's recipe (300 epochs, batch 32, ...): a GPU job
    python -m fewshot.refine.evaluate runs/refine/synflow --config configs/refine-eval-paper.yaml
    # a short CPU check on the CIFAR-10 subset
    python -m fewshot.refine.evaluate runs/refine/synflow --config configs/refine-eval-cpu.yaml

Draws ``--candidates`` nets from the run's final ranges, scores them with the run's
predictor, trains the best and (unless ``--no-baseline``) the ResNet-like baseline of the same
space, and writes ``<out>/evaluation.json``. Each net trains in ``<out>/top/`` or
``<out>/baseline/`` on ``--device`` (with ``--threads``, ``--precision``, ``--channels-last``,
``--compile``), checkpointing every epoch: re-running the command resumes a killed training.
``--lr-scaling linear`` trains with ``lr * batch_size / 64`` (recorded in the recipe).
Its resolved configuration is saved beside it, as ``evaluation_config.yaml`` (with
``resolved_data_path``: the data path, ``tensor`` or ``loader``, the data module took).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from fewshot.choices import dataset_names
from fewshot.cli import run_main
from fewshot.config import (
    CommonOptions,
    ImageOptions,
    apply_common,
    option,
    parse_config,
    resolve_device,
)
from fewshot.errors import UsageError
from fewshot.io import atomic_write_json
from fewshot.scoring.spec import ScoringSpec
from fewshot.tables import outputs_block
from fewshot.training.trainer import LrScaling, trainer_option

if TYPE_CHECKING:
    from fewshot.refine.evaluation import TrainingRecipe
    from fewshot.training.trainer import TrainerSettings
from fewshot.run_folder import (
    EVALUATION_CONFIG,
    RESOLVED_DATA_PATH,
    RUNTIME_OPTIONS,
    keep_run_config,
    load_run_config,
    lock_run,
)

_R = "recipe (defaults: da Silva et al.)"
_D = "data"
_HW = "hardware"


@dataclass(kw_only=True)
class EvaluateConfig(ImageOptions, CommonOptions):
    """Train the top-scoring net of a refined AnyNet subspace and a ResNet-like baseline."""

    run_dir: Path | None = option(None, positional=True, help="refinement run folder")
    candidates: int = option(25, help="nets drawn from the final subspace", minimum=1)
    no_baseline: bool = option(False, help="do not train the baseline")
    epochs: int = option(300, help="training epochs", minimum=1, group=_R)
    batch_size: int = option(32, help="training batch size", minimum=1, group=_R)
    lr: float = option(0.025, help="initial learning rate", group=_R)
    momentum: float = option(0.9, help="SGD momentum (Nesterov)", group=_R)
    weight_decay: float = option(5e-5, help="weight decay", group=_R)
    milestones: list[int] = option(
        [150, 225], help="epochs where lr is multiplied by gamma", group=_R
    )
    gamma: float = option(0.1, help="lr step factor", group=_R)
    label_smoothing: float = option(0.1, help="label smoothing", group=_R)
    lr_scaling: LrScaling = trainer_option("lr_scaling", group=_R)
    limit_train_batches: float = option(
        1.0, help="fraction (<= 1) or number (> 1) of training batches per epoch", group=_R
    )
    seed: int = option(0, help="candidate scoring, init and data order")
    dataset: str | None = option(None, help="data set", choices=dataset_names, group=_D)
    data_root: Path | None = option(None, help="data folder", group=_D)
    score_batch_size: int = option(
        ScoringSpec.batch_size,  # the one scoring default, as refine's own --batch-size
        help="scoring batch size (the candidates are scored as the refinement scored)",
        minimum=1, group=_D,
    )  # fmt: skip
    precision: str | None = trainer_option("precision", group=_HW)
    channels_last: bool = trainer_option("channels_last", group=_HW)
    compile: bool = trainer_option("compile", group=_HW)
    out: Path | None = option(None, help="output folder (default: RUN_DIR/eval)")

    def resolve(self) -> EvaluateConfig:
        from fewshot.data import resolve_dataset

        if self.run_dir is None:
            raise UsageError("give the refinement run folder (see --help)")
        self.dataset, _ = resolve_dataset(self.dataset, self.data_root)
        self.out = self.out or Path(self.run_dir) / "eval"
        return self


def _main(argv: Sequence[str] | None) -> int:
    from fewshot.data import make_datamodule, scoring_data
    from fewshot.refine.evaluation import RESNET_LIKE, final_space, top_candidate, train_and_test

    config = parse_config(EvaluateConfig, argv, prog="python -m fewshot.refine.evaluate")
    apply_common(config)
    resolve_device(config.device)  # a device that does not exist: one clear line, now
    record, space = final_space(config.run_dir)
    dm = make_datamodule(
        config.dataset, data_root=config.data_root, batch_size=config.batch_size,
        seed=config.seed, **config.data_option,
    )  # fmt: skip
    extra = {RESOLVED_DATA_PATH: dm.resolved_data_path()}
    lock_run(Path(config.out))
    before = keep_run_config(Path(config.out), config, EVALUATION_CONFIG, extra=extra,
                             hint="use the original flags or another --out")  # fmt: skip
    if _finished(config, before):
        return 0
    limit = config.limit_train_batches
    limit = int(limit) if limit > 1 else limit
    dm.setup("fit")
    data = scoring_data(dm, num_batches=1, batch_size=config.score_batch_size, seed=config.seed)
    top, rows = top_candidate(record, space, data, candidates=config.candidates)
    recipe = training_recipe(config)
    result = {"predictor": record["predictor"], "recipe": recipe.__dict__, "candidates": rows}
    nets = {"top": top} | ({} if config.no_baseline else {"baseline": RESNET_LIKE})
    for name, net in nets.items():
        trained = train_and_test(
            net, dm, recipe, seed=config.seed, out_dir=Path(config.out) / name,
            hardware=trainer_settings(config), limit_train_batches=limit,
        )  # fmt: skip
        result[name] = {"hyperparameters": net.hyperparameters(), **net.complexity(), **trained}
        print(f"{name}: {net} test accuracy {trained['test_acc']:.4f}")
    out = Path(config.out)
    atomic_write_json(out / "evaluation.json", result)
    files = [out / "evaluation.json", out / EVALUATION_CONFIG, *(out / n for n in nets)]
    print(outputs_block(files), end="")
    return 0


def _finished(config: EvaluateConfig, before: dict | None) -> bool:
    """Whether ``evaluation.json`` is there, newer than the refinement it evaluates, and the
    configuration saved before equals the one saved now (all but the runtime options): says
    so and lists the files."""
    out = Path(config.out)
    result, refinement = out / "evaluation.json", Path(config.run_dir) / "refinement.json"
    now = load_run_config(out, EVALUATION_CONFIG)
    if (
        before is None
        or now is None
        or not result.is_file()
        or (refinement.is_file() and refinement.stat().st_mtime_ns > result.stat().st_mtime_ns)
        or {k: v for k, v in before.items() if k not in RUNTIME_OPTIONS}
        != {k: v for k, v in now.items() if k not in RUNTIME_OPTIONS}
    ):
        return False
    print(f"{out} is already finished (same settings): nothing to do")
    print(outputs_block([result, out / EVALUATION_CONFIG]), end="")
    return True


def training_recipe(config: EvaluateConfig) -> TrainingRecipe:
    """The recipe of ``config``, its learning rate scaled for the batch (``--lr-scaling``)."""
    from fewshot.refine.evaluation import TrainingRecipe
    from fewshot.training.trainer import scaled_lr

    return TrainingRecipe(
        epochs=config.epochs, batch_size=config.batch_size,
        lr=scaled_lr(config.lr, config.batch_size, config.lr_scaling),
        momentum=config.momentum, weight_decay=config.weight_decay,
        milestones=tuple(config.milestones), gamma=config.gamma,
        label_smoothing=config.label_smoothing,
    )  # fmt: skip


def trainer_settings(config: EvaluateConfig) -> TrainerSettings:
    """The ``Trainer`` hardware of ``config``: ``--device`` as Lightning's accelerator on one
    device (``cuda``: one GPU, not DDP over all; ``cuda:N``: GPU N), ``--threads``, precision,
    channels-last, compile, progress."""
    from fewshot.training.trainer import one_device

    return one_device(
        config.device, threads=config.threads, progress=not config.no_progress,
        precision=config.precision, channels_last=config.channels_last, compile=config.compile,
    )  # fmt: skip


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; user errors exit 2 with one line."""
    return run_main(_main, argv)


if __name__ == "__main__":
    sys.exit(main())
