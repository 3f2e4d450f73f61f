"""Search across few-shot leaves: spend one budget of trained models over a tree's leaves.

The framework paper leaves this open (SPEC 7). Each leaf (a :class:`~fewshot.spaces.Mask` of
the splitting tree) runs its own aging evolution whose mutations stay inside the leaf's mask;
a *leaf choice* decides which leaf trains the next model:

- ``proxy``: the leaves are ranked by a statistic of the proxy over their archs (``median``,
  ``mean``, ``max`` or ``top10``: the mean of the leaf's best 10%) and the whole budget goes to
  the best leaf (full AE settings inside it).
- ``results``: every leaf starts with ``population // leaves`` random archs (together about
  one whole-space AE population), then each model goes to the leaf whose best selection
  accuracy so far is highest (ties: the leaf with fewer models); its population grows to
  ``population`` and then ages.
- ``uniform``: round robin over the leaves, ``population // leaves`` per leaf (a baseline).

:func:`random_tree_masks` draws the random split baseline (random op groups per level, the
framework's fixed edge order), so the comparison needs no tree file.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from fewshot.errors import UsageError
from fewshot.search.algorithms import AgingEvolution, AlgoSettings, Searcher
from fewshot.search.oracle import Oracle
from fewshot.search.proxy import ProxyTable
from fewshot.search.searchable import Searchable
from fewshot.spaces import Mask, SearchSpace, get_space

LEAF_CHOICES = ("proxy", "results", "uniform")
LEAF_STATS = ("median", "mean", "max", "top10")


def leaf_masks(tree_path, space: SearchSpace | None = None) -> list[Mask]:
    """The leaf masks of a ``tree.json`` (validated by :func:`fewshot.splitting.tree.load_tree`);
    a tree of another space than ``space`` (when given) is a ``UsageError``."""
    from fewshot.splitting.tree import load_tree

    tree = load_tree(tree_path)
    if space is not None and tree.space.name != space.name:
        raise UsageError(
            f"the tree {tree_path} splits search space {tree.space.name!r}, not {space.name!r}"
        )
    return [node.mask for node in tree.leaves()]


def random_tree_masks(
    depth: int,
    branch: int,
    rng: np.random.Generator,
    edges: tuple[int, ...] = (0, 1, 2),
    *,
    space: SearchSpace | None = None,
) -> list[Mask]:
    """Leaves of a random split of ``space`` (default ``nb201``): level ``l`` splits position
    ``edges[l]``'s ops into ``branch`` random groups (uniform over partitions, as the
    framework's ``random`` baseline)."""
    from fewshot.splitting.partition import random_partition

    masks = [(space if space is not None else get_space()).full_mask()]
    for level in range(depth):
        edge = edges[level % len(edges)]
        children = []
        for mask in masks:
            ops = mask.ops(edge)
            if len(ops) < branch:
                children.append(mask)
                continue
            groups = random_partition(len(ops), branch, rng)
            children += [mask.restrict(edge, [ops[i] for i in g]) for g in groups]
        masks = children
    return masks


def leaf_statistic(proxy: ProxyTable, space: Searchable, stat: str) -> float:
    """A proxy statistic over every arch of the leaf (failed values left out)."""
    v = proxy.get(space.members)
    v = np.sort(v[np.isfinite(v)])
    if not len(v):
        return -np.inf
    if stat == "median":
        return float(np.median(v))
    if stat == "mean":
        return float(np.mean(v))
    if stat == "max":
        return float(v[-1])
    if stat == "top10":
        return float(np.mean(v[-max(1, len(v) // 10) :]))
    raise UsageError(f"unknown leaf statistic {stat!r}; expected one of {', '.join(LEAF_STATS)}")


class LeafSearch(Searcher):
    """Aging evolution per leaf, with a leaf choice (see the module docstring)."""

    def __init__(
        self,
        oracle: Oracle,
        masks: list[Mask],
        rng: np.random.Generator,
        cfg: AlgoSettings,
        *,
        choice: str = "results",
        proxy: ProxyTable | None = None,
        stat: str = "median",
    ) -> None:
        if choice not in LEAF_CHOICES:
            raise UsageError(f"unknown leaf choice {choice!r}; expected one of {LEAF_CHOICES}")
        if not masks:
            raise UsageError("the tree has no leaves")
        self.rng, self.cfg, self.choice = rng, cfg, choice
        self.spaces = [Searchable(oracle, m, proxy) for m in masks]
        if choice == "proxy":
            if proxy is None:
                raise UsageError("--leaf-choice proxy needs a proxy (--proxy NAME)")
            stats = [leaf_statistic(proxy, s, stat) for s in self.spaces]
            self.stats = stats
            self.active = [int(np.argmax(stats))]
            leaf_cfg = [cfg]
        else:
            self.active = list(range(len(masks)))
            share = max(2, cfg.population // len(masks))
            leaf_cfg = [self._leaf_settings(cfg, share, len(s)) for s in self.spaces]
        self.searchers = {
            i: AgingEvolution(self.spaces[i], rng, _fit_warmup(c, len(self.spaces[i])))
            for i, c in zip(self.active, leaf_cfg, strict=True)
        }
        self.best = {i: -np.inf for i in self.active}
        self.count = {i: 0 for i in self.active}
        self._turn = 0

    def _leaf_settings(self, cfg: AlgoSettings, share: int, size: int) -> AlgoSettings:
        population = cfg.population if self.choice == "results" else share
        return replace(cfg, population=population, initial=min(share, size))

    def _pick_leaf(self) -> int:
        if self.choice == "proxy":
            return self.active[0]
        seeding = [i for i in self.active if self.searchers[i].seeding]
        if self.choice == "uniform" or seeding:
            pool = seeding or self.active
            leaf = pool[self._turn % len(pool)]
            self._turn += 1
            return leaf
        return max(self.active, key=lambda i: (self.best[i], -self.count[i], -i))

    def propose(self) -> int:
        self._leaf = self._pick_leaf()
        return self.searchers[self._leaf].propose()

    def observe(self, index: int, accuracy: float) -> None:
        leaf = self._leaf
        self.searchers[leaf].observe(index, accuracy)
        self.best[leaf] = max(self.best[leaf], accuracy)
        self.count[leaf] += 1


def _fit_warmup(cfg: AlgoSettings, size: int) -> AlgoSettings:
    """A leaf smaller than the warmup draws its whole space instead."""
    return replace(cfg, warmup=min(cfg.warmup, size))


__all__ = [
    "LEAF_CHOICES",
    "LEAF_STATS",
    "LeafSearch",
    "leaf_masks",
    "leaf_statistic",
    "random_tree_masks",
]
