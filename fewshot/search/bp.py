"""BP: the binary relation predictor (Dudziak et al., BRP-NAS, 2020) as a search algorithm.

An arch is read as a graph with one node per position (NB201's ops sit on edges): node 0 is
the network's (cell's) input, nodes ``1..P`` the ops of the space's positions in order, the
last node the output; which op feeds which is the space's :meth:`~fewshot.spaces.base.
SearchSpace.op_graph` (NB201: the op on edge ``(j, i)`` feeds every op on an edge leaving node
``j``, or the output when ``j`` is the last node), and the space's ``zero_op`` sends nothing.
Node features are one-hot (input, output, the space's ops). A small GCN (three layers,
symmetric normalisation, self loops) embeds the graph;
a linear head gives a score ``s``, and the predicted relation is ``P(a better than b) =
sigmoid(s(a) - s(b))``. Trained with binary cross-entropy on pairs, it is a binary relation
predictor whose relation is antisymmetric and transitive by construction, so ranking NB201's
15,625 archs costs one forward pass instead of all pairs (BRP-NAS compares pairs with a general
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
from fewshot.search.searchable import Searchable
from fewshot.spaces import SearchSpace


def num_features(space: SearchSpace) -> int:
    """Node feature width: input, output and one per op of ``space``."""
    return space.num_ops + 2


def base_adjacency(space: SearchSpace) -> np.ndarray:
    """``A[src, dst]`` of the op graph (input, positions, output) before zero ops are removed."""
    adjacency, from_input, to_output = space.op_graph()
    n = space.num_positions + 2
    a = np.zeros((n, n), dtype=np.float32)
    a[0, 1:-1] = from_input
    a[1:-1, 1:-1] = adjacency
    a[1:-1, -1] = to_output
    return a


def graph_tensors(ops: np.ndarray, space: SearchSpace) -> tuple[Tensor, Tensor]:
    """Node features ``(b, P + 2, K + 2)`` and normalised adjacency ``(b, P + 2, P + 2)`` of
    op rows of ``space`` (``P`` positions, ``K`` ops; NB201: 8 nodes, 7 features)."""
    ops_t = torch.as_tensor(np.asarray(ops), dtype=torch.long)
    b, nodes = len(ops_t), space.num_positions + 2
    x = torch.zeros(b, nodes, num_features(space))
    x[:, 0, 0] = 1
    x[:, -1, 1] = 1
    x[:, 1:-1, 2:] = nn.functional.one_hot(ops_t, space.num_ops).float()
    alive = torch.ones(b, nodes)
    if space.zero_op is not None:
        alive[:, 1:-1] = (ops_t != space.op_index(space.zero_op)).float()
    a = torch.from_numpy(base_adjacency(space))[None] * alive[:, :, None]  # zero ops send nothing
    a = a + a.transpose(1, 2) + torch.eye(nodes)[None]
    d = a.sum(-1).rsqrt()
    return x, d[:, :, None] * a * d[:, None, :]


class RelationPredictor(nn.Module):
    """GCN embedding + linear score; ``relation(a, b) = sigmoid(s(a) - s(b))``."""

    def __init__(self, features: int, hidden: int = 32, layers: int = 3) -> None:
        super().__init__()
        dims = [features] + [hidden] * layers
        self.layers = nn.ModuleList(nn.Linear(i, o) for i, o in zip(dims, dims[1:], strict=False))
        self.head = nn.Linear(2 * hidden, 1)

    def forward(self, x: Tensor, adj: Tensor) -> Tensor:
        for layer in self.layers:
            x = torch.relu(adj @ layer(x))
        return self.head(torch.cat([x[:, -1], x.mean(1)], dim=1)).squeeze(1)


class PairTrainer:
    """Fits a :class:`RelationPredictor` to "a is better than b" pairs of archs of ``space``
    (deterministic)."""

    def __init__(
        self, seed: int, *, space: SearchSpace, lr: float = 1e-3, batch: int = 128
    ) -> None:
        self.space = space
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.model = RelationPredictor(num_features(space))
        self.opt = torch.optim.Adam(self.model.parameters(), lr=lr, weight_decay=5e-4)
        self.batch = batch

    def fit(self, ops: np.ndarray, target: np.ndarray, steps: int, rng: np.random.Generator):
        """``steps`` minibatches of pairs ``(i, j)`` with ``target[i] != target[j]``,
        labelled ``target[i] > target[j]``."""
        target = np.asarray(target, dtype=float)
        if len(target) < 2 or np.ptp(target) == 0:
            return
        x, adj = graph_tensors(ops, self.space)
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
        return self.scores_graphs(*graph_tensors(ops, self.space))

    @torch.no_grad()
    def scores_graphs(self, x: Tensor, adj: Tensor) -> np.ndarray:
        self.model.eval()
        return self.model(x, adj).numpy().astype(float)


@ALGORITHMS.decorator("bp")
class BinaryRelationSearch(Searcher):
    """Iterative BRP-NAS search: train the predictor, train its top ``bp_batch``, repeat."""

    def __init__(self, space: Searchable, rng: np.random.Generator, cfg: AlgoSettings) -> None:
        super().__init__(space, rng, cfg)
        self.trainer = PairTrainer(int(rng.integers(2**31)), space=space.space)
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
            self.space.cache["bp_graphs"] = graph_tensors(self.space.oracle.ops, self.space.space)
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


__all__ = [
    "BinaryRelationSearch",
    "PairTrainer",
    "RelationPredictor",
    "base_adjacency",
    "graph_tensors",
    "num_features",
]
