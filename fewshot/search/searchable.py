"""The part of the benchmark a search may train: all of it, or one few-shot leaf's mask.

:class:`Searchable` bundles the oracle, the allowed archs (a leaf's mask) and the proxy, and
answers what every algorithm needs: random members, the allowed neighbours of an arch (edit
distance 1, inside the mask), and the proxy's pick among candidates. (Not a
:class:`fewshot.spaces.SearchSpace`: that is the space itself, :attr:`Searchable.space`.)
"""

from __future__ import annotations

import numpy as np

from fewshot.errors import UsageError
from fewshot.search.oracle import Oracle
from fewshot.search.proxy import ProxyTable
from fewshot.spaces import Mask


class Searchable:
    """The archs of ``oracle`` inside ``mask`` (the whole benchmark when ``None``); the search
    space is the oracle's (:attr:`space`)."""

    def __init__(
        self, oracle: Oracle, mask: Mask | None = None, proxy: ProxyTable | None = None
    ) -> None:
        self.oracle, self.mask, self.proxy = oracle, mask, proxy
        self.space = oracle.space
        self.allowed = oracle.in_mask(mask)
        self.members = np.flatnonzero(self.allowed)
        if not len(self.members):
            raise UsageError(f"no benchmark arch lies inside the mask {mask}")
        table = oracle.neighbours
        self._neighbours = np.where(table >= 0, self.allowed[np.maximum(table, 0)], False)
        self.cache: dict[str, object] = {}  # per-space derived data shared by repeats (BP)

    def __len__(self) -> int:
        return len(self.members)

    def require_proxy(self, what: str) -> ProxyTable:
        if self.proxy is None:
            raise UsageError(f"{what} needs a proxy (--proxy NAME)")
        return self.proxy

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """``n`` distinct members in random order; ``UsageError`` when the space is smaller."""
        if n > len(self.members):
            raise UsageError(f"cannot draw {n} distinct archs from a space of {len(self)}")
        return rng.choice(self.members, size=n, replace=False)

    def by_proxy(self, indices: np.ndarray) -> np.ndarray:
        """``indices`` sorted by the proxy, best first (stable: ties keep their order)."""
        key = self.require_proxy("ordering by proxy").rank_key(indices)
        return np.asarray(indices)[np.argsort(-key, kind="stable")]

    def neighbours(self, index: int) -> np.ndarray:
        """Allowed archs at edit distance 1 of ``index`` (column order of the oracle's table)."""
        row = self.oracle.neighbours[index]
        return row[self._neighbours[index]]

    def mutate(self, index: int, rng: np.random.Generator) -> int:
        """One position changed to another allowed op: a random position that has an
        alternative, then a random alternative op (uniform over the neighbours in the whole
        space; NB201: 24)."""
        ok = self._neighbours[index].reshape(self.space.num_positions, self.space.num_ops - 1)
        edges = np.flatnonzero(ok.any(axis=1))
        if not len(edges):
            return int(index)  # a one-arch space: the only move is to stay
        edge = int(rng.choice(edges))
        k = int(rng.choice(np.flatnonzero(ok[edge])))
        return int(self.oracle.neighbours[index, edge * (self.space.num_ops - 1) + k])

    def propose_move(
        self, index: int, rng: np.random.Generator, ratio: int, random_prob: float = 0.0
    ) -> int:
        """Zero-cost move proposal: score ``ratio`` allowed neighbours (all of them when
        ``ratio`` is at least their number) and keep the proxy's best; with probability
        ``random_prob`` a random neighbour instead (the authors' notebook: 0.25)."""
        cands = self.neighbours(index)
        if not len(cands):
            return int(index)
        if ratio < len(cands):
            cands = rng.choice(cands, size=ratio, replace=False)
        if random_prob > 0 and rng.random() < random_prob:
            return int(rng.choice(cands))
        return int(self.by_proxy(cands)[0])


__all__ = ["Searchable"]
