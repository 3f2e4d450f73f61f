"""Iterated design-space refinement on AnyNet (da Silva et al.; SPEC section 8).

Iteration ``k`` samples nets from the current ranges (iteration 0: the whole space, rejection
to the FLOPs range), scores each with one predictor, bootstraps the winner 10,000 times and
takes each hyperparameter's 95% interval; iteration ``k + 1`` samples inside those intervals.
The loop stops after ``iterations`` iterations, or earlier when an iteration's intervals equal
the previous iteration's (the ranges would not change any more).

The run folder holds ``refinement.json`` (rewritten atomically after every iteration) and
``samples/iter<k>.jsonl`` (one fsynced line per scored net). Running again with the same
settings resumes: finished iterations are kept, the current one skips the nets it has scored,
and every sample is a pure function of ``(seed, iteration, ranges)``.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from tqdm import tqdm

from fewshot.errors import UsageError
from fewshot.io import atomic_write_json
from fewshot.metrics import ScoringData
from fewshot.refine.bootstrap import (
    DEFAULT_DRAWS,
    DEFAULT_FRACTION,
    DEFAULT_LEVEL,
    Interval,
    bootstrap_winners,
    winner_intervals,
)
from fewshot.refine.predictors import PREDICTORS, Scored, score_network
from fewshot.refine.samples import SampleFile
from fewshot.spaces.anynet import AnyNetConfig, hyperparameter_names
from fewshot.spaces.anynet_sampling import (
    DEFAULT_FLOPS_RANGE,
    DesignSpace,
    SampleResult,
    SamplingError,
    check_flops_range,
    sample_configs,
)

if TYPE_CHECKING:
    from fewshot.executor import Executor

log = logging.getLogger("fewshot")

RECORD_NAME = "refinement.json"
SAMPLES_DIR = "samples"
VERSION = 1


@dataclass(frozen=True)
class RefineSettings:
    """What a refinement run does; every field but ``iterations`` must match to resume.

    ``initial_samples`` is the size of iteration 0's sample (the paper: 5,000), ``samples``
    the size of every later one (the paper: N = 500).
    """

    predictor: str
    samples: int = 500
    initial_samples: int = 500
    iterations: int = 10
    seed: int = 0
    flops_range: tuple[int, int] = DEFAULT_FLOPS_RANGE
    draws: int = DEFAULT_DRAWS
    fraction: float = DEFAULT_FRACTION
    level: float = DEFAULT_LEVEL
    image_size: int = 32

    def __post_init__(self) -> None:
        if self.iterations < 1:
            raise UsageError(f"--iterations must be at least 1, got {self.iterations}")
        if self.samples < 2 or self.initial_samples < 2:
            raise UsageError(
                f"need at least 2 nets per iteration, got samples={self.samples}, "
                f"initial_samples={self.initial_samples}"
            )
        if self.draws < 1 or not 0 < self.fraction <= 1 or not 0 < self.level < 1:
            raise UsageError(
                f"need draws >= 1, 0 < fraction <= 1, 0 < level < 1; got {self.draws}, "
                f"{self.fraction}, {self.level}"
            )
        try:
            check_flops_range(self.flops_range)
        except SamplingError as exc:
            raise UsageError(str(exc)) from None
        object.__setattr__(self, "flops_range", tuple(int(v) for v in self.flops_range))

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["flops_range"] = list(self.flops_range)
        return d


def iteration_seed(seed: int, iteration: int) -> int:
    """The sampling seed of one iteration (independent streams per iteration)."""
    return int(np.random.SeedSequence([seed, iteration]).generate_state(1)[0])


def iteration_sample(
    space: DesignSpace, settings: RefineSettings, iteration: int, *, num_classes: int
) -> SampleResult:
    """The nets iteration ``iteration`` scores (deterministic)."""
    n = settings.initial_samples if iteration == 0 else settings.samples
    return sample_configs(
        space,
        n,
        seed=iteration_seed(settings.seed, iteration),
        flops_range=settings.flops_range,
        image_size=settings.image_size,
        num_classes=num_classes,
    )


def sample_path(out: Path, iteration: int) -> Path:
    return out / SAMPLES_DIR / f"iter{iteration}.jsonl"


# -- scoring one iteration ------------------------------------------------------------------


def net_row(
    net_id: int,
    config: AnyNetConfig,
    predictors: list[str],
    data: ScoringData,
    *,
    seed: int,
    image_size: int,
    device: str = "cpu",
    scorer: Callable[[AnyNetConfig], Scored] | None = None,
) -> dict[str, Any]:
    """Score one net with ``predictors`` (or ``scorer``): the JSON row of :class:`SampleFile`."""
    if scorer is not None:
        scored = scorer(config)
    else:
        scored = score_network(
            lambda: config.build(num_classes=data.num_classes),
            predictors,
            data,
            seed=seed,
            device=device,
        )
    return {
        "id": net_id,
        "hyperparameters": config.hyperparameters(),
        **config.complexity(image_size=image_size, num_classes=data.num_classes),
        "scores": scored.scores,
        "errors": scored.errors,
        "seconds": round(scored.seconds, 4),
    }


def score_sample(
    configs: tuple[AnyNetConfig, ...],
    store: SampleFile,
    predictors: list[str],
    data: ScoringData,
    *,
    seed: int,
    image_size: int,
    reuse: Mapping[int, dict[str, Any]] | None = None,
    device: str = "cpu",
    progress: bool = True,
    desc: str = "scoring",
    scorer: Callable[[AnyNetConfig], Scored] | None = None,
    executor: Executor | None = None,
) -> int:
    """Score every net of ``configs`` not yet in ``store``; returns how many were scored now.

    ``reuse`` (id -> row of another run) supplies rows for nets with the same
    hyperparameters that hold every predictor (as a score or an error). ``executor``: score
    shards of nets as its tasks (:func:`score_sample_on`).
    """
    todo = [i for i in range(len(configs)) if i not in store]
    if executor is not None:
        scoring = NetScoring(tuple(predictors), data, seed, image_size, device, scorer)
        return score_sample_on(executor, configs, todo, store, scoring, reuse, progress)
    bar = tqdm(todo, unit="net", disable=not progress, dynamic_ncols=True, desc=desc)
    scored = 0
    for i in bar:
        hp = configs[i].hyperparameters()
        old = (reuse or {}).get(i)
        if old is not None and old["hyperparameters"] == hp and _holds(old, predictors):
            store.append({**old, "id": i})
            continue
        store.append(
            net_row(
                i,
                configs[i],
                predictors,
                data,
                seed=seed,
                image_size=image_size,
                device=device,
                scorer=scorer,
            )
        )
        scored += 1
    return scored


def _holds(row: Mapping[str, Any], predictors: Sequence[str]) -> bool:
    return all(p in row["scores"] or p in row["errors"] for p in predictors)


@dataclass(frozen=True)
class NetScoring:
    """What every shard of nets needs besides the nets (shipped to Ray workers once)."""

    predictors: tuple[str, ...]
    data: ScoringData
    seed: int
    image_size: int
    device: str
    scorer: Callable[[AnyNetConfig], Scored] | None = None


def score_nets(
    scoring: NetScoring, nets: Sequence[tuple[int, AnyNetConfig]]
) -> list[dict[str, Any]]:
    """The rows of a shard of ``(id, config)`` nets, here or in a Ray worker."""
    return [
        net_row(
            i,
            config,
            list(scoring.predictors),
            scoring.data,
            seed=scoring.seed,
            image_size=scoring.image_size,
            device=scoring.device,
            scorer=scoring.scorer,
        )  # fmt: skip
        for i, config in nets
    ]


def _shard_name(ids: Sequence[int]) -> str:
    return f"net {ids[0]}" if len(ids) == 1 else f"nets {ids[0]}-{ids[-1]}"


def score_sample_on(
    executor: Executor,
    configs: tuple[AnyNetConfig, ...],
    todo: list[int],
    store: SampleFile,
    scoring: NetScoring,
    reuse: Mapping[int, dict[str, Any]] | None = None,
    progress: bool = True,
) -> int:
    """:func:`score_sample` with shards of nets scored by ``executor``'s tasks; this process
    alone appends the rows, in the order :func:`score_sample` does. A failed shard raises
    :class:`~fewshot.executor.TasksFailed` once the others are written (the iteration is not
    summarised; running again scores only the missing nets)."""
    from fewshot.executor import Task, TasksFailed, make_shards, write_in_order

    usable = {
        i: {**row, "id": i}
        for i, row in (reuse or {}).items()
        if i in todo and row["hyperparameters"] == configs[i].hyperparameters()
        and _holds(row, scoring.predictors)
    }  # fmt: skip
    shards = make_shards(todo, executor.slots)
    tasks = [Task(_shard_name(s), [(i, configs[i]) for i in s if i not in usable]) for s in shards]
    bar = tqdm(total=len(todo), unit="net", disable=not progress, dynamic_ncols=True)
    scored = 0

    def write(outcome: Any) -> None:
        nonlocal scored
        rows = {row["id"]: row for row in outcome.value or []}
        for i in shards[outcome.index]:
            if i in usable or i in rows:
                store.append(usable.get(i) or rows[i])
                scored += i in rows
                bar.update()

    outcomes = executor.map(score_nets, tasks, scoring)
    try:
        failed = write_in_order(outcomes, write)
    finally:
        bar.close()
    if failed:
        raise TasksFailed(failed)
    return scored


# -- summarising one iteration --------------------------------------------------------------


def score_summary(scores: np.ndarray) -> dict[str, float]:
    """min, quartiles, max and mean of an iteration's scores."""
    q = np.percentile(scores, [0, 25, 50, 75, 100])
    keys = ("min", "q25", "median", "q75", "max")
    return {k: float(v) for k, v in zip(keys, q, strict=True)} | {"mean": float(scores.mean())}


