"""Run folders as pandas DataFrames: the tables a researcher wants in a notebook.

Each loader reads the files a command wrote (nothing is recomputed) and returns one flat
DataFrame, one row per thing:

- :func:`load_scores`: ``fewshot.score``'s ``scores.csv``, one row per arch, joined with the
  benchmark's accuracy (column ``accuracy``) when a benchmark is found and the scoring data is
  the benchmark's (or a column is named);
- :func:`load_leaves` / :func:`load_splits`: a split tree's leaves (one row per leaf: its ops per
  edge and arch count) and splits (one row per split: edge, groups, ``decided_by``, cut);
- :func:`load_search`: ``fewshot.train``'s ``search.json``, one row per (search, leaf, arch):
  held-out accuracy, rank, chosen, and (judged) the benchmark's accuracy;
- :func:`load_curves`: per-epoch training metrics of every trained leaf (``metrics.jsonl``);
- :func:`load_search_run`: a ``fewshot.search`` run, one row per (repeat, model trained): the
  arch's benchmark index and the accuracy the search reports so far;
- :func:`load_ranking`: the few-shot vs one-shot ranking study, one row per (seed, method,
  arch): predicted and true accuracy.

Imports pandas (a dependency) when called; reads the tree format (:mod:`fewshot.splitting`),
the scores CSV (:mod:`fewshot.scoring`) and the benchmark adapter.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fewshot.errors import UsageError
from fewshot.run_folder import CONFIG, LEAVES, ONE_SHOT_DIR, SEARCH, TRAIN_CONFIG, load_run_config
from fewshot.spaces import BenchmarkAdapter, SearchSpace, get_space
from fewshot.spaces.base import DEFAULT_SPACE
from fewshot.splitting.tree import SplitTree, load_tree

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger("fewshot")

SCORES_CSV = "scores.csv"
METRICS_LOG = "metrics.jsonl"


def _pandas() -> Any:
    import pandas as pd

    return pd


def _tree(tree: SplitTree | str | Path) -> SplitTree:
    return tree if isinstance(tree, SplitTree) else load_tree(Path(tree))


# -- scores -----------------------------------------------------------------------------------


def load_scores(
    path: str | Path,
    *,
    benchmark: str | Path | None = None,
    benchmark_dataset: str | None = None,
) -> pd.DataFrame:
    """``fewshot.score``'s scores (a folder or its ``scores.csv``), one row per arch.

    Columns: ``arch``, ``index`` (the benchmark's index), one per metric (NaN where it failed),
    ``seconds``, ``error``, and ``accuracy`` (the benchmark's accuracy of the arch) when
    judged: the benchmark of the run's search space is ``benchmark`` or the one the run recorded
    or the space finds (NB201: :func:`fewshot.benchmark.find_benchmark`), and the column is
    ``benchmark_dataset``, or
    else the data set the run was judged on (none when its data is not the benchmark's:
    :mod:`fewshot.data.identity`).
    """
    pd = _pandas()
    path = Path(path)
    csv = path / SCORES_CSV if path.is_dir() else path
    if not csv.is_file():
        raise UsageError(f"no scores at {csv}: run fewshot.score first")
    frame = pd.read_csv(
        csv, keep_default_na=False, na_values=[""], dtype={"error": str, "arch": str}
    )
    frame["error"] = frame["error"].fillna("")
    frame["index"] = frame["index"].astype("Int64")
    saved = load_run_config(csv.parent, CONFIG) or {}
    space = get_space(str(saved.get("space", DEFAULT_SPACE)))
    column = _accuracy_column(saved, benchmark_dataset)
    bench = _benchmark(space, benchmark, saved)
    if column is None or bench is None:
        return frame
    frame["accuracy"] = _accuracies(space.open_benchmark(bench), frame["arch"], column)
    frame.attrs.update(benchmark=str(bench), benchmark_dataset=column)
    return frame


def _accuracy_column(saved: dict[str, Any], requested: str | None) -> str | None:
    from fewshot.data.identity import judging

    if requested is not None:
        return requested
    if saved.get("benchmark_dataset"):
        return str(saved["benchmark_dataset"])
    verdict = judging(saved.get("dataset"), saved.get("data_root"), None)
    if verdict.column is None:
        log.info("%s", verdict.why)
    return verdict.column


def _benchmark(space: SearchSpace, given: str | Path | None, saved: dict[str, Any]) -> Path | None:
    if given is None and saved.get("benchmark"):
        recorded = Path(saved["benchmark"])
        if recorded.exists():
            return recorded
    try:
        return space.find_benchmark(Path(given) if given is not None else None)
    except NotImplementedError:  # a space without ground truth: nothing to join
        return None


def _accuracies(bench: BenchmarkAdapter, archs: Iterable[str], column: str) -> list[float]:
    out = []
    for arch in archs:
        try:
            out.append(bench.accuracy(arch, column))
        except ValueError:
            out.append(float("nan"))
    return out


# -- split trees -------------------------------------------------------------------------------


def load_leaves(tree: SplitTree | str | Path) -> pd.DataFrame:
    """A split tree's leaves (a ``tree.json``, its run folder, or a loaded tree), one row per
    leaf: ``leaf`` (node id), ``depth``, ``parent``, ``archs`` (architectures in the leaf),
    one column per position named as the space names them (NB201: ``edge0``..``edge5``;
    NAS-Bench-Macro: ``layer0``..``layer7``: the leaf's ops there, ``|``-joined), ``note``."""
    pd = _pandas()
    t = _tree(tree)
    rows = []
    for node in t.leaves():
        row: dict[str, Any] = {"leaf": node.id, "depth": node.depth, "parent": node.parent,
                               "archs": node.mask.num_archs}  # fmt: skip
        for e, ops in enumerate(node.mask.to_op_lists()):
            row[f"{t.space.position_kind}{e}"] = "|".join(ops)
        row["note"] = node.note or ""
        rows.append(row)
    frame = pd.DataFrame(rows)
    frame.attrs.update(metric=t.metric, seed=t.seed, dataset=t.dataset, space=t.space.name)
    return frame


def load_splits(tree: SplitTree | str | Path) -> pd.DataFrame:
    """A split tree's splits, one row per split: ``node``, ``depth``, ``edge``, ``groups``
    (``{ops} | {ops}``), ``decided_by`` (``value``, ``tie``, ``nonfinite`` or ``random``),
    ``ties``, ``cut``, ``objective``, ``nonfinite_ops`` and the metric's score per op
    (``score:<op>``)."""
    pd = _pandas()
    t = _tree(tree)
    rows = []
    for node, split in t.splits():
        row: dict[str, Any] = {
            "node": node.id, "depth": node.depth, "edge": split.edge,
            "groups": " | ".join("{" + ", ".join(g) + "}" for g in split.groups),
            "decided_by": split.decided_by, "ties": split.ties, "cut": split.cut,
            "objective": split.objective, "nonfinite_ops": ",".join(split.nonfinite_ops),
        }  # fmt: skip
        for op, value in (split.scores or {}).items():
            row[f"score:{op}"] = value
        rows.append(row)
    frame = pd.DataFrame(rows)
    frame.attrs.update(metric=t.metric, seed=t.seed, dataset=t.dataset)
    return frame


# -- training and the search inside leaves ------------------------------------------------------


def load_search(run_dir: str | Path) -> pd.DataFrame:
    """``fewshot.train``'s search (``RUN_DIR/search.json``), one row per (search, leaf, arch):
    ``search`` (``few-shot``/``one-shot``), ``leaf``, ``arch``, ``held_out`` (accuracy on
    held-out images with the trained weights, %), ``rank`` (1 = best in its leaf),
    ``chosen`` (the leaf's pick), ``overall_pick`` (the search's pick across its leaves) and,
    when the run was judged, ``true`` (the benchmark's accuracy)."""
    pd = _pandas()
    path = Path(run_dir) / SEARCH
    if not path.is_file():
        raise UsageError(f"no search results at {path}: run fewshot.train first")
    result = json.loads(path.read_text())
    evaluation = result.get("evaluation") or {}
    rows = []
    for name, search in result["searches"].items():
        best = search.get("best") or {}
        for leaf, found in search["leaves"].items():
            truth = {
                a["arch"]: a.get("true")
                for a in evaluation.get(name, {}).get("leaves", {}).get(leaf, {}).get("archs", [])
            }
            for rank, scored in enumerate(found["scored"], 1):
                row = {
                    "search": name, "leaf": leaf, "arch": scored["arch"],
                    "held_out": scored["predicted"], "rank": rank, "chosen": rank == 1,
                    "overall_pick": leaf == best.get("leaf") and scored["arch"] == best.get("arch"),
                }  # fmt: skip
                if evaluation:
                    row["true"] = truth.get(scored["arch"])
                rows.append(row)
    frame = pd.DataFrame(rows)
    frame.attrs.update(benchmark=result.get("benchmark"), judging=result.get("judging"))
    return frame


def load_curves(run_dir: str | Path) -> pd.DataFrame:
    """Per-epoch training metrics of every trained job of ``fewshot.train`` in ``run_dir``
    (``leaves/<id>/metrics.jsonl`` and ``oneshot/metrics.jsonl``), one row per (job, epoch):
    ``job`` (the leaf id or ``oneshot``), ``epoch``, ``step``, ``train_loss``, ``train_acc``,
    ``val_loss``, ``val_acc``, ``lr``, ``seconds`` (whichever were logged)."""
    pd = _pandas()
    root = Path(run_dir)
    per_job = training_logs(root)
    if not per_job and not (root / TRAIN_CONFIG).is_file():
        raise UsageError(f"no training in {root}: run fewshot.train first")
    return pd.DataFrame([{"job": job, **row} for job, rows in per_job.items() for row in rows])


def training_logs(run_dir: str | Path) -> dict[str, list[dict[str, Any]]]:
    """Every trained job's ``metrics.jsonl`` rows (one per finished epoch), by job id: the
    leaves in id order, then ``oneshot``; jobs without a log are left out."""
    root = Path(run_dir)
    logs = sorted((root / LEAVES).glob(f"*/{METRICS_LOG}"), key=_leaf_order)
    logs += [p for p in [root / ONE_SHOT_DIR / METRICS_LOG] if p.is_file()]
    out: dict[str, list[dict[str, Any]]] = {}
    for log_file in logs:
        rows = [json.loads(line) for line in log_file.read_text().splitlines() if line.strip()]
        if rows:
            out[log_file.parent.name] = rows
    return out


def _leaf_order(path: Path) -> tuple[int, str]:
    name = path.parent.name
    return (int(name), name) if name.isdigit() else (1 << 30, name)


# -- fewshot.search runs -----------------------------------------------------------------------


def load_search_run(out: str | Path) -> pd.DataFrame:
    """A ``fewshot.search`` run folder (``summary.json``), one row per (repeat, model trained):
    ``repeat``, ``step`` (1-based), ``index`` (the NATS-Bench index of the arch trained at that
    step) and ``reported`` (the search's curve: the test accuracy, %, of the best arch so far
    by the selection accuracy, validation where the benchmark has it; so not monotone)."""
    pd = _pandas()
    path = Path(out) / "summary.json"
    if not path.is_file():
        raise UsageError(f"no search summary at {path}: run fewshot.search first")
    summary = json.loads(path.read_text())
    rows = []
    for repeat, (curve, trained) in enumerate(
        zip(summary["curves"], summary["trained"], strict=True)
    ):
        for step, (best, index) in enumerate(zip(curve, trained, strict=True), 1):
            rows.append({"repeat": repeat, "step": step, "index": int(index), "reported": best})
    frame = pd.DataFrame(rows)
    frame.attrs.update(dataset=summary.get("dataset"), selection=summary.get("selection"))
    return frame


# -- the ranking study (few-shot vs one-shot) -----------------------------------------------------


def load_ranking(path: str | Path) -> pd.DataFrame:
    """A few-shot vs one-shot results file (``fewshot.few_vs_one_shot`` format, e.g.
    ``docs/training/ranking_compare.json``), one row per (seed, method, arch): ``seed``,
    ``method`` (``one-shot-x1``, ``snip-d1``, ...), ``arch``, ``index`` (NATS-Bench),
    ``predicted`` (held-out accuracy with the method's trained supernets, %) and ``true`` (the
    benchmark's accuracy, %). Kendall tau per (seed, method) is then one ``groupby`` away."""
    pd = _pandas()
    data = json.loads(Path(path).read_text())
    if data.get("format") != "fewshot.few_vs_one_shot":
        raise UsageError(f"{path} is not a few-shot vs one-shot results file")
    sample = data["sample"]
    rows = []
    for seed, methods in data["predictions"].items():
        for method, predicted in methods.items():
            for arch, index, pred, true in zip(
                sample["archs"], sample["indices"], predicted, sample["accuracy"], strict=True
            ):
                rows.append({"seed": int(seed), "method": method, "arch": arch,
                             "index": int(index), "predicted": pred, "true": true})  # fmt: skip
    return pd.DataFrame(rows)


__all__ = [
    "load_curves",
    "load_ranking",
    "load_leaves",
    "load_scores",
    "load_search",
    "load_search_run",
    "load_splits",
    "training_logs",
]
