"""Design-space refinement of a split space (NAS-Bench-201 by default): per-position op sets
narrowed by bootstrap winners.

The future work of da Silva et al., on a :class:`~fewshot.spaces.SearchSpace` (its op order and
``Mask``, no other encoding; the module keeps its NB201 name, the space it was written for and
the default). Iteration ``k`` draws archs uniformly from the current mask (one enabled op per
position, uniformly), scores them with a predictor, and bootstraps the best arch 10,000 times
(25% with replacement). A position's ops have no order, so the counterpart of a 95% interval is
a *credible set*: the fewest ops (largest bootstrap share first) that hold 95% of the winners'
ops on that position. The next iteration samples inside the mask of those sets; the loop stops
when the mask stops changing.

Scores come from a ``scorer(arch) -> float | None`` (``None``: cannot be scored, left out):
:func:`metric_scorer` computes a predictor on the arch's standalone network, and
:func:`table_scorer` looks values up in a per-arch table (e.g. NAS-Bench-Suite-Zero's).
:func:`mask_accuracy` summarises a mask's benchmark accuracies exactly (every arch in it).
"""

from __future__ import annotations

import csv
import json
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from fewshot.errors import UsageError
from fewshot.io import atomic_write_json
from fewshot.refine.bootstrap import (
    DEFAULT_DRAWS,
    DEFAULT_FRACTION,
    DEFAULT_LEVEL,
    bootstrap_winners,
    category_shares,
    credible_set,
)
from fewshot.refine.engine import iteration_seed, score_summary
from fewshot.refine.samples import SampleFile
from fewshot.spaces import Arch, Mask, SearchSpace, get_space, space_of

log = logging.getLogger("fewshot")

Scorer = Callable[[Arch], float | None]
RECORD_NAME = "refinement.json"
TABLE_COLUMNS = {"jacob_cov": "jacov", "naswot": "nwot"}
"""Predictor -> column of NAS-Bench-Suite-Zero's table where the names differ."""


@dataclass(frozen=True)
class NB201Settings:
    """What a refinement does (of any space: the space is :func:`refine_nb201`'s argument)."""

    predictor: str
    samples: int = 100
    iterations: int = 10
    seed: int = 0
    draws: int = DEFAULT_DRAWS
    fraction: float = DEFAULT_FRACTION
    level: float = DEFAULT_LEVEL

    def __post_init__(self) -> None:
        if self.iterations < 1:
            raise UsageError(f"--iterations must be at least 1, got {self.iterations}")
        if self.samples < 2:
            raise UsageError(f"need at least 2 archs per iteration, got {self.samples}")


def sample_archs(mask: Mask, n: int, seed: int) -> list[Arch]:
    """``n`` archs of ``mask``, each position's op uniform among its enabled ops (seeded)."""
    rng = np.random.default_rng(seed)
    space = mask.space
    choices = [mask.ops(p) for p in range(space.num_positions)]
    return [
        space.Arch(tuple(ops[int(rng.integers(len(ops)))] for ops in choices)) for _ in range(n)
    ]


def refined_mask(
    archs: Sequence[Arch], scores: np.ndarray, winners: np.ndarray, level: float
) -> tuple[Mask, list[dict[str, float]]]:
    """The mask of each position's credible op set, and each position's bootstrap shares per
    op (the archs' space)."""
    space = space_of(archs[0])
    ops, positions = space.ops, range(space.num_positions)
    labels = np.array([a.op_indices for a in archs], dtype=int)
    shares = category_shares(labels, winners, space.num_ops)
    kept = [[ops[i] for i in credible_set(shares[e], level)] for e in positions]
    table = [{op: float(shares[e, i]) for i, op in enumerate(ops)} for e in positions]
    return space.Mask.from_op_lists(kept), table


# -- scorers --------------------------------------------------------------------------------


def table_scorer(path: Path, predictor: str) -> Scorer:
    """Look an arch's value up in a CSV keyed by ``net_str`` (arch string) or ``arch_str``."""
    column = TABLE_COLUMNS.get(predictor, predictor)
    values: dict[str, float] = {}
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        if column not in (reader.fieldnames or []):
            raise UsageError(f"{path} has no column {column!r} for predictor {predictor!r}")
        key = "net_str" if "net_str" in reader.fieldnames else "arch_str"
        for row in reader:
            if row[column] not in ("", "nan"):
                values[row[key]] = float(row[column])
    return lambda arch: values.get(arch.to_string())


