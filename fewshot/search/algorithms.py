"""The search algorithms of SPEC 7 (RAND, AE, RL) with zero-cost warmup and move proposal.

Every algorithm is a :class:`Searcher`: ``propose()`` names the next arch to train (a benchmark
index inside the :class:`~fewshot.search.searchable.Searchable`), ``observe(index, accuracy)``
gives it the selection accuracy. One searcher is one repeat; all randomness comes from the
``numpy`` generator it is given, so a seed fixes the run. BP lives in :mod:`fewshot.search.bp`.

- RAND: archs in random order, without repetition. Warmup ``N``: the first archs trained are
  ``N`` random archs in proxy order, best first (then random ones).
- AE (aging evolution, Real et al.): population 64, tournament 10, the child of the
  tournament's best differs on one edge; the oldest dies. Warmup ``N``: the first population
  is the proxy's top 64 of ``N`` random archs. Move ``R``: the child is the proxy's best of
  ``R`` neighbours of the parent (all of them when ``R >= 24``).
- RL (REINFORCE, Williams; as in NAS-Bench-201): a per-edge categorical policy (logits, Adam,
  lr 0.01), reward minus an exponential moving-average baseline (momentum 0.9). Accuracy
  rewards are the selection accuracy in percent; proxy rewards are normalised to ``[-1, 1]``
  with the running min/max of the values seen, with their own baseline. Warmup ``N``: ``N``
  proxy rewards before the first accuracy reward; move ``R``: ``R`` proxy rewards after each
  accuracy reward.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

import numpy as np

from fewshot.errors import UsageError
from fewshot.registry import Registry
from fewshot.search.oracle import place_values
from fewshot.search.searchable import Searchable


@dataclass(frozen=True)
class AlgoSettings:
    """What changes an algorithm's behaviour (SPEC 7's defaults)."""

    warmup: int = 0
    move: int = 0
    move_random: float = 0.0
    population: int = 64
    tournament: int = 10
    initial: int | None = None  # AE's first population (default: population)
    rl_lr: float = 0.01
    rl_momentum: float = 0.9
    bp_batch: int = 10
    bp_pretrain_steps: int = 300
    bp_round_steps: int = 100

    def check(self, space_size: int) -> None:
        if self.warmup < 0 or self.move < 0:
            raise UsageError(f"warmup and move must be >= 0, got {self.warmup}, {self.move}")
        if self.warmup > space_size:
            raise UsageError(
                f"warmup {self.warmup} is larger than the search space ({space_size} archs)"
            )
        if not 0.0 <= self.move_random <= 1.0:
            raise UsageError(f"move-random must lie in [0, 1], got {self.move_random}")
        if self.population < 1 or self.tournament < 1:
            raise UsageError("population and tournament must be >= 1")


class Searcher:
    """One search run: ``propose`` an arch, ``observe`` its accuracy."""

    def __init__(self, space: Searchable, rng: np.random.Generator, cfg: AlgoSettings) -> None:
        cfg.check(len(space))
        self.space, self.rng, self.cfg = space, rng, cfg

    def propose(self) -> int:
        raise NotImplementedError

    def observe(self, index: int, accuracy: float) -> None:
        """Default: nothing to learn from results."""


ALGORITHMS: Registry[type[Searcher]] = Registry("search algorithm")


@ALGORITHMS.decorator("rand")
class RandomSearch(Searcher):
    """Random search without repetition; warmup trains ``N`` random archs in proxy order."""

    def __init__(self, space: Searchable, rng: np.random.Generator, cfg: AlgoSettings) -> None:
        super().__init__(space, rng, cfg)
        order = rng.permutation(space.members)
        if cfg.warmup:
            head = space.by_proxy(order[: cfg.warmup])
            order = np.concatenate([head, order[cfg.warmup :]])
        self._order, self._next = order, 0

    def propose(self) -> int:
        if self._next >= len(self._order):
            raise UsageError(f"random search trained every arch of the space ({len(self._order)})")
        self._next += 1
        return int(self._order[self._next - 1])


@ALGORITHMS.decorator("ae")
class AgingEvolution(Searcher):
    """Aging evolution with zero-cost warmup (seeded population) and move proposal."""

    def __init__(self, space: Searchable, rng: np.random.Generator, cfg: AlgoSettings) -> None:
        super().__init__(space, rng, cfg)
        size = min(cfg.initial or cfg.population, len(space))
        if cfg.warmup:
            pool = space.by_proxy(space.sample(rng, cfg.warmup))[:size]
            rest = np.setdiff1d(space.members, pool)
            extra = rng.choice(rest, size=size - len(pool), replace=False)
            seeds = np.concatenate([pool, extra])
        else:
            seeds = space.sample(rng, size)
        self._seeds = deque(int(i) for i in seeds)
        self.population: deque[tuple[int, float]] = deque(maxlen=cfg.population)

    @property
    def seeding(self) -> bool:
        """True while the first population is still being trained."""
        return bool(self._seeds)

    def propose(self) -> int:
        if self._seeds:
            return self._seeds.popleft()
        k = min(self.cfg.tournament, len(self.population))
        picks = self.rng.choice(len(self.population), size=k, replace=False)
        parent = max((self.population[i] for i in picks), key=lambda m: m[1])[0]
        if self.cfg.move:
            return self.space.propose_move(parent, self.rng, self.cfg.move, self.cfg.move_random)
        return self.space.mutate(parent, self.rng)

    def observe(self, index: int, accuracy: float) -> None:
        self.population.append((index, accuracy))  # maxlen: the oldest dies


class _Adam:
    """Adam on one array (the policy logits); minimal, in place and deterministic."""

    def __init__(self, shape: tuple[int, ...], lr: float, b1=0.9, b2=0.999, eps=1e-8) -> None:
        self.lr, self.b1, self.b2, self.eps = lr, b1, b2, eps
        self.m, self.v, self.t = np.zeros(shape), np.zeros(shape), 0

    def step(self, param: np.ndarray, grad: np.ndarray) -> None:
        self.t += 1
        self.m *= self.b1
        self.m += (1 - self.b1) * grad
        self.v *= self.b2
        self.v += (1 - self.b2) * grad * grad
        lr = self.lr * math.sqrt(1 - self.b2**self.t) / (1 - self.b1**self.t)
        param -= lr * self.m / (np.sqrt(self.v) + self.eps * math.sqrt(1 - self.b2**self.t))


@ALGORITHMS.decorator("rl")
class Reinforce(Searcher):
    """REINFORCE over a per-position categorical policy, with proxy-reward warmup and
    interleaving.

    Ops outside the space's mask have logit ``-inf``: probability 0, gradient 0, never updated.
    """

    def __init__(self, space: Searchable, rng: np.random.Generator, cfg: AlgoSettings) -> None:
        super().__init__(space, rng, cfg)
        if cfg.warmup or cfg.move:
            space.require_proxy("RL warmup / move proposal")
        shape = space.space.shape
        enabled = space.mask.to_array() if space.mask is not None else np.ones(shape, bool)
        self.logits = np.where(enabled, 0.0, -np.inf)
        self._last = shape[1] - 1 - np.argmax(enabled[:, ::-1], axis=1)  # last enabled op
        self._place = place_values(space.space)
        self._rows = np.arange(shape[0])
        self._adam = _Adam(self.logits.shape, cfg.rl_lr)
        self._baseline: dict[str, float | None] = {"acc": None, "proxy": None}
        self._lo, self._hi = math.inf, -math.inf
        self._key = _complete_key(space)
        for _ in range(cfg.warmup):
            self._proxy_step()

    def probs(self) -> np.ndarray:
        z = self.logits - self.logits.max(axis=1, keepdims=True)
        p = np.exp(z)
        return p / p.sum(axis=1, keepdims=True)

    def _sample(self) -> tuple[int, np.ndarray, np.ndarray]:
        """(benchmark index, op per position, the policy's probabilities when sampling)."""
        p = self.probs()
        u = self.rng.random(len(self._rows))[:, None]
        ops = np.minimum((u > np.cumsum(p, axis=1)).sum(axis=1), self._last)  # rounding-safe
        index = int(self.space.oracle._index_of_code[int(ops @ self._place)])
        if index < 0:
            raise UsageError(f"the policy sampled an arch the benchmark lacks (ops {ops})")
        return index, ops, p

    def _update(self, ops: np.ndarray, p: np.ndarray, reward: float, kind: str) -> None:
        """One REINFORCE step; ``p`` is the policy that sampled ``ops`` (unchanged since)."""
        base = self._baseline[kind]
        momentum = self.cfg.rl_momentum
        base = reward if base is None else momentum * base + (1 - momentum) * reward
        self._baseline[kind] = base
        grad_logp = -p  # d log p(ops) / d logits = onehot(ops) - p, per position
        grad_logp[self._rows, ops] += 1.0
        self._adam.step(self.logits, -(reward - base) * grad_logp)  # descend -advantage*logp

    def _proxy_value(self, index: int) -> float:
        if self._key is not None:
            return float(self._key[index])
        return float(self.space.proxy.rank_key([index])[0])

    def _proxy_step(self) -> None:
        index, ops, p = self._sample()
        value = self._proxy_value(index)
        if math.isfinite(value):
            self._lo, self._hi = min(self._lo, value), max(self._hi, value)
            span = self._hi - self._lo
            reward = 2.0 * (value - self._lo) / span - 1.0 if span > 0 else 0.0
        else:
            reward = -1.0
        self._update(ops, p, reward, "proxy")

    def propose(self) -> int:
        index, ops, p = self._sample()
        self._pending = (index, ops, p)
        return index

    def observe(self, index: int, accuracy: float) -> None:
        pending_index, ops, p = self._pending
        if pending_index != index:
            raise ValueError("observe() must follow propose() with the proposed arch")
        self._update(ops, p, accuracy, "acc")
        for _ in range(self.cfg.move):
            self._proxy_step()


def _complete_key(space: Searchable) -> np.ndarray | None:
    """The proxy's rank key of every arch when its table is complete (cached per space)."""
    proxy = space.proxy
    if proxy is None or not proxy.complete:
        return None
    if "rank_key" not in space.cache:
        space.cache["rank_key"] = proxy.rank_key(np.arange(len(space.oracle)))
    return space.cache["rank_key"]


def check_search(algo: str, space: Searchable, cfg: AlgoSettings) -> None:
    """Fail fast (``UsageError``) on an unknown algorithm or settings the space cannot meet."""
    from fewshot.search import bp as _bp  # noqa: F401  (registers "bp")

    if algo not in ALGORITHMS:
        raise UsageError(f"unknown algorithm {algo!r}; expected one of {', '.join(ALGORITHMS)}")
    cfg.check(len(space))
    if cfg.warmup or cfg.move:
        space.require_proxy(f"{algo} with warmup or move proposal")


def make_searcher(
    algo: str, space: Searchable, rng: np.random.Generator, cfg: AlgoSettings
) -> Searcher:
    """An algorithm by name (``rand``, ``ae``, ``rl``, ``bp``); unknown names raise."""
    check_search(algo, space, cfg)
    return ALGORITHMS.get(algo)(space, rng, cfg)


__all__ = [
    "ALGORITHMS",
    "AgingEvolution",
    "AlgoSettings",
    "RandomSearch",
    "Reinforce",
    "Searcher",
    "check_search",
    "make_searcher",
]
