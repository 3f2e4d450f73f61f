"""The constant splitting policy (Algorithm 1 of the paper), resumable.

Start from the full supernet; split every node into ``branch`` children, ``depth`` times
(``branch ** depth`` leaves when every node can be split). Nodes are split in id order (breadth
first), and the tree is handed to ``save`` after every split, so an interrupted run keeps all
finished splits.

Determinism: the supernet is initialised once from ``seed`` (scheme per the recipe, see
:mod:`fewshot.models.init`); each node's randomness (torch, numpy, random, the metric's draws,
warm-up sampling, its scoring batch when drawn per split, the ``random`` baseline's partition)
comes from :func:`node_seed` of ``(seed, node id)``. Metrics never mutate the supernet, so a resumed run makes exactly the same
splits as an uninterrupted one. With warm-up, each node trains a copy of its parent's warmed
weights (the root: the initial weights) and keeps its own warmed weights for its children
(in ``checkpoint_dir`` when given, so resuming needs no retraining).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from fewshot.errors import UsageError
from fewshot.metrics.base import ScoringData
from fewshot.metrics.settings import MetricSettings
from fewshot.models.init import initialize
from fewshot.spaces import DEFAULT_SPACE, Mask, SearchSpace, get_space
from fewshot.splitting.candidates import (
    CANDIDATE_MODES,
    SCALES,
    EdgeEvaluation,
    PassCounter,
    counting_passes,
    evaluate_edge,
    metric_kind,
)
from fewshot.splitting.edges import EDGE_POLICIES, PolicyContext, default_edges
from fewshot.splitting.partition import (
    OBJECTIVES,
    Partition,
    best_partition,
    partition_of,
    random_partition,
)
from fewshot.splitting.tree import Node, Split, SplitTree
from fewshot.splitting.warmup import EpochBatches, WarmupSettings, warm_up

log = logging.getLogger("fewshot")


@dataclass(frozen=True)
class SplitSettings:
    """What decides the splits (everything else is bookkeeping).

    ``metric`` is a registered metric or ``random`` (the random-partition baseline).
    ``candidates``, ``scale``, ``objective`` (None: ``max-distance``; pairwise metrics may
    have their own, ``pairwise_objective``) and ``metric_settings`` are the split step's
    options (:mod:`fewshot.splitting.recipes` bundles them per paper). ``edges`` are positions
    of the search space (indices); the space itself is the supernet's (``supernet.space``).
    """

    metric: str
    depth: int = 3
    branch: int = 2
    seed: int = 0
    edge_policy: str = "fixed"
    edges: tuple[int, ...] | None = None
    balanced: bool = False
    warmup: WarmupSettings = field(default_factory=WarmupSettings)
    candidates: str = "only"
    scale: str = "raw"
    objective: str = "max-distance"
    pairwise_objective: str = "max-distance"
    metric_settings: MetricSettings = field(default_factory=MetricSettings)

    @property
    def metric_kind(self) -> str:
        """``scalar``, ``pairwise`` or ``random``."""
        return metric_kind(self.metric)

    @property
    def partition_objective(self) -> str:
        return self.pairwise_objective if self.metric_kind == "pairwise" else self.objective

    def edges_in(self, space: SearchSpace) -> tuple[int, ...]:
        """``edges``, or the policy's default for this depth in ``space``."""
        if self.edges is not None:
            return tuple(self.edges)
        return default_edges(self.edge_policy, self.depth, space=space)

    @property
    def expected_splits(self) -> int:
        """Splits of a complete tree when every node can be split."""
        return sum(self.branch**level for level in range(self.depth))


