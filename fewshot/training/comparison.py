"""Few-shot vs one-shot: which supernets to train, and scoring a fixed arch sample with them.

A **method** is a way of predicting the accuracy of every arch in a fixed sample: one
supernet for the whole space (one-shot), or the leaves of a splitting tree cut at a depth
(few-shot), each arch predicted by the one leaf that contains it. Every supernet of a method is
trained from scratch for the same number of epochs; a method's *compute* is that times its
number of supernets. Two budgets make the comparison fair:

- ``papers``: every supernet is trained for ``epochs`` (the few-shot NAS / GM-NAS protocol), so
  a split into ``n`` leaves costs ``n`` times the one-shot supernet;
- ``equal-compute``: the one-shot supernet is trained ``n`` times longer (``one-shot-xN``), so
  both sides spend the same epochs (the same optimiser steps: every supernet sees the same
  training set with the same batch size).

Two **protocols** for a split's leaves: ``scratch`` (the framework paper: every leaf from a
random initialisation) and ``inherited`` (few-shot NAS; GM-NAS's warm-up): the one-shot
supernet is trained for ``warmup`` epochs first (the same run the one-shot method of that
many epochs makes) and every leaf starts from its weights (:mod:`fewshot.training.inherit`).
The warm-up counts in the method's compute: ``warmup + epochs * leaves`` supernet-epochs, so
its equal-compute baseline is the one-shot supernet trained that long. An inherited method is
named ``<split>-inh``.

**EFS-NAS's arm** (``efs-nas``; Oh et al., SPEC section 5c): the space split by a data-free
rule, the number of nonlinear functions of each arch
(:meth:`~fewshot.spaces.base.SearchSpace.arch_groups`: on NB201 the groups 0+1, 2 and 3). Its
leaves are arch groups, not masks: each is the supernet of the whole space with its paths drawn
inside the group only, and scores the archs of its group.

**Sampling arms** (``one-shot-<rule>``): the one-shot supernet trained with another
path-sampling rule (:mod:`fewshot.training.sampling`: FairNAS's strict fairness, the sandwich
rule, EFS-NAS's balanced rule) for the same epochs, compared with the run's own rule's one-shot
supernet: the papers train each rule for the same epochs (FairNAS's steps train every op of
each position once, so they cost more forward and backward passes than a uniform step).

Supernets are keyed by ``(mask, epochs)`` (and the arch group, for a group leaf): two methods
with a leaf of the same mask (two metrics that split alike, or a depth-1 leaf that a depth-2
tree did not split further) share one training run, which is exactly the run each would have
made (same seed, same data order).
The training itself is :func:`fewshot.training.runner.train_subsupernet` and the scoring
:func:`fewshot.training.search.search_leaf` (BN recalibrated per arch, accuracy on held-out
training data), so the experiment measures the library's own pipeline.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from fewshot.spaces import Arch, ArchGroup, Mask, SearchSpace, get_space, space_of
from fewshot.splitting.tree import SplitTree

log = logging.getLogger("fewshot")

ONE_SHOT = "one-shot"
"""The one-shot method's name in results (``search.json``, ``results.json``); its training
folder in a split run is :data:`fewshot.run_folder.ONE_SHOT_DIR` (``oneshot``)."""
FEW_SHOT = "few-shot"
EXHAUSTIVE = "exhaustive"
EFS_NAS = "efs-nas"
"""EFS-NAS's arm: one supernet per group of archs by nonlinear count (its name and family)."""
BUDGETS = ("papers", "equal-compute")
PROTOCOLS = ("scratch", "inherited")
INHERITED_SUFFIX = "-inh"


@dataclass(frozen=True)
class Leaf:
    """One supernet of a method: an id (the tree's node id, the op for exhaustive, the group's
    label for EFS-NAS), its mask and, for a group leaf, the arch group of the mask it trains and
    scores (``None``: every arch of the mask)."""

    id: str
    mask: Mask
    group: ArchGroup | None = None

    def __post_init__(self) -> None:
        if self.group is not None and self.group.mask != self.mask:
            raise ValueError(f"leaf {self.id}: arch group {self.group} is not of its mask")

    def __contains__(self, arch: object) -> bool:
        return arch in (self.mask if self.group is None else self.group)

    def key(self, epochs: int, warmup: int = 0, sampling: str | None = None) -> str:
        """Its supernet's key (:func:`supernet_key`) when trained ``epochs`` after ``warmup``
        (with path-sampling rule ``sampling``; None: the experiment's own)."""
        return supernet_key(self.mask, epochs, warmup, group=self.group, sampling=sampling)

    def to_json(self) -> Any:
        """How results record it: the mask's op lists, or the group's :meth:`ArchGroup.to_dict`."""
        return self.mask.to_op_lists() if self.group is None else self.group.to_dict()