def summarise_iteration(
    iteration: int,
    space: DesignSpace,
    sample: SampleResult,
    store: SampleFile,
    settings: RefineSettings,
) -> dict[str, Any]:
    """The iteration's record: ranges, subspace size, score statistics, intervals, best net."""
    names = hyperparameter_names(space.num_stages)
    scores, values = store.arrays(settings.predictor, names)
    if scores.size < 2:
        raise SamplingError(
            f"iteration {iteration}: only {scores.size} nets have a {settings.predictor} score "
            f"(failures: {_failures(store, settings.predictor)})"
        )
    winners = bootstrap_winners(
        scores,
        draws=settings.draws,
        fraction=settings.fraction,
        seed=iteration_seed(settings.seed + 1, iteration),
    )
    intervals = winner_intervals(values, names, winners, level=settings.level)
    rows = [r for r in store.ordered() if settings.predictor in r["scores"]]
    best = rows[int(np.argmax(scores))]
    return {
        "iteration": iteration,
        "ranges": space.to_dict(),
        "subspace_size": space.size(),
        "sampled": len(sample.configs),
        "proposals": sample.proposals,
        "acceptance": sample.acceptance,
        "scored": int(scores.size),
        "failed": len(sample.configs) - int(scores.size),
        "scores": score_summary(scores),
        "intervals": {n: iv.to_dict() for n, iv in intervals.items()},
        "next_subspace_size": space.narrow(_bounds(intervals)).size(),
        "best": {
            "hyperparameters": best["hyperparameters"],
            "score": best["scores"][settings.predictor],
            "flops": best["flops"],
            "params": best["params"],
        },
    }


