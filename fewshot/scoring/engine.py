"""Scoring networks with zero-cost metrics: one net, one arch, many archs (resumable CSV), shards.

- :func:`score_network`: build a network as a :class:`~fewshot.scoring.spec.ScoringSpec`
  says (seeded, initialised) and compute every asked metric in one combined pass
  (:func:`fewshot.metrics.compute_metrics`, shared probes). Refine's predictors and
  :func:`score_arch` both score through it.
- :func:`score_arch`: an arch's standalone network (the spec's space builds it). A metric undefined on this network
  leaves its cell empty and its message in ``error``; any other failure leaves every cell
  empty. Nothing is raised for one bad arch.
- :func:`score_archs` / :func:`score_with_executor`: every arch not yet in a
  :class:`~fewshot.scoring.store.ScoreFile`, in this process or shard by shard on an
  executor (:mod:`fewshot.executor`); rows are appended by this process alone, in order.

May import: :mod:`fewshot.models`, :mod:`fewshot.metrics`, :mod:`fewshot.spaces`,
:mod:`fewshot.executor`, the other :mod:`fewshot.scoring` modules.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import torch
from torch import nn
from tqdm import tqdm

from fewshot.config import resolve_device
from fewshot.executor import Executor, Outcome, Task, make_shards, write_in_order
from fewshot.metrics import MetricResult, ScoringData, compute_metrics
from fewshot.models.init import initialize
from fewshot.scoring.spec import ScoringSpec
from fewshot.scoring.store import ScoreFile, ScoreRow
from fewshot.spaces import Arch, space_of

log = logging.getLogger("fewshot")

ERROR_CHARS = 300


# -- one network ------------------------------------------------------------------------------


def build_scored(
    build: Callable[[], nn.Module], spec: ScoringSpec, device: str | torch.device = "cpu"
) -> nn.Module:
    """``build()`` after seeding torch with ``spec.seed`` (inside ``fork_rng`` when the spec
    says so), initialised with ``spec.init``, on ``device``."""
    rng = torch.random.fork_rng(devices=[]) if spec.fork_rng else contextlib.nullcontext()
    with rng:
        torch.manual_seed(spec.seed)
        net = initialize(build(), spec.init)
    return net.to(device)


def score_network(
    build: Callable[[], nn.Module],
    data: ScoringData,
    metrics: Sequence[str],
    spec: ScoringSpec,
    *,
    device: str | torch.device = "cpu",
    errors: dict[str, str] | None = None,
) -> dict[str, MetricResult]:
    """Every metric of ``metrics`` for the network ``build`` makes, scored as ``spec`` says.

    With ``errors`` (a dict) a metric that fails is recorded there and left out (see
    :func:`fewshot.metrics.compute_metrics`); a failing ``build`` raises.
    """
    net = build_scored(build, spec, device)
    return compute_metrics(
        net, data, metrics, seed=spec.seed, errors=errors, settings=spec.settings
    )


# -- one arch ---------------------------------------------------------------------------------


def _short(exc: BaseException) -> str:
    text = " ".join(f"{type(exc).__name__}: {exc}".split())
    return text if len(text) <= ERROR_CHARS else text[: ERROR_CHARS - 3] + "..."


def score_arch(
    arch: Arch,
    data: ScoringData,
    metrics: Sequence[str],
    spec: ScoringSpec,
    *,
    index: int | None = None,
    device: str | torch.device = "cpu",
) -> ScoreRow:
    """Every metric for ``arch``'s standalone network (``spec.C``, ``spec.N``), in one pass.

    ``arch`` must be of the spec's search space (``ValueError`` otherwise: a caller's bug, not
    an arch's failure)."""
    space = spec.search_space
    if space_of(arch) is not space:
        raise ValueError(
            f"arch {arch} is of search space {space_of(arch).name!r}, the scoring spec's is "
            f"{space.name!r}"
        )
    start = time.perf_counter()
    errors: dict[str, str] = {}
    try:
        build = lambda: space.build_network(  # noqa: E731
            arch, C=spec.C, N=spec.N, num_classes=data.num_classes
        )
        results = score_network(build, data, metrics, spec, device=device, errors=errors)
        values = {name: r.value for name, r in results.items()}
        error = "; ".join(f"{name}: {' '.join(msg.split())}" for name, msg in errors.items())
    except Exception as exc:  # one bad arch must not lose the run: record it, go on
        values, error = {}, _short(exc)
    if error:
        log.warning("arch %s: %s", arch.to_string(), error)
    return ScoreRow(arch.to_string(), index, values, time.perf_counter() - start, error[:2000])


# -- many archs -------------------------------------------------------------------------------


