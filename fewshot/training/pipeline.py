"""The steps of ``python -m fewshot.train`` after training: which jobs, search, evaluation.

- :func:`plan_jobs`: the sub-supernets to train: the tree's leaves (or some of them) and,
  optionally, the one-shot baseline (the tree's root, the whole searched space);
- :func:`search_jobs`: load each trained job and score its candidate archs on held-out data
  (the one-shot baseline scores the union of the leaves' candidates, so both searches see the
  same archs); the result is the ``search.json`` document;
- :func:`evaluate_searches`: true accuracies from a benchmark, correlations, regret and the
  few-shot vs one-shot table.

The command (:mod:`fewshot.train`) owns the configuration and passes plain values here.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch

from fewshot.io import software_versions
from fewshot.run_folder import LEAVES, ONE_SHOT_DIR
from fewshot.spaces import Arch, Mask, SearchSpace, get_space
from fewshot.splitting.tree import SplitTree
from fewshot.training.comparison import FEW_SHOT, ONE_SHOT
from fewshot.training.evaluate import comparison_table, evaluate_search, space_optimum
from fewshot.training.runner import TrainSettings, load_trained
from fewshot.training.search import (
    Batch,
    LeafSearch,
    candidate_archs,
    rebatch,
    search_leaf,
    take_batches,
)

log = logging.getLogger("fewshot")

SEARCH_FORMAT = "fewshot.search"
SEARCH_VERSION = 1
FAST_DEV_ARCHS = 2  # archs per leaf a fast dev run scores (two, so a ranking still exists)


@dataclass(frozen=True)
class Job:
    """One sub-supernet to train and search: an id, its mask, its folder, its epochs."""

    id: str
    mask: Mask
    out_dir: Path
    epochs: int


def plan_jobs(
    tree: SplitTree,
    out_dir: Path,
    *,
    epochs: int,
    leaves: Sequence[int] | None = None,
    one_shot_epochs: int | None = None,
) -> list[Job]:
    """The leaves to train (all, or ``leaves``), then the one-shot baseline when
    ``one_shot_epochs`` is given. Unknown leaf ids raise ``ValueError`` listing the leaves."""
    nodes = {n.id: n for n in tree.leaves()}
    wanted = list(leaves) if leaves else sorted(nodes)
    unknown = [i for i in wanted if i not in nodes]
    if unknown:
        raise ValueError(f"--leaf {unknown}: not leaves of the tree (leaves: {sorted(nodes)})")
    jobs = [Job(str(i), nodes[i].mask, out_dir / LEAVES / str(i), epochs) for i in wanted]
    if one_shot_epochs is not None:
        root = tree.node(0).mask  # depth 0: the whole (searched) space as one supernet
        jobs.append(Job(ONE_SHOT_DIR, root, out_dir / ONE_SHOT_DIR, one_shot_epochs))
    return jobs


def with_epochs(settings: TrainSettings, epochs: int) -> TrainSettings:
    return TrainSettings(**{**settings.__dict__, "epochs": epochs})


@dataclass(frozen=True)
class SearchSettings:
    """How leaves are searched: archs per leaf, BN calibration and held-out batches.

    ``held_out_batch``: held-out examples per scoring forward (None: the data module's batch
    size); eval mode, so only the speed changes (:func:`~fewshot.training.search.rebatch`).
    """

    k: int = 100
    seed: int = 0
    calib_batches: int = 10
    val_batches: int | None = None
    held_out_batch: int | None = None
    progress: bool = True

    def fast_dev(self) -> SearchSettings:
        """The search of a fast dev run (Lightning's "one batch of everything"): at most
        :data:`FAST_DEV_ARCHS` archs per leaf, one BN-calibration batch, one held-out batch.

        A smoke test of the whole command, not a search: it must finish in seconds on a busy
        CPU, where the full search (100 archs, 10 calibration batches each) takes minutes.
        """
        return replace(self, k=min(self.k, FAST_DEV_ARCHS), calib_batches=1, val_batches=1)


def search_jobs(
    tree: SplitTree,
    jobs: Sequence[Job],
    datamodule: Any,
    settings: TrainSettings,
    search: SearchSettings,
    device: torch.device,
    *,
    dataset: str,
) -> dict[str, Any]:
    """Search every trained job; the ``search.json`` document (with ``_objects`` kept for
    :func:`evaluate_searches`; :func:`strip_objects` removes them before writing)."""
    datamodule.setup("fit")
    calib = take_batches(datamodule.train_dataloader(), search.calib_batches, device)
    val = take_batches(datamodule.val_dataloader(), search.val_batches, device)
    val = rebatch(val, search.held_out_batch)
    leaf_jobs = [j for j in jobs if j.id != ONE_SHOT_DIR]

    def run(job: Job, archs: list[Arch] | None = None) -> LeafSearch:
        return search_job(job, settings, calib, val, device, search, archs=archs)

    result: dict[str, Any] = {
        "format": SEARCH_FORMAT,
        "version": SEARCH_VERSION,
        "tree": {"metric": tree.metric, "seed": tree.seed, "depth": tree.depth},
        "space": tree.space.name,
        "dataset": dataset,
        "versions": software_versions(),
        "searches": {},
    }
    if leaf_jobs:
        result["searches"][FEW_SHOT] = summary([run(j) for j in leaf_jobs])
    one = [j for j in jobs if j.id == ONE_SHOT_DIR]
    if one:
        union = {a for j in leaf_jobs for a in candidate_archs(j.mask, search.k, seed=search.seed)}
        archs = sorted(union, key=str)
        result["searches"][ONE_SHOT] = summary([run(one[0], archs or None)])
    return result


def search_job(
    job: Job,
    settings: TrainSettings,
    calib: list[Batch],
    val: list[Batch],
    device: torch.device,
    search: SearchSettings,
    *,
    archs: list[Arch] | None = None,
) -> LeafSearch:
    """Load ``job``'s trained weights and score ``archs`` (default: the job's candidates)."""
    model = load_trained(job.out_dir, with_epochs(settings, job.epochs), job.mask).to(device)
    if archs is None:
        archs = candidate_archs(job.mask, search.k, seed=search.seed)
    log.info("searching %s: scoring %d archs", job.id, len(archs))
    found = search_leaf(model, archs, calib, val, leaf=job.id, progress=search.progress)
    log.info("%s: best %s (%.2f%% held-out)", job.id, found.best.arch, found.best.predicted)
    return found


def summary(searches: list[LeafSearch]) -> dict[str, Any]:
    """Per-leaf results and the overall best (highest predicted accuracy, first on ties)."""
    winner = max(searches, key=lambda s: s.best.predicted)
    return {
        "leaves": {s.leaf: s.to_dict() for s in searches},
        "best": {"leaf": winner.leaf, **winner.best.to_dict()},
        "_objects": searches,
    }


def evaluate_searches(
    result: dict[str, Any], benchmark: Path, dataset: str, *, space: SearchSpace | None = None
) -> None:
    """Add ``evaluation`` (per search: true accuracies, correlations, regret), ``table``
    (the few-shot vs one-shot comparison) and ``benchmark`` (the directory that judged it and
    the accuracy column) to ``result``; ``benchmark`` is ``space``'s (default ``nb201``)."""
    space = get_space() if space is None else space
    bench = space.open_benchmark(benchmark)
    space_best = space_optimum(bench, dataset, space=space)
    evaluations = {
        name: evaluate_search(bench, s["_objects"], dataset=dataset, space_best=space_best)
        for name, s in result["searches"].items()
    }
    result["evaluation"] = evaluations
    result["table"] = comparison_table(evaluations)
    result["benchmark"] = {"path": str(Path(benchmark).resolve()), "dataset": dataset}


def strip_objects(result: dict[str, Any]) -> dict[str, Any]:
    """``result`` without the in-memory search objects (JSON-ready)."""
    for s in result.get("searches", {}).values():
        s.pop("_objects", None)
    return result


__all__ = [
    "FAST_DEV_ARCHS",
    "Job",
    "SearchSettings",
    "evaluate_searches",
    "plan_jobs",
    "search_job",
    "search_jobs",
    "strip_objects",
    "summary",
    "with_epochs",
]