def _failures(store: SampleFile, predictor: str) -> str:
    msgs = [r["errors"][predictor] for r in store.ordered() if predictor in r["errors"]]
    return f"{len(msgs)}, first: {msgs[0]}" if msgs else "none"  # space-literal: not an op


def _bounds(intervals: Mapping[str, Interval]) -> dict[str, tuple[int, int]]:
    return {n: (iv.low, iv.high) for n, iv in intervals.items()}


def intervals_of(record: Mapping[str, Any]) -> dict[str, tuple[int, int]]:
    """``{name: (low, high)}`` of one iteration record."""
    return {n: (int(iv["low"]), int(iv["high"])) for n, iv in record["intervals"].items()}


# -- the loop -------------------------------------------------------------------------------


def load_record(out: Path, settings: RefineSettings, data_info: Mapping[str, Any]) -> dict:
    """The run's record to continue (a new one when absent); another configuration refuses."""
    path = out / RECORD_NAME
    fresh = {
        "version": VERSION,
        "space": "anynet",
        "predictor": settings.predictor,
        "settings": settings.to_dict(),
        "data": dict(data_info),
        "status": "running",
        "iterations": [],
    }
    if not path.is_file():
        return fresh
    try:
        old = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise UsageError(f"{path} is not valid JSON ({exc}); use another --out") from None
    mine = {k: v for k, v in settings.to_dict().items() if k != "iterations"}
    theirs = {k: v for k, v in old.get("settings", {}).items() if k != "iterations"}
    if old.get("version") != VERSION or mine != theirs or old.get("data") != dict(data_info):
        raise UsageError(
            f"{path} was written with other settings or data ({theirs}, {old.get('data')}); "
            "use another --out, or --overwrite to start again"
        )
    old["settings"] = settings.to_dict()
    return old


