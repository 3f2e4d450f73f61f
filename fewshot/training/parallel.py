"""Training the jobs of ``fewshot.train`` on an executor: one task per leaf (issue 14).

With ``--executor ray`` every job (leaf, or the one-shot baseline) is a Ray task reserving
``--gpus-per-task`` GPUs (none: a CPU task) and ``--threads`` CPUs; its Lightning ``Trainer``
uses what Ray gave the task (one process, no DDP across tasks). A single job is trained in
this process with Lightning's own devices and strategy, DDP included: Ray is for many leaves.
The local executor trains the jobs here one after the other, as before. Either way each job
writes only its own folder and resumes from its last checkpoint, so a failed or lost task is
finished by running the command again; the search then runs here, on the trained weights.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from fewshot.errors import UsageError
from fewshot.executor import GpuTaskOptions, Outcome, Task, open_executor
from fewshot.training.pipeline import Job, with_epochs
from fewshot.training.runner import (
    TrainerSettings,
    TrainSettings,
    is_trained,
    train_subsupernet,
)

log = logging.getLogger("fewshot")


@dataclass(frozen=True)
class LeafTraining:
    """What every job needs besides its mask and folder (shipped to Ray workers once).

    ``data``: :func:`fewshot.data.make_datamodule`'s keyword arguments, for a worker to build
    its own data module; ``datamodule``: one already built (this process only).
    """

    data: dict[str, Any]
    settings: TrainSettings
    hardware: TrainerSettings
    datamodule: Any = None
    logger: str = "csv"


def train_leaf(context: LeafTraining, job: Job) -> bool:
    """Train one job here or in a Ray worker; True when this process is Lightning's global
    rank 0 (always, outside DDP)."""
    datamodule = context.datamodule
    if datamodule is None:
        from fewshot.data import make_datamodule

        datamodule = make_datamodule(**context.data)
    log.info("training %s (%d archs) for %d epochs", job.id, job.mask.num_archs, job.epochs)
    settings = with_epochs(context.settings, job.epochs)
    _, trainer = train_subsupernet(
        job.mask, datamodule, job.out_dir, settings, context.hardware, logger=context.logger
    )
    return bool(trainer.is_global_zero)


def train_packed(
    jobs: Sequence[Job], context: LeafTraining, pack_root: Path, device: Any,
    pack_size: int | None = None, image_size: int = 32,
) -> None:  # fmt: skip
    """Train the unfinished ``jobs`` as packs (``fewshot.train --pack``): one pack per epoch
    count (the leaves together; the one-shot baseline with them when it trains as long), in
    this process on ``device``. Each job's folder gets the files its training alone writes;
    the pack's checkpoint is ``pack_root/epochs<E>/pack.ckpt``."""
    from fewshot.training.pack import (
        PackMember,
        PackSettings,
        PackTrainer,
        auto_pack_size,
        chunks,
        datamodule_batches,
    )

    todo = [job for job in jobs if not finished(job, context.hardware)]
    for job in jobs:
        if job not in todo:
            log.info("%s: already trained for %d epochs", job.id, job.epochs)
    if not todo:
        return
    try:
        batches, per_epoch = datamodule_batches(context.datamodule)
    except ValueError as exc:
        raise UsageError(f"--pack: {exc}") from None
    s = context.settings
    for epochs in sorted({job.epochs for job in todo}):
        group = [job for job in todo if job.epochs == epochs]
        members = [PackMember(job.id, job.mask, s.seed, batches, per_epoch, job.out_dir)
                   for job in group]  # fmt: skip
        settings = PackSettings.of(s, epochs=epochs)
        size = pack_size or auto_pack_size(settings, group[0].mask.space,
                                           context.datamodule.batch_size, image_size, device)  # fmt: skip
        for i, part in enumerate(chunks(members, size)):
            log.info("training %d jobs as one pack for %d epochs: %s", len(part), epochs,
                     ", ".join(m.name for m in part))  # fmt: skip
            folder = pack_root / (f"epochs{epochs}" + (f"-{i}" if len(members) > size else ""))
            try:
                PackTrainer(part, settings, folder, device=device).fit()
            except ValueError as exc:  # another pack's checkpoint, a rule a pack cannot train
                raise UsageError(f"--pack: {exc}") from None


def task_hardware(hardware: TrainerSettings, gpus: float) -> TrainerSettings:
    """A Ray task's ``Trainer`` hardware: the GPUs Ray made visible to it, or the CPU."""
    accelerator = "gpu" if gpus > 0 else "cpu"
    return replace(hardware, accelerator=accelerator, devices="auto", strategy="auto")


def train_jobs(
    jobs: Sequence[Job],
    context: LeafTraining,
    options: GpuTaskOptions,
    *,
    threads: int | None = None,
) -> tuple[bool, list[Outcome[bool]]]:
    """Train ``jobs`` (see the module docstring); returns (global rank 0 everywhere, the jobs
    that failed). On Ray a job that raises is reported by its id while the others are trained;
    here, an error stops the command as it always did (with its traceback)."""
    if options.executor != "ray" or len(jobs) <= 1:
        zero = True
        for job in jobs:
            if finished(job, context.hardware):  # resuming it would rewrite done.json, emptier
                log.info("%s: already trained for %d epochs", job.id, job.epochs)
                continue
            zero = train_leaf(context, job) and zero
        return zero, []
    _check_one_process_per_task(context.hardware)
    hardware = task_hardware(context.hardware, options.gpus_per_task)
    context = replace(context, datamodule=None, hardware=hardware)
    todo = [job for job in jobs if not finished(job, hardware)]
    if len(todo) < len(jobs):
        log.info("%d of %d jobs already trained: not sent to Ray", len(jobs) - len(todo), len(jobs))
    tasks = [Task(f"leaf {job.id}", job) for job in todo]
    failed = []
    with open_executor(options) as executor:
        outcomes = executor.map(
            train_leaf, tasks, context, cpus=threads or 1, gpus=options.gpus_per_task,
            threads=threads,
        )  # fmt: skip
        for outcome in outcomes:
            if not outcome.ok:
                log.error("%s failed: %s", outcome.name, outcome.error)
                failed.append(outcome)
    return True, failed


def finished(job: Job, hardware: TrainerSettings) -> bool:
    """Whether ``job`` has trained all its epochs: re-running a training trains only the
    others, locally or on Ray (a resumed finished leaf would only restore its checkpoint, and
    rewrite ``done.json`` without the final metrics). A fast dev run always runs."""
    return not hardware.fast_dev_run and is_trained(job.out_dir, job.epochs)


def _check_one_process_per_task(hardware: TrainerSettings) -> None:
    """Many leaves on Ray train one process each: DDP across nodes is for one big leaf."""
    if hardware.num_nodes > 1 or hardware.strategy not in ("auto", "single_device"):
        raise UsageError(
            "--executor ray trains each leaf in one Ray task; --strategy/--num-nodes (Lightning "
            "DDP) are for a single leaf: use --executor local, or --leaf to pick one"
        )


__all__ = ["LeafTraining", "finished", "task_hardware", "train_jobs", "train_leaf", "train_packed"]