def validate_settings(
    s: SplitSettings, mask: Mask | None = None, *, space: SearchSpace | str | None = None
) -> None:
    """Raise :class:`UsageError` for settings that cannot produce a tree in ``space`` (default:
    ``mask``'s space, else NB201) from ``mask`` (default: the whole space)."""
    space = mask.space if mask is not None else get_space(space or DEFAULT_SPACE)
    metric_kind(s.metric)  # unknown names list the known metrics
    EDGE_POLICIES.get(s.edge_policy)
    for key, value, valid in (
        ("candidates", s.candidates, CANDIDATE_MODES),
        ("scale", s.scale, SCALES),
        ("objective", s.objective, OBJECTIVES),
        ("objective", s.pairwise_objective, OBJECTIVES),
    ):
        if value not in valid:
            raise UsageError(f"--{key} {value!r} is not one of {list(valid)}")
    if s.metric_kind == "scalar" and s.objective == "min-similarity":
        raise UsageError(
            f"the min-similarity objective needs a similarity (a pairwise metric such as gm); "
            f"{s.metric} is a scalar metric: use --objective max-distance"
        )
    if not isinstance(s.depth, int) or s.depth < 1:
        raise UsageError(f"--depth must be a positive integer, got {s.depth}")
    if not isinstance(s.branch, int) or s.branch < 2:
        raise UsageError(f"--branch must be at least 2 (a split makes >= 2 groups), got {s.branch}")
    edges, kind, n = s.edges_in(space), space.position_kind, space.num_positions
    if not edges or any(not 0 <= e < n for e in edges):
        raise UsageError(
            f"--edges must list {kind}s in 0..{n - 1} (search space {space.name}), "
            f"got {list(edges)}"
        )
    mask = mask or space.full_mask()
    widest = max(edges, key=lambda e: len(mask.ops(e)))
    if len(mask.ops(widest)) < s.branch:
        raise UsageError(
            f"branch {s.branch} > {len(mask.ops(widest))} ops on {kind} {widest}: no {kind} "
            f"of search space {space.name} can be split into {s.branch} groups; use "
            f"--branch 2..{len(mask.ops(widest))}"
        )
    if s.warmup.epochs < 0:
        raise UsageError(f"--warmup-epochs must be >= 0, got {s.warmup.epochs}")


def node_seed(seed: int, node_id: int) -> int:
    """A 32-bit seed derived from ``(seed, node_id)`` (independent streams per node)."""
    return int(np.random.SeedSequence([int(seed), int(node_id)]).generate_state(1)[0])


def seed_everything(seed: int) -> None:
    """Seed torch, numpy and random (Lightning's ``seed_everything``, without its log line)."""
    from lightning_fabric.utilities.seed import seed_everything as fabric_seed

    fabric_seed(seed, verbose=False)


def initial_supernet(
    *,
    C: int | None,
    N: int | None,
    num_classes: int,
    seed: int,
    device: str | torch.device = "cpu",
    init: str = "pytorch",
    space: SearchSpace | str = DEFAULT_SPACE,
) -> nn.Module:
    """The full supernet of ``space`` (:meth:`SearchSpace.build_supernet`; ``C`` / ``N`` None:
    the space's defaults), initialised from ``seed`` with ``init`` (same weights for every
    node)."""
    space = get_space(space)
    torch.manual_seed(seed)
    net = space.build_supernet(C=C, N=N, num_classes=num_classes)
    return initialize(net, init).to(device)


@dataclass
class RunStats:
    """Counters of one engine run, merged into ``tree.timings``."""

    passes: PassCounter = field(default_factory=PassCounter)
    candidates: int = 0
    warmup_steps: int = 0
    warmup_seconds: float = 0.0
    node_seconds: dict[int, float] = field(default_factory=dict)


