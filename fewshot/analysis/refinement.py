"""Analyses of design-space refinement runs (numpy/scipy/scikit-learn; no plotting).

- :func:`log_scores`: the log of each predictor, as da Silva et al. analyse them (their values
  span orders of magnitude); signed predictors get ``sign(x) log(1 + |x|)``.
- :func:`kendall_matrix`: Kendall's tau between predictors over the nets every predictor
  scored (the paper's Fig. 2). Tau is a rank statistic, so the log changes nothing here; it
  is applied for fidelity and for the trees' thresholds.
- :func:`tertile_trees`: depth-limited decision trees of the hyperparameters predicting the
  low / medium / high tertile of each predictor (the paper's Fig. 3), with their feature
  importances and the text of the tree.
- :func:`iteration_table` / :func:`read_iterations`: per-iteration numbers of a run folder
  for the figures and the docs.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy.stats import kendalltau

TERTILES = ("low", "medium", "high")


def log_scores(values: Sequence[float] | np.ndarray, *, already_log: bool = False) -> np.ndarray:
    """``log(x)`` for a positive predictor, ``sign(x) log(1 + |x|)`` when any value is <= 0."""
    x = np.asarray(values, dtype=float)
    if already_log:
        return x
    if np.all(x[np.isfinite(x)] > 0):
        return np.log(x)
    return np.sign(x) * np.log1p(np.abs(x))


def complete_rows(rows: Sequence[Mapping[str, Any]], predictors: Sequence[str]) -> list[Mapping]:
    """The rows (nets) with a score for every predictor."""
    return [r for r in rows if all(p in r["scores"] for p in predictors)]


def score_matrix(
    rows: Sequence[Mapping[str, Any]],
    predictors: Sequence[str],
    *,
    log_scale: Mapping[str, bool] | None = None,
) -> np.ndarray:
    """Nets x predictors of log scores (``log_scale[p]``: the stored value is a log already)."""
    logged = log_scale or {}
    cols = [
        log_scores([r["scores"][p] for r in rows], already_log=logged.get(p, False))
        for p in predictors
    ]
    return np.stack(cols, axis=1) if cols else np.empty((len(rows), 0))


def kendall_matrix(scores: np.ndarray) -> np.ndarray:
    """Kendall's tau-b between every pair of columns (1 on the diagonal)."""
    k = scores.shape[1]
    tau = np.eye(k)
    for i in range(k):
        for j in range(i + 1, k):
            tau[i, j] = tau[j, i] = kendalltau(scores[:, i], scores[:, j]).statistic
    return tau


def tertile_labels(scores: Sequence[float] | np.ndarray) -> np.ndarray:
    """0 / 1 / 2 for the low / medium / high third of the scores (by rank, ties by order)."""
    s = np.asarray(scores, dtype=float)
    ranks = np.argsort(np.argsort(s, kind="stable"), kind="stable")
    return np.minimum(3 * ranks // len(s), 2)


@dataclass(frozen=True)
class TreeSummary:
    """One predictor's tertile tree: accuracy on the sample, importances, the rules as text."""

    predictor: str
    depth: int
    train_accuracy: float
    importances: dict[str, float]
    rules: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "predictor": self.predictor,
            "depth": self.depth,
            "train_accuracy": self.train_accuracy,
            "importances": self.importances,
            "rules": self.rules,
        }


def tertile_trees(
    values: np.ndarray,
    names: Sequence[str],
    scores: np.ndarray,
    predictors: Sequence[str],
    *,
    depth: int = 3,
    seed: int = 0,
) -> list[TreeSummary]:
    """Per predictor: a decision tree of ``depth`` from hyperparameters to score tertiles.

    Widths and group widths enter as ``log2`` (their values are powers of two, so a split
    threshold reads as a power of two).
    """
    from sklearn.tree import DecisionTreeClassifier, export_text

    x = feature_matrix(values, names)
    out = []
    for j, p in enumerate(predictors):
        y = tertile_labels(scores[:, j])
        tree = DecisionTreeClassifier(max_depth=depth, random_state=seed).fit(x, y)
        feature_names = [_feature_name(n) for n in names]
        out.append(
            TreeSummary(
                p,
                depth,
                float(tree.score(x, y)),
                {
                    n: float(v)
                    for n, v in zip(feature_names, tree.feature_importances_, strict=True)
                },
                export_text(tree, feature_names=feature_names, class_names=list(TERTILES)),
            )
        )
    return out


def _feature_name(name: str) -> str:
    return f"log2_{name}" if name[0] in "wg" else name


def feature_matrix(values: np.ndarray, names: Sequence[str]) -> np.ndarray:
    """Hyperparameter matrix with widths and group widths as ``log2``."""
    x = np.asarray(values, dtype=float).copy()
    for j, n in enumerate(names):
        if n[0] in "wg":
            x[:, j] = np.log2(x[:, j])
    return x


# -- run folders ----------------------------------------------------------------------------


def read_rows(path: Path) -> list[dict[str, Any]]:
    """Rows of a ``samples/iter<k>.jsonl`` file (a half-written last line is skipped)."""
    rows = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return rows


def read_iterations(out: Path, predictor: str) -> list[dict[str, np.ndarray]]:
    """Per iteration of a run folder: ``scores``, ``flops``, ``params`` of the scored nets."""
    record = json.loads((Path(out) / "refinement.json").read_text(encoding="utf-8"))
    result = []
    for it in record["iterations"]:
        rows = read_rows(Path(out) / "samples" / f"iter{it['iteration']}.jsonl")
        rows = [r for r in rows if predictor in r["scores"]]
        result.append(
            {
                "scores": np.array([r["scores"][predictor] for r in rows], dtype=float),
                "flops": np.array([r["flops"] for r in rows], dtype=float),
                "params": np.array([r["params"] for r in rows], dtype=float),
            }
        )
    return result


def interval_series(iterations: Sequence[Mapping[str, Any]], name: str) -> dict[str, np.ndarray]:
    """``low``, ``high``, ``median`` of hyperparameter ``name`` over a run's iterations."""
    ivs = [it["intervals"][name] for it in iterations]
    return {k: np.array([iv[k] for iv in ivs], dtype=float) for k in ("low", "high", "median")}


def final_interval_table(records: Mapping[str, Mapping[str, Any]], names: Sequence[str]) -> str:
    """Markdown table: one row per predictor, each hyperparameter's final interval."""
    head = "| predictor | iterations | status | " + " | ".join(names) + " |"
    lines = [head, "|" + "---|" * (len(names) + 3)]
    for p, rec in records.items():
        last = rec["iterations"][-1]["intervals"]
        cells = [_interval_cell(last[n]) for n in names]
        lines.append(
            f"| {p} | {len(rec['iterations'])} | {rec['status']} | " + " | ".join(cells) + " |"
        )
    return "\n".join(lines) + "\n"


def _interval_cell(iv: Mapping[str, float]) -> str:
    lo, hi = int(iv["low"]), int(iv["high"])
    return str(lo) if lo == hi else f"[{lo}, {hi}]"