def metric_scorer(predictor: str, data: Any, *, C: int, N: int, seed: int) -> Scorer:
    """Score an arch's standalone network (its space's, ``C``, ``N``) with a predictor."""
    from fewshot.refine.predictors import score_network

    def score(arch: Arch) -> float | None:
        scored = score_network(
            lambda: arch.space.build_network(arch, C=C, N=N, num_classes=data.num_classes),
            [predictor],
            data,
            seed=seed,
        )
        return scored.scores.get(predictor)

    return score


def mask_accuracy(mask: Mask, accuracy_of: Callable[[Arch], float], top: float) -> dict[str, float]:
    """Benchmark accuracy of every arch in ``mask``: mean, median, max, share above ``top``."""
    acc = np.array([accuracy_of(a) for a in mask.archs()], dtype=float)
    return {
        "archs": int(acc.size),
        "mean": float(acc.mean()),
        "median": float(np.median(acc)),
        "max": float(acc.max()),
        "share_top5": float((acc >= top).mean()),
    }


# -- the loop -------------------------------------------------------------------------------


def refine_nb201(
    out: Path,
    settings: NB201Settings,
    scorer: Scorer,
    *,
    accuracy_of: Callable[[Arch], float] | None = None,
    top5_threshold: float | None = None,
    start: Mask | None = None,
    progress: bool = True,
    space: SearchSpace | None = None,
) -> dict[str, Any]:
    """Run (or resume) the refinement of ``space`` (default: ``start``'s, else ``nb201``) into
    ``out``; returns the record written there (its ``space`` names the space)."""
    space = space if space is not None else space_of(start) if start is not None else get_space()
    if start is not None and space_of(start).name != space.name:
        raise UsageError(f"the start mask is of search space {space_of(start).name!r}, not "
                         f"{space.name!r}")  # fmt: skip
    out.mkdir(parents=True, exist_ok=True)
    record = _load(out, settings, space)
    mask = start or space.full_mask()
    done = {r["iteration"]: r for r in record["iterations"]}
    for k in range(settings.iterations):
        if k in done:
            mask = space.Mask.from_op_lists(done[k]["next_mask"])
            if k >= 1 and done[k]["next_mask"] == done[k]["mask"]:
                break
            continue
        t0 = time.perf_counter()
        archs = sample_archs(mask, settings.samples, iteration_seed(settings.seed, k))
        store = SampleFile(out / "samples" / f"iter{k}.jsonl")
        _score(archs, store, scorer, settings.predictor, progress, k)
        summary = _summarise(k, mask, archs, store, settings)
        if accuracy_of is not None and top5_threshold is not None:
            summary["accuracy"] = mask_accuracy(mask, accuracy_of, top5_threshold)
        summary["seconds"] = round(time.perf_counter() - t0, 2)
        record["iterations"].append(summary)
        nxt = space.Mask.from_op_lists(summary["next_mask"])
        log.info("%s iteration %d: %d archs -> %d: %s", space.name, k, mask.num_archs,
                 nxt.num_archs, nxt)  # fmt: skip
        converged = nxt == mask
        mask = nxt
        record["status"] = "converged" if converged else "running"
        _finish(record, mask, accuracy_of, top5_threshold)
        atomic_write_json(out / RECORD_NAME, record)
        if converged:
            break
    if record["status"] == "running":
        record["status"] = "max_iterations"
    _finish(record, mask, accuracy_of, top5_threshold)
    atomic_write_json(out / RECORD_NAME, record)
    return record


def _without_iterations(settings: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in settings.items() if k != "iterations"}


def _load(out: Path, settings: NB201Settings, space: SearchSpace) -> dict[str, Any]:
    path = out / RECORD_NAME
    mine = asdict(settings)
    if path.is_file():
        old = json.loads(path.read_text(encoding="utf-8"))
        theirs = _without_iterations(old.get("settings", {}))
        if old.get("space") != space.name or theirs != _without_iterations(mine):
            raise UsageError(f"{path} was written with other settings; use another --out")
        old["settings"] = mine
        return old
    return {"version": 1, "space": space.name, "predictor": settings.predictor, "settings": mine,
            "status": "running", "iterations": []}  # fmt: skip


