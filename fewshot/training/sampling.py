"""Path-sampling rules: which archs of a (sub-)supernet one optimiser step trains, chosen by name.

A rule's :meth:`~SamplingRule.step_archs` returns the archs of ONE optimiser step: the training
step sums their losses (their gradients accumulate) and makes one update. Every draw comes from
the generator it is given, so a rule is deterministic for a seed. The archs are drawn inside a
mask, or inside an arch group (:class:`~fewshot.spaces.ArchGroup`, EFS-NAS's sub-supernets: the
archs of a mask with a given nonlinear count), which only the rules that draw whole archs can
keep to (``uniform``, ``balanced``: :func:`keeps_to_groups`). Those two also draw one arch per
step, which is what a pack of networks trains (:func:`draws_one_arch_per_step`). Registered rules
(``--sampling NAME``, :data:`SAMPLING_RULES`):

- ``uniform`` (default): one arch drawn uniformly inside the mask, one op per position
  independently (RSPS / SPOS); exactly the draws of
  :meth:`fewshot.models.maskable.MaskableSupernet.sample_arch`, so results are those of
  training before the rules existed, bit for bit; inside an arch group, one of its archs
  uniformly;
- ``fairnas``: FairNAS's strict fairness (Chu et al.): ``m`` archs per step, ``m`` the largest
  number of enabled ops at a position; each position takes an independent random permutation of
  its enabled ops, so every enabled op is trained exactly once per step at every position with
  ``m`` ops (a position with fewer ops cycles through its permutation, so each of its ops is
  trained at least once and the counts differ by at most one);
- ``sandwich``: BigNAS's sandwich rule (Yu et al.): the largest arch, the smallest and
  :data:`SANDWICH_RANDOM` uniform ones per step; largest / smallest by the parameters of each
  position's op, counted on a small supernet built by the space (ties: the smallest prefers an op
  other than the space's zero op, so it is not the network that outputs zeros; then op order);
- ``balanced``: EFS-NAS's balanced sampling (Oh et al., SPEC section 5c): first a group of the
  mask's archs uniformly, then an arch uniformly inside it; a group holds the archs with the
  same number of nonlinear functions (:meth:`fewshot.spaces.base.SearchSpace.nonlinear_count`:
  NB201's maximum over the cell's input-output paths of ReLU-conv ops, NAS-Bench-Macro's
  non-identity layers), archs with none joining the group of one, as the EFS-NAS code merges
  NB201's groups 0 and 1 (their degenerate archs would otherwise take a whole group's share):
  :meth:`fewshot.spaces.base.SearchSpace.arch_groups`. Inside an arch group, the group's own
  groups (one for each of EFS-NAS's groups: uniform inside it).

A one-arch mask (a standalone arch) trains its arch once per step under every rule.

May import spaces and torch only; the rules name no op (they ask the space).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Protocol

import torch

from fewshot.registry import Registry
from fewshot.spaces import Arch, ArchGroup, Mask, SearchSpace

DEFAULT_SAMPLING = "uniform"
SANDWICH_RANDOM = 2
"""Uniform archs per sandwich step besides the largest and the smallest (BigNAS: 2)."""


Within = Mask | ArchGroup
"""Where a rule draws: a mask (a sub-supernet), or an arch group of a mask."""


class SamplingRule(Protocol):
    """Which archs of ``within`` (a mask, or an arch group) one optimiser step trains."""

    name: str
    keeps_to_groups: bool
    """Whether the rule can draw inside an :class:`~fewshot.spaces.ArchGroup`."""
    one_arch_per_step: bool
    """Whether every step trains one arch (a pack trains one per network and step; a rule of
    several archs, such as FairNAS's, draws one only inside a one-arch mask)."""

    def step_archs(self, within: Within, generator: torch.Generator) -> list[Arch]:
        """The archs of one step (their losses summed, one update), drawn from ``generator``."""
        ...


RuleFactory = Callable[[SearchSpace], SamplingRule]
_RULES: Registry[RuleFactory] = Registry("sampling rule")


def register_rule(name: str) -> Callable[[RuleFactory], RuleFactory]:
    """Class decorator: register a rule (constructed with the space) under ``name``."""
    return _RULES.decorator(name)


def get_sampling_rule(name: str, space: SearchSpace) -> SamplingRule:
    """The rule called ``name`` for ``space``; an unknown name raises ``ValueError`` listing
    the valid ones."""
    if name not in _RULES:
        raise ValueError(f"unknown sampling rule {name!r}; valid: {', '.join(SAMPLING_RULES)}")
    return _RULES.get(name)(space)


def keeps_to_groups(name: str) -> bool:
    """Whether the rule called ``name`` can train an arch group (an unknown name: ``False``)."""
    return _rule_flag(name, "keeps_to_groups")


def draws_one_arch_per_step(name: str) -> bool:
    """Whether the rule called ``name`` trains one arch a step in any mask, so that its runs
    can train in packs (an unknown name: ``False``)."""
    return _rule_flag(name, "one_arch_per_step")


def _rule_flag(name: str, flag: str) -> bool:
    """The class attribute ``flag`` of the rule called ``name``; ``False`` for an unknown name."""
    return name in _RULES and bool(getattr(_RULES.get(name), flag, False))


def uniform_arch(within: Within, generator: torch.Generator) -> Arch:
    """One arch of ``within`` uniformly: op by op inside a mask (``sample_arch``'s draws), by
    index inside an arch group."""
    if isinstance(within, Mask):
        return _uniform_arch(within, generator)
    archs = within.archs()
    return archs[int(torch.randint(len(archs), (1,), generator=generator))]


def _refuse_group(rule: str, within: Within) -> Mask:
    """``within`` when it is a mask; a rule that draws op by op cannot keep to a group."""
    if not isinstance(within, Mask):
        raise ValueError(
            f"sampling rule {rule!r} draws op by op and cannot keep to an arch group "
            f"({within.label}); use uniform or balanced"
        )
    return within


def _uniform_arch(mask: Mask, generator: torch.Generator) -> Arch:
    """One op per position uniformly among the enabled ones: ``sample_arch``'s draws."""
    space = mask.space
    ops = []
    for position in range(space.num_positions):
        enabled = mask.ops(position)
        ops.append(enabled[int(torch.randint(len(enabled), (1,), generator=generator))])
    return space.arch(ops)


@register_rule("uniform")
class Uniform:
    """One arch drawn uniformly inside the mask or group (RSPS / SPOS)."""

    name = "uniform"
    keeps_to_groups = True
    one_arch_per_step = True

    def __init__(self, space: SearchSpace) -> None:
        self.space = space

    def step_archs(self, within: Within, generator: torch.Generator) -> list[Arch]:
        return [uniform_arch(within, generator)]


@register_rule("fairnas")
class FairNAS:
    """Every enabled op once per step at every position (FairNAS's strict fairness)."""

    name = "fairnas"
    keeps_to_groups = False
    one_arch_per_step = False

    def __init__(self, space: SearchSpace) -> None:
        self.space = space

    def step_archs(self, within: Within, generator: torch.Generator) -> list[Arch]:
        mask = _refuse_group(self.name, within)
        if mask.is_single_arch:
            return [mask.only_arch()]
        enabled = [mask.ops(p) for p in range(self.space.num_positions)]
        m = max(len(ops) for ops in enabled)
        orders = [torch.randperm(len(ops), generator=generator).tolist() for ops in enabled]
        return [
            self.space.arch(
                ops[order[i % len(ops)]] for ops, order in zip(enabled, orders, strict=True)
            )
            for i in range(m)
        ]


@functools.cache
def op_parameters(space: SearchSpace) -> tuple[tuple[int, ...], ...]:
    """Per position, per op of the space: the parameters of a small supernet (C=4, N=1) whose
    only op at that position is that op (the rest of the network is the same for every op of a
    position, so only the order within a position means anything). The global random state is
    left as it was (building initialises weights)."""
    full = space.full_mask()

    def count(position: int, op: str) -> int:
        net = space.build_supernet(C=4, N=1, candidates=full.restrict(position, [op]))
        return sum(p.numel() for p in net.parameters())

    with torch.random.fork_rng(devices=[]):
        return tuple(
            tuple(count(position, op) for op in space.ops_at(position))
            for position in range(space.num_positions)
        )


@register_rule("sandwich")
class Sandwich:
    """The largest arch, the smallest and :data:`SANDWICH_RANDOM` uniform ones (BigNAS)."""

    name = "sandwich"
    keeps_to_groups = False
    one_arch_per_step = False

    def __init__(self, space: SearchSpace) -> None:
        self.space = space
        op_parameters(space)  # built now, not in the middle of a training run

    def extreme(self, mask: Mask, largest: bool) -> Arch:
        """The mask's arch with the most (``largest``) or fewest parameters per position."""
        counts, sign = op_parameters(self.space), -1 if largest else 1
        ops = []
        for position in range(self.space.num_positions):
            ranked = sorted(
                (sign * counts[position][self.space.op_index(op)], op == self.space.zero_op, i)
                for i, op in enumerate(mask.ops(position))
            )
            ops.append(mask.ops(position)[ranked[0][2]])
        return self.space.arch(ops)

    def step_archs(self, within: Within, generator: torch.Generator) -> list[Arch]:
        mask = _refuse_group(self.name, within)
        if mask.is_single_arch:
            return [mask.only_arch()]
        randoms = [_uniform_arch(mask, generator) for _ in range(SANDWICH_RANDOM)]
        return [self.extreme(mask, True), self.extreme(mask, False), *randoms]


@register_rule("balanced")
class Balanced:
    """A group of equally nonlinear archs uniformly, then an arch in it (EFS-NAS)."""

    name = "balanced"
    keeps_to_groups = True
    one_arch_per_step = True

    def __init__(self, space: SearchSpace) -> None:
        self.space = space
        self._groups: dict[Within, list[tuple[Arch, ...]]] = {}

    def groups(self, within: Within) -> list[tuple[Arch, ...]]:
        """The archs of ``within`` grouped by nonlinear count (0 joins 1), by increasing count
        (:meth:`~fewshot.spaces.base.SearchSpace.arch_groups`)."""
        if within not in self._groups:
            groups = self.space.arch_groups("nonlinear", within=within)
            self._groups[within] = [g.archs() for g in groups]
        return self._groups[within]

    def step_archs(self, within: Within, generator: torch.Generator) -> list[Arch]:
        groups = self.groups(within)
        group = groups[int(torch.randint(len(groups), (1,), generator=generator))]
        return [group[int(torch.randint(len(group), (1,), generator=generator))]]


SAMPLING_RULES: tuple[str, ...] = tuple(_RULES.names())
"""The registered rule names, sorted (``--sampling`` choices)."""


__all__ = [
    "DEFAULT_SAMPLING",
    "SAMPLING_RULES",
    "SANDWICH_RANDOM",
    "SamplingRule",
    "Within",
    "draws_one_arch_per_step",
    "get_sampling_rule",
    "keeps_to_groups",
    "op_parameters",
    "register_rule",
    "uniform_arch",
]