@dataclass(frozen=True)
class Method:
    """A way of predicting arch accuracies: its supernets, and how long each is trained.

    ``family`` is the split metric (``snip``, ``random``, ...), ``one-shot`` or ``exhaustive``;
    ``depth`` the tree depth the leaves were cut at (0 for one-shot); ``warmup`` the epochs of
    the one-shot supernet every leaf inherits its weights from (0: leaves from scratch);
    ``sampling`` the path-sampling rule its supernets train with when it is a sampling arm
    (None: the experiment's own rule).
    """

    name: str
    family: str
    depth: int
    leaves: tuple[Leaf, ...]
    epochs: int
    warmup: int = 0
    sampling: str | None = None

    @property
    def protocol(self) -> str:
        return "inherited" if self.warmup else "scratch"

    @property
    def space(self) -> SearchSpace:
        """The search space the method's leaves cut."""
        return space_of(self.leaves[0].mask)

    @property
    def compute_epochs(self) -> int:
        """Supernet-epochs spent on training: the warm-up, then epochs per supernet times
        supernets."""
        return self.warmup + self.epochs * len(self.leaves)

    def baseline(self, budget: str, base_epochs: int) -> str:
        """The one-shot method this one is compared with under ``budget``."""
        if budget not in BUDGETS:
            raise ValueError(f"unknown budget {budget!r}; one of {', '.join(BUDGETS)}")
        if budget == "papers":
            return ONE_SHOT
        return one_shot_name(self.compute_epochs // base_epochs)

    def warmup_key(self) -> str | None:
        """The supernet key of the one-shot run every leaf inherits from (None: scratch)."""
        return supernet_key(self.space.full_mask(), self.warmup) if self.warmup else None

    def leaf_key(self, leaf: Leaf) -> str:
        """The supernet key of one of its leaves (its epochs, warm-up and sampling rule)."""
        return leaf.key(self.epochs, self.warmup, self.sampling)

    def to_dict(self) -> dict[str, Any]:
        return {
            "family": self.family,
            "depth": self.depth,
            "epochs": self.epochs,
            "protocol": self.protocol,
            "warmup_epochs": self.warmup,
            "compute_epochs": self.compute_epochs,
            "leaves": {leaf.id: leaf.to_json() for leaf in self.leaves},
            **({"sampling": self.sampling} if self.sampling is not None else {}),
        }


def one_shot_name(multiple: int) -> str:
    """``one-shot`` for the base budget, ``one-shot-xN`` for N times its epochs."""
    return ONE_SHOT if multiple == 1 else f"{ONE_SHOT}-x{multiple}"


def sampling_arm_name(rule: str) -> str:
    """``one-shot-<rule>``: the one-shot supernet trained with path-sampling rule ``rule``."""
    return f"{ONE_SHOT}-{rule}"


def leaves_at_depth(tree: SplitTree, depth: int) -> tuple[Leaf, ...]:
    """The tree cut at ``depth``: its nodes at that depth, plus leaves that end above it.

    The first ``depth`` levels of a deeper tree are the tree a ``depth``-level run of the same
    seed and recipe makes (a split never looks at deeper levels), so one depth-3 tree serves
    the depth-1 and depth-2 methods.
    """
    if depth < 1:
        raise ValueError(f"a split method needs depth >= 1, got {depth}")
    if tree.depth < depth:
        raise ValueError(
            f"tree of {tree.metric} (seed {tree.seed}) has depth {tree.depth} < {depth}; "
            "split it deeper or ask for a smaller depth"
        )
    parents = {n.parent for n in tree.nodes}
    cut = [n for n in tree.nodes if n.depth == depth or (n.depth < depth and n.id not in parents)]
    return tuple(Leaf(str(n.id), n.mask) for n in sorted(cut, key=lambda n: n.id))


def exhaustive_leaves(
    edge: int, branch: int | None = None, *, space: SearchSpace | None = None
) -> tuple[Leaf, ...]:
    """Few-shot NAS's exhaustive split (Zhao et al.): one sub-supernet per op of position
    ``edge`` of ``space`` (default ``nb201``); ``branch``, when given, must be that op count."""
    space = get_space() if space is None else space
    if not 0 <= edge < space.num_positions:
        raise ValueError(
            f"{space.position_kind} must lie in 0..{space.num_positions - 1}, got {edge}"
        )
    full = space.full_mask()
    ops = full.ops(edge)
    if branch is not None and branch != len(ops):
        raise ValueError(
            f"the exhaustive split has one leaf per op: branch {len(ops)}, not {branch}"
        )
    return tuple(Leaf(op, full.restrict(edge, [op])) for op in ops)


def group_leaves(space: SearchSpace | None = None, by: str = "nonlinear") -> tuple[Leaf, ...]:
    """EFS-NAS's split of ``space`` (default ``nb201``): one leaf per arch group of the space
    (:meth:`~fewshot.spaces.base.SearchSpace.arch_groups`, EFS-NAS's merge), named by its label;
    a space of one group cannot be split (``ValueError``)."""
    space = get_space() if space is None else space
    groups = space.arch_groups(by)
    if len(groups) < 2:
        raise ValueError(f"search space {space.name!r} has one group of archs by {by}: "
                         "nothing to split")  # fmt: skip
    return tuple(Leaf(g.label, g.mask, g) for g in groups)


def plan_methods(
    trees: Mapping[str, SplitTree],
    *,
    depths: Sequence[int],
    epochs: int,
    exhaustive_edge: int | None = 0,
    protocols: Sequence[str] = ("scratch",),
    warmup: int | None = None,
    max_multiple: int | None = None,
    space: SearchSpace | None = None,
    efs_nas: bool = False,
    sampling_arms: Sequence[str] = (),
    one_shot_multiples: Sequence[int] = (),
) -> list[Method]:
    """Every method of one seed: the split methods of ``trees`` (metric -> tree) at each depth,
    the exhaustive split, EFS-NAS's groups (``efs_nas``), each under every protocol
    (``inherited``: a warm-up of ``warmup`` epochs, default ``epochs``), then one-shot at
    ``epochs`` and at every multiple the split methods need for the equal-compute budget (up to
    ``max_multiple`` times ``epochs``: the equal-compute comparisons that need a longer one-shot
    run are then left out, and say so), and one one-shot supernet of ``epochs`` per rule of
    ``sampling_arms`` (``one-shot-<rule>``). ``one_shot_multiples``: further one-shot runs of
    that many times ``epochs`` (not capped by ``max_multiple``), e.g. the equal-step baselines
    of arms trained in another run. ``space``: the search space (default: the trees', else
    ``nb201``); every tree must split it.
    """
    space = _common_space(trees, space)
    unknown = set(protocols) - set(PROTOCOLS)
    if unknown or not protocols:
        raise ValueError(f"protocols must be among {', '.join(PROTOCOLS)}, got {list(protocols)}")
    splits = [
        Method(f"{metric}-d{d}", metric, d, leaves_at_depth(tree, d), epochs)
        for metric, tree in trees.items()
        for d in depths
    ]
    if exhaustive_edge is not None:
        leaves = exhaustive_leaves(exhaustive_edge, space=space)
        splits.append(Method(f"{EXHAUSTIVE}-b{len(leaves)}", EXHAUSTIVE, 1, leaves, epochs))
    if efs_nas:
        splits.append(Method(EFS_NAS, EFS_NAS, 1, group_leaves(space), epochs))
    methods = [m for m in splits if "scratch" in protocols]
    if "inherited" in protocols:
        w = epochs if warmup is None else warmup
        if w < 1:
            raise ValueError(f"the inherited protocol needs a warm-up of >= 1 epoch, got {w}")
        methods += [replace(m, name=m.name + INHERITED_SUFFIX, warmup=w) for m in splits]
    multiples = {1, *(m.compute_epochs / epochs for m in methods)}
    if any(k != int(k) for k in multiples):
        raise ValueError(f"warm-up {warmup} must be a multiple of {epochs} epochs (equal compute)")
    multiples = {int(k) for k in multiples if max_multiple is None or k <= max_multiple}
    if any(k < 1 for k in one_shot_multiples):
        raise ValueError(f"one-shot multiples must be >= 1, got {list(one_shot_multiples)}")
    multiples = sorted(multiples | set(one_shot_multiples))
    root = (Leaf("root", space.full_mask()),)
    for k in multiples:
        methods.append(Method(one_shot_name(k), ONE_SHOT, 0, root, epochs * k))
    for rule in dict.fromkeys(sampling_arms):
        methods.append(Method(sampling_arm_name(rule), ONE_SHOT, 0, root, epochs, sampling=rule))
    return methods


def _common_space(trees: Mapping[str, SplitTree], space: SearchSpace | None) -> SearchSpace:
    """The one space of ``trees`` (and of ``space`` when given); ``ValueError`` when they differ."""
    spaces = {t.space.name: t.space for t in trees.values()}
    if space is not None:
        spaces.setdefault(space.name, space)
    if len(spaces) > 1:
        names = sorted(s.name for s in spaces.values())
        raise ValueError(f"the trees and the comparison split different spaces: {names}")
    return next(iter(spaces.values())) if spaces else get_space()


def assign_leaves(archs: Sequence[Arch], leaves: Sequence[Leaf]) -> list[str]:
    """The id of the one leaf that contains each arch (the leaf that scores it: for a group
    leaf, the arch must be in its group).

    Leaves of a splitting tree (or EFS-NAS's groups) partition the space; an arch in no leaf or
    in several means the leaves are not a partition, which would silently change what is
    measured, so it raises.
    """
    owners = []
    for arch in archs:
        found = [leaf.id for leaf in leaves if arch in leaf]
        if len(found) != 1:
            where = "no leaf" if not found else f"{len(found)} leaves ({', '.join(found)})"
            raise ValueError(f"arch {arch} lies in {where}: the leaves must partition the space")
        owners.append(found[0])
    return owners


def supernet_key(
    mask: Mask,
    epochs: int,
    warmup: int = 0,
    *,
    group: ArchGroup | None = None,
    sampling: str | None = None,
) -> str:
    """A folder name for the supernet of ``mask`` trained for ``epochs`` (shared by methods),
    after inheriting a ``warmup``-epoch one-shot supernet's weights (``-wW``; none: scratch);
    ``group``: of that arch group of ``mask`` (its archs counted, ``-BY-V1+V2`` added);
    ``sampling``: with that path-sampling rule instead of the experiment's (``-RULE``)."""
    digest = hashlib.sha1(str(mask.to_op_lists()).encode()).hexdigest()[:12]
    size, tail = mask.num_archs, ""
    if group is not None:
        size, tail = group.num_archs, "-" + group.label.replace("=", "-")
    tail += f"-{sampling}" if sampling is not None else ""
    return f"{size}archs-{digest}{tail}-e{epochs}" + (f"-w{warmup}" if warmup else "")


@dataclass(frozen=True)
class TrainingRun:
    """One training run the methods need: its mask, epochs, the key of the run it inherits
    from (None: from scratch), the arch group of the mask it trains (None: the whole mask) and
    its path-sampling rule (None: the experiment's). Parents come before their children in
    :func:`supernets`."""

    mask: Mask
    epochs: int
    parent: str | None = None
    group: ArchGroup | None = None
    sampling: str | None = None

    @property
    def within(self) -> Mask | ArchGroup:
        """The archs it trains and scores: its group, else its mask."""
        return self.mask if self.group is None else self.group


def supernets(methods: Iterable[Method]) -> dict[str, TrainingRun]:
    """Every distinct supernet the methods need: key -> :class:`TrainingRun`, in first-use order,
    a warm-up run before the leaves that inherit from it."""
    needed: dict[str, TrainingRun] = {}
    for method in methods:
        parent = method.warmup_key()
        if parent is not None:
            needed.setdefault(parent, TrainingRun(method.space.full_mask(), method.warmup))
        for leaf in method.leaves:
            run = TrainingRun(leaf.mask, method.epochs, parent, leaf.group, method.sampling)
            needed.setdefault(method.leaf_key(leaf), run)
    return needed


def method_predictions(
    method: Method, archs: Sequence[Arch], scores: Mapping[str, Mapping[str, float]]
) -> tuple[list[float], list[str]]:
    """Each sampled arch's predicted accuracy under ``method`` and the leaf that scored it.

    ``scores`` maps a supernet key to ``{arch string: held-out accuracy}``.
    """
    owners = assign_leaves(archs, method.leaves)
    by_id = {leaf.id: leaf for leaf in method.leaves}
    predicted = []
    for arch, owner in zip(archs, owners, strict=True):
        key = method.leaf_key(by_id[owner])
        try:
            predicted.append(float(scores[key][arch.to_string()]))
        except KeyError:
            raise KeyError(f"{method.name}: supernet {key} has no score for {arch}") from None
    return predicted, owners


__all__ = [
    "BUDGETS",
    "EFS_NAS",
    "EXHAUSTIVE",
    "FEW_SHOT",
    "INHERITED_SUFFIX",
    "ONE_SHOT",
    "PROTOCOLS",
    "Leaf",
    "Method",
    "assign_leaves",
    "exhaustive_leaves",
    "group_leaves",
    "leaves_at_depth",
    "method_predictions",
    "TrainingRun",
    "one_shot_name",
    "plan_methods",
    "sampling_arm_name",
    "supernet_key",
    "supernets",
]
