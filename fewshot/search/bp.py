"""BP: the binary relation predictor (Dudziak et al., BRP-NAS, 2020) as a search algorithm.

The cell is read as a graph with one node per operation (NB201's ops sit on edges): node 0 is
the cell input, nodes 1..6 the ops of :data:`~fewshot.spaces.nb201.EDGES` in order, node 7 the
output. The op on edge ``(j, i)`` feeds every op on an edge leaving node ``j`` (or the output
when ``j == 3``); a ``none`` op sends nothing. Node features are one-hot (input, output, the
five ops). A small GCN (three layers, symmetric normalisation, self loops) embeds the graph;
a linear head gives a score ``s``, and the predicted relation is ``P(a better than b) =
sigmoid(s(a) - s(b))``. Trained with binary cross-entropy on pairs, it is a binary relation
predictor whose relation is antisymmetric and transitive by construction, so ranking 15,625
archs costs one forward pass instead of all pairs (BRP-NAS compares pairs with a general
head; this is the one simplification, see docs/search/README.md).

The search (iterative rounds): train the predictor on every pair of trained archs (ordered by
selection accuracy), then train the ``bp_batch`` untrained archs it ranks highest; the first
round is random. Warmup ``N``: before the first round the predictor is pre-trained on the
proxy's ranking of ``N`` random archs (pairs drawn from all of them), and the first round is
its top ``bp_batch``.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor, nn

from fewshot.search.algorithms import ALGORITHMS, AlgoSettings, Searcher
from fewshot.search.searchable import SearchSpace
from fewshot.spaces.nb201 import EDGES, NUM_EDGES, NUM_OPS

NUM_NODES = NUM_EDGES + 2
FEATURES = NUM_OPS + 2
NONE_OP = 0  # fewshot.spaces.nb201.OPS[0] == "none"


def _base_adjacency() -> np.ndarray:
    """``A[src, dst]`` of the op graph before ``none`` ops are removed."""
    a = np.zeros((NUM_NODES, NUM_NODES), dtype=np.float32)
    for k, (to, frm) in enumerate(EDGES):
        node = k + 1
        if frm == 0:
            a[0, node] = 1
        for m, (_, frm2) in enumerate(EDGES):
            if frm2 == to:
                a[node, m + 1] = 1
        if to == 3:
            a[node, NUM_NODES - 1] = 1
    return a


_ADJ = torch.from_numpy(_base_adjacency())


def graph_tensors(ops: np.ndarray) -> tuple[Tensor, Tensor]:
    """Node features ``(b, 8, 7)`` and normalised adjacency ``(b, 8, 8)`` of op rows."""
    ops_t = torch.as_tensor(np.asarray(ops), dtype=torch.long)
    b = len(ops_t)
    x = torch.zeros(b, NUM_NODES, FEATURES)
    x[:, 0, 0] = 1
    x[:, -1, 1] = 1
    x[:, 1:-1, 2:] = nn.functional.one_hot(ops_t, NUM_OPS).float()
    alive = torch.ones(b, NUM_NODES)
    alive[:, 1:-1] = (ops_t != NONE_OP).float()
    a = _ADJ[None] * alive[:, :, None]  # a none op sends nothing
    a = a + a.transpose(1, 2) + torch.eye(NUM_NODES)[None]
    d = a.sum(-1).rsqrt()
    return x, d[:, :, None] * a * d[:, None, :]


class RelationPredictor(nn.Module):
    """GCN embedding + linear score; ``relation(a, b) = sigmoid(s(a) - s(b))``."""

    def __init__(self, hidden: int = 32, layers: int = 3) -> None:
        super().__init__()
        dims = [FEATURES] + [hidden] * layers
        self.layers = nn.ModuleList(nn.Linear(i, o) for i, o in zip(dims, dims[1:], strict=False))
        self.head = nn.Linear(2 * hidden, 1)

    def forward(self, x: Tensor, adj: Tensor) -> Tensor:
        for layer in self.layers:
            x = torch.relu(adj @ layer(x))
        return self.head(torch.cat([x[:, -1], x.mean(1)], dim=1)).squeeze(1)


class PairTrainer:
    """Fits a :class:`RelationPredictor` to "a is better than b" pairs (deterministic)."""

    def __init__(self, seed: int, *, lr: float = 1e-3, batch: int = 128) -> None:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.model = RelationPredictor()
        self.opt = torch.optim.Adam(self.model.parameters(), lr=lr, weight_decay=5e-4)
        self.batch = batch

    def fit(self, ops: np.ndarray, target: np.ndarray, steps: int, rng: np.random.Generator):
        """``steps`` minibatches of pairs ``(i, j)`` with ``target[i] != target[j]``,
        labelled ``target[i] > target[j]``."""
        target = np.asarray(target, dtype=float)
        if len(target) < 2 or np.ptp(target) == 0:
            return
        x, adj = graph_tensors(ops)
        self.model.train()
        for _ in range(steps):
            i = rng.integers(len(target), size=self.batch)
            j = rng.integers(len(target), size=self.batch)
            keep = target[i] != target[j]
            if not keep.any():
                continue
            i, j = i[keep], j[keep]
            s = self.model(x, adj)
            logit = s[torch.from_numpy(i)] - s[torch.from_numpy(j)]
            label = torch.from_numpy((target[i] > target[j]).astype(np.float32))
            loss = nn.functional.binary_cross_entropy_with_logits(logit, label)
            self.opt.zero_grad()
            loss.backward()
            self.opt.step()

    @torch.no_grad()
    def scores(self, ops: np.ndarray) -> np.ndarray:
        return self.scores_graphs(*graph_tensors(ops))

    @torch.no_grad()
    def scores_graphs(self, x: Tensor, adj: Tensor) -> np.ndarray:
        self.model.eval()
        return self.model(x, adj).numpy().astype(float)


@ALGORITHMS.decorator("bp")
class BinaryRelationSearch(Searcher):
    """Iterative BRP-NAS search: train the predictor, train its top ``bp_batch``, repeat."""

    def __init__(self, space: SearchSpace, rng: np.random.Generator, cfg: AlgoSettings) -> None:
        super().__init__(space, rng, cfg)
        self.trainer = PairTrainer(int(rng.integers(2**31)))
        self.trained: list[int] = []
        self.acc: list[float] = []
        self._done = np.zeros(len(space.oracle), dtype=bool)
        self._queue: list[int] = []
        self._warm = False
        if cfg.warmup:
            pool = space.sample(rng, cfg.warmup)
            key = space.proxy.rank_key(pool)
            ok = np.isfinite(key)
            self.trainer.fit(space.oracle.ops[pool[ok]], key[ok], cfg.bp_pretrain_steps, rng)
            self._warm = True

    def _next_round(self) -> list[int]:
        untrained = self.space.members[~self._done[self.space.members]]
        if not len(untrained):
            raise ValueError(f"BP trained every arch of the space ({len(self.space)})")
        k = min(self.cfg.bp_batch, len(untrained))
        if not self.trained and not self._warm:
            return [int(i) for i in self.rng.choice(untrained, size=k, replace=False)]
        if self.trained:
            ops = self.space.oracle.ops[np.array(self.trained)]
            self.trainer.fit(ops, np.array(self.acc), self.cfg.bp_round_steps, self.rng)
        if "bp_graphs" not in self.space.cache:  # built once per space, shared by repeats
            self.space.cache["bp_graphs"] = graph_tensors(self.space.oracle.ops)
        x, adj = self.space.cache["bp_graphs"]
        pos = torch.from_numpy(untrained)
        s = self.trainer.scores_graphs(x[pos], adj[pos])
        return [int(i) for i in untrained[np.argsort(-s, kind="stable")[:k]]]

    def propose(self) -> int:
        if not self._queue:
            self._queue = self._next_round()
        index = self._queue.pop(0)
        self._done[index] = True
        return index

    def observe(self, index: int, accuracy: float) -> None:
        self.trained.append(index)
        self.acc.append(accuracy)


__all__ = ["BinaryRelationSearch", "PairTrainer", "RelationPredictor", "graph_tensors"]