@dataclass
class ScoringSummary:
    """What one :func:`score_archs` / :func:`score_with_executor` call did."""

    scored: int = 0
    skipped: int = 0
    failed: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def add(self, row: ScoreRow) -> None:
        self.scored += 1
        self.seconds += row.seconds
        if row.error:
            self.failed.append(row.arch)


def _todo(archs: Sequence[Arch], store: ScoreFile) -> tuple[list[Arch], ScoringSummary]:
    done = store.done()
    todo = [a for a in archs if a.to_string() not in done]
    return todo, ScoringSummary(skipped=len(archs) - len(todo))


def _bar(total: int, progress: bool) -> Any:
    return tqdm(total=total, unit="arch", disable=not progress, dynamic_ncols=True,
                desc="scoring")  # fmt: skip


def score_archs(
    archs: Iterable[Arch],
    data: ScoringData,
    store: ScoreFile,
    spec: ScoringSpec,
    *,
    index_of: Callable[[Arch], int | None] | None = None,
    device: str | torch.device = "cpu",
    progress: bool = True,
) -> ScoringSummary:
    """Score every arch not yet in ``store`` and append its row; returns counts and timing."""
    todo, summary = _todo(list(archs), store)
    bar = _bar(len(todo), progress)
    try:
        for arch in todo:
            index = index_of(arch) if index_of is not None else None
            row = score_arch(arch, data, store.metrics, spec, index=index, device=device)
            store.append(row)
            summary.add(row)
            bar.update(1)
            bar.set_postfix(failed=len(summary.failed), refresh=False)
    finally:
        bar.close()
    return summary


# -- shards of archs on an executor -----------------------------------------------------------


@dataclass(frozen=True)
class ShardContext:
    """What every shard needs besides its archs; shipped to Ray workers once."""

    data: ScoringData
    metrics: tuple[str, ...]
    spec: ScoringSpec
    device: str


def score_shard(context: ShardContext, archs: Sequence[Arch]) -> list[ScoreRow]:
    """Score one shard of archs, here or in a Ray worker (rows without benchmark index: the
    driver, which holds the benchmark, fills it in)."""
    device = resolve_device(context.device)
    return [score_arch(a, context.data, context.metrics, context.spec, device=device)
            for a in archs]  # fmt: skip


def shard_name(archs: Sequence[Arch]) -> str:
    """How messages name a shard: its arch, or its archs (the first and last of a long one)."""
    names = [a.to_string() for a in archs]
    if len(names) <= 3:
        return ", ".join(names)
    return f"{len(names)} archs {names[0]} ... {names[-1]}"


def _row_writer(
    store: ScoreFile,
    summary: ScoringSummary,
    index_of: Callable[[Arch], Any] | None,
    bar: Any,
    archs: Sequence[Arch],
) -> Callable[[Outcome[list[ScoreRow]]], None]:
    """Appends a finished shard's rows to the CSV (benchmark index of the row's arch, one of
    ``archs``, filled in here), counts them into ``summary`` and advances the progress bar."""
    by_name = {a.to_string(): a for a in archs}

    def write(outcome: Outcome[list[ScoreRow]]) -> None:
        for row in outcome.value or []:
            if index_of is not None:
                row = replace(row, index=index_of(by_name[row.arch]))
            store.append(row)
            summary.add(row)
        bar.update(len(outcome.value or []))
        bar.set_postfix(failed=len(summary.failed), refresh=False)

    return write


def score_with_executor(
    archs: Sequence[Arch],
    store: ScoreFile,
    context: ShardContext,
    executor: Executor,
    *,
    index_of: Callable[[Arch], Any] | None = None,
    progress: bool = True,
    threads: int | None = None,
    shard_fn: Callable[[ShardContext, Sequence[Arch]], list[ScoreRow]] = score_shard,
) -> tuple[ScoringSummary, list[Outcome[Any]]]:
    """Score the archs not yet in ``store``, shard by shard on ``executor``; the rows are
    appended here (one writer). Returns the summary and the shards that failed as a whole
    (their archs stay missing from the CSV: running again scores them)."""
    todo, summary = _todo(archs, store)
    tasks = [Task(shard_name(s), s) for s in make_shards(todo, executor.slots)]
    bar = _bar(len(todo), progress)
    write = _row_writer(store, summary, index_of, bar, todo)
    outcomes = executor.map(shard_fn, tasks, context, cpus=threads or 1, threads=threads)
    try:
        failed = write_in_order(outcomes, write)
    finally:
        bar.close()
    return summary, failed


__all__ = [
    "ShardContext",
    "ScoringSummary",
    "build_scored",
    "score_arch",
    "score_archs",
    "score_network",
    "score_shard",
    "score_with_executor",
    "shard_name",
]
