"""Why zero-cost warmup and move proposal work (SPEC 7): two statistics of a proxy table.

- :func:`top_k_in_top_fraction`: of the proxy's top ``k`` archs of the whole space, how many
  are in the top ``fraction`` by accuracy (paper, synflow, k=64, 5%: 44 / 54 / 56 on CIFAR-10 /
  CIFAR-100 / ImageNet16-120; a random pick: ``k * fraction`` = 3.2).
- :func:`move_match_rate`: over random archs, how often the proxy's best neighbour (edit
  distance 1, the move proposal's choice) is the most accurate neighbour (paper: 32 / 35 /
  33%; a random pick: 1/24 = 4.2%).
- :func:`leaf_profile`: what each few-shot leaf holds (size, best and median accuracy, top 5%).
"""

from __future__ import annotations

import numpy as np

from fewshot.search.oracle import Oracle


def _key(values: np.ndarray) -> np.ndarray:
    return np.where(np.isfinite(values), values, -np.inf)


def top_k_in_top_fraction(
    proxy: np.ndarray, accuracy: np.ndarray, *, k: int = 64, fraction: float = 0.05
) -> int:
    """How many of the proxy's top ``k`` lie in the top ``fraction`` by ``accuracy``."""
    top = np.argsort(-_key(np.asarray(proxy, dtype=float)), kind="stable")[:k]
    threshold = np.quantile(accuracy, 1.0 - fraction)
    return int((np.asarray(accuracy)[top] >= threshold).sum())


def move_match_rate(
    oracle: Oracle, proxy: np.ndarray, accuracy: np.ndarray, *, samples: int, seed: int = 0
) -> dict[str, float]:
    """Share of ``samples`` random archs whose proxy-best neighbour is a most accurate one
    (ties in accuracy: any of the tied neighbours counts), with the random-pick expectation."""
    rng = np.random.default_rng(seed)
    picks = rng.choice(len(oracle), size=samples, replace=False)
    key = _key(np.asarray(proxy, dtype=float))
    hits, chance = 0, 0.0
    for i in picks:
        nb = oracle.neighbours[i]
        nb = nb[nb >= 0]
        acc = accuracy[nb]
        best = acc == acc.max()
        hits += bool(best[int(np.argmax(key[nb]))])
        chance += best.mean()
    return {"match_rate": hits / samples, "random_rate": chance / samples, "samples": samples}


def leaf_profile(oracle: Oracle, masks, *, fraction: float = 0.05) -> list[dict[str, float]]:
    """Per leaf: its size, best and median reported accuracy, and how many of the space's top
    ``fraction`` archs (by reported accuracy) it holds: where a leaf search can end up."""
    acc = oracle.report_acc
    threshold = np.quantile(acc, 1.0 - fraction)
    rows = []
    for mask in masks:
        inside = oracle.in_mask(mask)
        rows.append({
            "archs": int(inside.sum()),
            "best": float(acc[inside].max()),
            "median": float(np.median(acc[inside])),
            "top": int((acc[inside] >= threshold).sum()),
        })  # fmt: skip
    return rows


__all__ = ["leaf_profile", "move_match_rate", "top_k_in_top_fraction"]
