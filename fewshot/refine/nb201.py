"""Design-space refinement on NAS-Bench-201: per-edge op sets narrowed by bootstrap winners.

The future work of da Silva et al., on the space of :mod:`fewshot.spaces.nb201` (its op order and
``Mask``, no other encoding). Iteration ``k`` draws archs uniformly from the current mask (one
enabled op per edge, uniformly), scores them with a predictor, and bootstraps the best arch
10,000 times (25% with replacement). An edge's ops have no order, so the counterpart of a 95%
interval is a *credible set*: the fewest ops (largest bootstrap share first) that hold 95% of
the winners' ops on that edge. The next iteration samples inside the mask of those sets; the
loop stops when the mask stops changing.

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
from fewshot.spaces.nb201 import NUM_EDGES, NUM_OPS, OPS, Arch, Mask

log = logging.getLogger("fewshot")

Scorer = Callable[[Arch], float | None]
RECORD_NAME = "refinement.json"
TABLE_COLUMNS = {"jacob_cov": "jacov", "naswot": "nwot"}
"""Predictor -> column of NAS-Bench-Suite-Zero's table where the names differ."""


@dataclass(frozen=True)
class NB201Settings:
    """What an NB201 refinement does."""

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
    """``n`` archs of ``mask``, each edge's op uniform among its enabled ops (seeded)."""
    rng = np.random.default_rng(seed)
    choices = [mask.ops(e) for e in range(NUM_EDGES)]
    return [Arch(tuple(ops[int(rng.integers(len(ops)))] for ops in choices)) for _ in range(n)]


def refined_mask(
    archs: Sequence[Arch], scores: np.ndarray, winners: np.ndarray, level: float
) -> tuple[Mask, list[dict[str, float]]]:
    """The mask of each edge's credible op set, and each edge's bootstrap shares per op."""
    labels = np.array([a.op_indices for a in archs], dtype=int)
    shares = category_shares(labels, winners, NUM_OPS)
    kept = [[OPS[i] for i in credible_set(shares[e], level)] for e in range(NUM_EDGES)]
    table = [{op: float(shares[e, i]) for i, op in enumerate(OPS)} for e in range(NUM_EDGES)]
    return Mask.from_op_lists(kept), table


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
    """Score an arch's standalone NB201 network (``C``, ``N``) with a predictor."""
    from fewshot.models.supernet import build_network
    from fewshot.refine.predictors import score_network

    def score(arch: Arch) -> float | None:
        scored = score_network(
            lambda: build_network(arch, C=C, N=N, num_classes=data.num_classes),
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
) -> dict[str, Any]:
    """Run (or resume) the NB201 refinement into ``out``; returns the record written there."""
    out.mkdir(parents=True, exist_ok=True)
    record = _load(out, settings)
    mask = start or Mask.full()
    done = {r["iteration"]: r for r in record["iterations"]}
    for k in range(settings.iterations):
        if k in done:
            mask = Mask.from_op_lists(done[k]["next_mask"])
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
        nxt = Mask.from_op_lists(summary["next_mask"])
        log.info("nb201 iteration %d: %d archs -> %d: %s", k, mask.num_archs, nxt.num_archs, nxt)
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


def _load(out: Path, settings: NB201Settings) -> dict[str, Any]:
    path = out / RECORD_NAME
    mine = asdict(settings)
    if path.is_file():
        old = json.loads(path.read_text(encoding="utf-8"))
        theirs = _without_iterations(old.get("settings", {}))
        if old.get("space") != "nb201" or theirs != _without_iterations(mine):
            raise UsageError(f"{path} was written with other settings; use another --out")
        old["settings"] = mine
        return old
    return {"version": 1, "space": "nb201", "predictor": settings.predictor, "settings": mine,
            "status": "running", "iterations": []}  # fmt: skip


def _score(
    archs: list[Arch], store: SampleFile, scorer: Scorer, predictor: str, progress: bool, k: int
) -> None:
    todo = [i for i in range(len(archs)) if i not in store]
    for i in tqdm(todo, unit="arch", disable=not progress, desc=f"nb201 {predictor} iter {k}"):
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
    rows = [r for r in store.ordered() if settings.predictor in r["scores"]]
    if len(rows) < 2:
        raise UsageError(f"nb201 iteration {k}: fewer than 2 archs could be scored")
    scored = [Arch.from_string(r["arch"]) for r in rows]
    scores = np.array([r["scores"][settings.predictor] for r in rows], dtype=float)
    winners = bootstrap_winners(
        scores,
        draws=settings.draws,
        fraction=settings.fraction,
        seed=iteration_seed(settings.seed + 1, k),
    )
    nxt, shares = refined_mask(scored, scores, winners, settings.level)
    nxt = Mask(tuple(tuple(a and b for a, b in zip(r1, r2, strict=True))
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
    """Jaccard overlap of two masks' enabled (edge, op) pairs."""
    x, y = a.to_array(), b.to_array()
    return float((x & y).sum() / (x | y).sum())