class SplitEngine:
    """Grows a :class:`SplitTree` with the constant policy.

    Args:
        settings: metric, depth, branch, seed, edge policy, warm-up.
        supernet: the initial full supernet (see :func:`initial_supernet`); never mutated
            without warm-up. Its search space (``supernet.space``) is the tree's.
        data: the scoring batches every candidate sees, or a function of the node's seed
            returning them (a fresh batch per split, the same for all its candidates).
        epoch_batches: training batches for warm-up (required when warm-up epochs > 0).
        save: called with the tree after every split and at the end (e.g. write tree.json).
        checkpoint_dir: where warmed weights per node are kept (warm-up only).
        progress: show tqdm bars (None: only on a terminal).
    """

    def __init__(
        self,
        settings: SplitSettings,
        supernet: nn.Module,
        data: ScoringData | Callable[[int], ScoringData],
        *,
        epoch_batches: EpochBatches | None = None,
        save: Callable[[SplitTree], object] | None = None,
        checkpoint_dir: Path | None = None,
        progress: bool | None = None,
    ) -> None:
        self.space: SearchSpace = supernet.space
        validate_settings(settings, space=self.space)
        if settings.warmup.epochs > 0 and epoch_batches is None:
            raise UsageError("warm-up needs training batches (epoch_batches)")
        self.settings = settings
        self.supernet = supernet
        self.data = data
        self.epoch_batches = epoch_batches
        self.save = save or (lambda tree: None)
        self.checkpoint_dir = checkpoint_dir
        self.progress = progress
        self.policy = EDGE_POLICIES.get(settings.edge_policy)
        self.stats = RunStats()
        self._initial_state = (
            {k: v.detach().clone() for k, v in supernet.state_dict().items()}
            if settings.warmup.epochs > 0
            else None
        )
        self._warm_states: dict[int, dict[str, torch.Tensor]] = {}

    # -- driving ------------------------------------------------------------------------
    def run(self, tree: SplitTree, *, max_splits: int | None = None) -> SplitTree:
        """Split every pending node (at most ``max_splits`` now); mark the tree complete."""
        if tree.space is not self.space:
            raise UsageError(
                f"the tree splits search space {tree.space.name!r}, the supernet is of "
                f"{self.space.name!r}"
            )
        if not tree.nodes:
            tree.add_root()
        start = time.perf_counter()
        done = sum(1 for n in tree.nodes if n.split is not None)
        bar = tqdm(
            total=self.settings.expected_splits,
            initial=done,
            desc=f"splits ({self.settings.metric})",
            unit="split",
            disable=self._bar_disabled(),
        )
        made = 0
        try:
            i = 0
            while i < len(tree.nodes):
                node = tree.nodes[i]
                i += 1
                if not self._pending(node):
                    continue
                if max_splits is not None and made >= max_splits:
                    return tree
                self.split_node(tree, node)
                made += 1
                bar.update(1)
                self._record(tree, time.perf_counter() - start)
                start = time.perf_counter()
                self.save(tree)
            tree.complete = True
        finally:
            bar.close()
            self._record(tree, time.perf_counter() - start)
            self.save(tree)
        return tree

    def _pending(self, node: Node) -> bool:
        return node.depth < self.settings.depth and node.split is None and node.note is None

    def _bar_disabled(self) -> bool | None:
        return None if self.progress is None else not self.progress

    # -- one node -----------------------------------------------------------------------
    def split_node(self, tree: SplitTree, node: Node) -> list[Node]:
        """Decide ``node``'s split (or leaf note) and add its children to ``tree``."""
        t0 = time.perf_counter()
        seed = node_seed(self.settings.seed, node.id)
        seed_everything(seed)
        self._warm_up(node, seed)
        data = self.data(seed) if callable(self.data) else self.data
        ctx = PolicyContext(
            mask=node.mask,
            level=node.depth,
            branch=self.settings.branch,
            edges=self.settings.edges_in(self.space),
            evaluate=lambda edge: self._evaluate(node, edge, seed, data),
            partition=lambda ev: self._partition(ev, seed),
            root_mask=tree.nodes[0].mask,
        )
        choice = self.policy(ctx)
        self.stats.node_seconds[node.id] = time.perf_counter() - t0
        if choice.is_leaf:
            node.note = choice.note
            log.warning("node %d stays a leaf: %s", node.id, choice.note)
            return []
        if choice.log:
            log.info("node %d: %s", node.id, choice.log)
        split = _make_split(
            choice.evaluation,  # type: ignore[arg-type]
            choice.partition,  # type: ignore[arg-type]
            random=self.settings.metric_kind == "random",
            edge_cuts=choice.edge_cuts,
        )
        children = tree.apply_split(node.id, split)
        log.info(
            "node %d (depth %d): %s %d -> %s, cut %.4g (normalised %.3f)%s",
            node.id,
            node.depth,
            self.space.position_kind,
            split.edge,
            " | ".join("{" + ",".join(g) + "}" for g in split.groups),
            split.cut,
            choice.partition.normalized_cut,  # type: ignore[union-attr]
            "" if split.decided_by == "value" else f", decided by {split.decided_by}",
        )
        return children

    def _evaluate(self, node: Node, edge: int, seed: int, data: ScoringData) -> EdgeEvaluation:
        """Score ``edge``'s candidates under ``node``'s mask, counting passes."""
        n = len(node.mask.ops(edge))
        desc = f"node {node.id} {self.space.position_kind} {edge}"
        with (
            tqdm(total=n, desc=desc, leave=False, disable=self._bar_disabled()) as bar,
            counting_passes(self.supernet, self.stats.passes),
        ):
            ev = evaluate_edge(
                self.supernet, node.mask, edge, self.settings.metric, data, seed=seed,
                progress=bar, candidates=self.settings.candidates, scale=self.settings.scale,
                settings=self.settings.metric_settings,
            )  # fmt: skip
        self.stats.candidates += n
        if ev.nonfinite_ops:
            log.warning(
                "node %d %s %d: %s gave non-finite scores to %s (kept, as the recipe says; "
                "the split is flagged)",
                node.id, self.space.position_kind, edge, self.settings.metric,
                ", ".join(ev.nonfinite_ops),
            )  # fmt: skip
        elif self.settings.metric_kind != "random" and np.nanmax(ev.distance) == 0:
            log.warning(
                "node %d %s %d: all %d candidates scored alike with %s; the groups come from "
                "the deterministic tie-break",
                node.id, self.space.position_kind, edge, n, self.settings.metric,
            )  # fmt: skip
        return ev

    def _partition(self, ev: EdgeEvaluation, seed: int) -> Partition:
        s = self.settings
        if s.metric_kind == "random":
            rng = np.random.default_rng(seed)
            groups = random_partition(len(ev.ops), s.branch, rng, balanced=s.balanced)
            return partition_of(ev.distance, groups)
        return best_partition(
            ev.distance,
            s.branch,
            balanced=s.balanced,
            seed=seed,
            objective=s.partition_objective,
            similarity=ev.similarity,
            allow_nonfinite=s.metric_settings.keep_nonfinite,
        )

    # -- warm-up ------------------------------------------------------------------------
    def _warm_up(self, node: Node, seed: int) -> None:
        if self._initial_state is None:
            return
        t0 = time.perf_counter()
        start = self._initial_state if node.parent is None else self._load_warm(node.parent)
        self.supernet.load_state_dict(start)
        self.supernet.set_mask(self.space.full_mask())
        assert self.epoch_batches is not None
        steps = warm_up(
            self.supernet, node.mask, self.epoch_batches, self.settings.warmup, seed=seed
        )
        self._store_warm(node.id)
        self.stats.warmup_steps += steps
        self.stats.warmup_seconds += time.perf_counter() - t0

    def _ckpt(self, node_id: int) -> Path | None:
        return self.checkpoint_dir / f"node-{node_id}.pt" if self.checkpoint_dir else None

    def _store_warm(self, node_id: int) -> None:
        state = {k: v.detach().clone() for k, v in self.supernet.state_dict().items()}
        path = self._ckpt(node_id)
        if path is None:
            self._warm_states[node_id] = state
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        torch.save(state, tmp)
        tmp.replace(path)

    def _load_warm(self, node_id: int) -> dict[str, torch.Tensor]:
        path = self._ckpt(node_id)
        if path is None:
            return self._warm_states[node_id]
        if not path.is_file():
            raise UsageError(
                f"warm-up weights of node {node_id} are missing ({path}); cannot resume this "
                "warm-up run: start a new one (--name)"
            )
        return torch.load(path, map_location=next(self.supernet.parameters()).device)

    # -- bookkeeping --------------------------------------------------------------------
    def _record(self, tree: SplitTree, seconds: float) -> None:
        """Merge this run's counters into ``tree.timings`` (adding to a resumed run's)."""
        t = tree.timings
        t["total_seconds"] = round(float(t.get("total_seconds", 0.0)) + seconds, 3)
        for key, value in self.stats.passes.as_dict().items():
            t[key] = t.get(key, 0) + value
        t["candidates_scored"] = t.get("candidates_scored", 0) + self.stats.candidates
        if self._initial_state is not None:
            t["warmup_steps"] = t.get("warmup_steps", 0) + self.stats.warmup_steps
            t["warmup_seconds"] = round(t.get("warmup_seconds", 0.0) + self.stats.warmup_seconds, 3)
        for node_id, secs in self.stats.node_seconds.items():
            t[f"node_{node_id}_seconds"] = round(secs, 3)
        self.stats = RunStats()


def _make_split(
    ev: EdgeEvaluation,
    part: Partition,
    *,
    random: bool = False,
    edge_cuts: dict[int, float] | None = None,
) -> Split:
    if random:
        decided_by = "random"
    elif part.nonfinite or ev.nonfinite_ops:
        decided_by = "nonfinite"
    elif part.ties > 1:
        decided_by = "tie"
    else:
        decided_by = "value"
    return Split(
        edge=ev.edge,
        ops=ev.ops,
        groups=part.labelled(ev.ops),
        distance=tuple(tuple(float(v) for v in row) for row in ev.distance),
        cut=float(part.cut),
        scores=ev.scores,
        decided_by=decided_by,
        ties=int(part.ties),
        nonfinite_ops=tuple(ev.nonfinite_ops),
        objective=part.objective,
        objective_value=float(part.objective_value),
        edge_cuts=edge_cuts,
    )


__all__ = [
    "RunStats",
    "SplitEngine",
    "SplitSettings",
    "initial_supernet",
    "node_seed",
    "seed_everything",
    "validate_settings",
]