def refine(
    out: Path,
    settings: RefineSettings,
    data: ScoringData,
    *,
    data_info: Mapping[str, Any] | None = None,
    initial_rows: Mapping[int, dict[str, Any]] | None = None,
    device: str = "cpu",
    progress: bool = True,
    scorer: Callable[[AnyNetConfig], Scored] | None = None,
    executor: Executor | None = None,
) -> dict[str, Any]:
    """Run (or resume) a refinement into ``out``; returns the record written there.

    ``initial_rows`` (id -> row, e.g. from an analysis run with the same seed and sample
    size) lets iteration 0 reuse nets scored elsewhere with identical hyperparameters.
    ``scorer`` replaces the metric library (tests, or a predictor defined elsewhere): it
    maps a config to its :class:`~fewshot.refine.predictors.Scored` under ``predictor``.
    ``executor``: score each iteration's nets as its tasks (the same files).
    """
    if scorer is None and settings.predictor not in PREDICTORS:
        raise UsageError(
            f"unknown predictor {settings.predictor!r}; known: {', '.join(PREDICTORS)}"
        )
    out.mkdir(parents=True, exist_ok=True)
    record = load_record(out, settings, data_info or {})
    done = {r["iteration"]: r for r in record["iterations"]}
    space = DesignSpace.paper()
    for k in range(settings.iterations):
        if k in done:
            space = space.narrow(intervals_of(done[k]))
            if _converged(record["iterations"], k):
                record["status"] = "converged"
                break
            continue
        record["status"] = "running"
        start = time.perf_counter()
        try:
            sample = iteration_sample(space, settings, k, num_classes=data.num_classes)
        except SamplingError as exc:
            record["status"], record["message"] = "sampling_failed", str(exc)
            log.warning("iteration %d: %s", k, exc)
            break
        store = SampleFile(sample_path(out, k))
        score_sample(
            sample.configs,
            store,
            [settings.predictor],
            data,
            seed=settings.seed,
            image_size=settings.image_size,
            reuse=initial_rows if k == 0 else None,
            device=device,
            scorer=scorer,
            progress=progress,
            desc=f"{settings.predictor} iteration {k}",
            executor=executor,
        )
        summary = summarise_iteration(k, space, sample, store, settings)
        summary["seconds"] = round(time.perf_counter() - start, 2)
        record["iterations"].append(summary)
        space = space.narrow(intervals_of(summary))
        converged = _converged(record["iterations"], k)
        record["status"] = "converged" if converged else "running"
        _finish(record, space)
        atomic_write_json(out / RECORD_NAME, record)
        _log_iteration(summary)
        if converged:
            break
    if record["status"] == "running":
        record["status"] = "max_iterations"
    _finish(record, space)
    atomic_write_json(out / RECORD_NAME, record)
    return record


def _converged(iterations: list[dict[str, Any]], k: int) -> bool:
    """Whether iteration ``k``'s intervals equal iteration ``k - 1``'s."""
    return k >= 1 and intervals_of(iterations[k]) == intervals_of(iterations[k - 1])


def _finish(record: dict[str, Any], space: DesignSpace) -> None:
    record["final_ranges"] = space.to_dict()
    record["final_subspace_size"] = space.size()


def _log_iteration(s: Mapping[str, Any]) -> None:
    iv = s["intervals"]
    log.info(
        "iteration %d: %d nets (%d failed), median score %.4g, subspace %.3g -> %.3g; d=%s w=%s",
        s["iteration"],
        s["scored"],
        s["failed"],
        s["scores"]["median"],
        s["subspace_size"],
        s["next_subspace_size"],
        [(iv[f"d{i}"]["low"], iv[f"d{i}"]["high"]) for i in (1, 2, 3)],
        [(iv[f"w{i}"]["low"], iv[f"w{i}"]["high"]) for i in (1, 2, 3)],
    )