def _score(
    archs: list[Arch], store: SampleFile, scorer: Scorer, predictor: str, progress: bool, k: int
) -> None:
    todo = [i for i in range(len(archs)) if i not in store]
    name = space_of(archs[0]).name if archs else ""
    for i in tqdm(todo, unit="arch", disable=not progress, desc=f"{name} {predictor} iter {k}"):
        t0 = time.perf_counter()
        value = scorer(archs[i])
        ok = value is not None and np.isfinite(value)
        store.append(
            {
                "id": i,
                "arch": archs[i].to_string(),
                "scores": {predictor: float(value)} if ok else {},
                "errors": {} if ok else {predictor: "no value"},
                "seconds": round(time.perf_counter() - t0, 4),
            }
        )


def _summarise(
    k: int, mask: Mask, archs: list[Arch], store: SampleFile, settings: NB201Settings
) -> dict[str, Any]:
    space = mask.space
    rows = [r for r in store.ordered() if settings.predictor in r["scores"]]
    if len(rows) < 2:
        raise UsageError(f"{space.name} iteration {k}: fewer than 2 archs could be scored")
    scored = [space.Arch.from_string(r["arch"]) for r in rows]
    scores = np.array([r["scores"][settings.predictor] for r in rows], dtype=float)
    winners = bootstrap_winners(
        scores,
        draws=settings.draws,
        fraction=settings.fraction,
        seed=iteration_seed(settings.seed + 1, k),
    )
    nxt, shares = refined_mask(scored, scores, winners, settings.level)
    nxt = space.Mask(tuple(tuple(a and b for a, b in zip(r1, r2, strict=True))
                           for r1, r2 in zip(nxt.enabled, mask.enabled, strict=True)))  # fmt: skip
    best = int(np.argmax(scores))
    return {
        "iteration": k,
        "mask": mask.to_op_lists(),
        "subspace_size": mask.num_archs,
        "sampled": len(archs),
        "scored": len(rows),
        "failed": len(archs) - len(rows),
        "scores": score_summary(scores),
        "shares": shares,
        "next_mask": nxt.to_op_lists(),
        "next_subspace_size": nxt.num_archs,
        "best": {"arch": scored[best].to_string(), "score": float(scores[best])},
    }


def _finish(
    record: dict[str, Any],
    mask: Mask,
    accuracy_of: Callable[[Arch], float] | None,
    top: float | None,
) -> None:
    record["final_mask"] = mask.to_op_lists()
    record["final_subspace_size"] = mask.num_archs
    if accuracy_of is not None and top is not None:
        record["final_accuracy"] = mask_accuracy(mask, accuracy_of, top)


def compare_with_tree(
    tree_path: Path,
    refined: Mask,
    accuracy_of: Callable[[Arch], float] | None = None,
    top: float | None = None,
) -> dict[str, Any]:
    """The leaves of a splitting tree beside a refined mask: each leaf's op sets, size, Jaccard
    overlap with the refined mask, whether it contains the refined mask, and (with a
    benchmark) its accuracy summary."""
    from fewshot.splitting.tree import load_tree

    tree = load_tree(tree_path)
    if tree.space.name != space_of(refined).name:
        raise UsageError(
            f"{tree_path} splits search space {tree.space.name!r}, not the refined space "
            f"{space_of(refined).name!r}"
        )
    leaves = []
    for leaf in tree.leaves():
        entry: dict[str, Any] = {
            "node": leaf.id,
            "mask": leaf.mask.to_op_lists(),
            "archs": leaf.mask.num_archs,
            "overlap": op_overlap(leaf.mask, refined),
            "contains_refined": refined.is_subset_of(leaf.mask),
        }
        if accuracy_of is not None and top is not None:
            entry["accuracy"] = mask_accuracy(leaf.mask, accuracy_of, top)
        leaves.append(entry)
    return {"tree": str(tree_path), "metric": tree.metric, "leaves": leaves}


def op_overlap(a: Mask, b: Mask) -> float:
    """Jaccard overlap of two masks' enabled (position, op) pairs."""
    x, y = a.to_array(), b.to_array()
    return float((x & y).sum() / (x | y).sum())
