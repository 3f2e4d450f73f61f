"""Path-sampling rules (issue 30): the registry, each rule's promise, and the training step."""

from __future__ import annotations

import json
from collections import Counter

import pytest
import pytorch_lightning as pl
import torch
from torch.nn.functional import cross_entropy

from fewshot.experiments.common import SAMPLING_DEFAULT, sampling_rules
from fewshot.spaces import get_space, space_names
from fewshot.training.module import LeafModule, path_generator
from fewshot.training.sampling import (
    DEFAULT_SAMPLING,
    SAMPLING_RULES,
    SANDWICH_RANDOM,
    draws_one_arch_per_step,
    get_sampling_rule,
    keeps_to_groups,
)

NB201 = get_space("nb201")


def _leaf(space):
    """A sub-space with 1, 2 and all ops at its first three positions (the rest full)."""
    full = space.full_mask()
    return full.restrict(0, space.ops_at(0)[1:2]).restrict(1, space.ops_at(1)[:2])


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_the_registry_names_four_rules_and_refuses_an_unknown_one():
    assert SAMPLING_RULES == ("balanced", "fairnas", "sandwich", "uniform")
    assert DEFAULT_SAMPLING == SAMPLING_DEFAULT == "uniform"
    assert sampling_rules() == list(SAMPLING_RULES)
    with pytest.raises(ValueError, match="unknown sampling rule 'fair'; valid: balanced, fairnas"):
        get_sampling_rule("fair", NB201)


@pytest.mark.parametrize("space", space_names())
def test_uniform_draws_exactly_what_sample_arch_draws(space):
    space = get_space(space)
    net = space.build_supernet(C=4, N=1)
    rule = get_sampling_rule("uniform", space)
    for mask in (space.full_mask(), _leaf(space)):
        net.set_mask(mask)
        for seed in range(20):
            assert rule.step_archs(mask, _gen(seed)) == [net.sample_arch(_gen(seed))]


@pytest.mark.parametrize("space", space_names())
@pytest.mark.parametrize("rule", SAMPLING_RULES)
def test_every_rule_stays_in_the_mask_and_repeats_for_a_seed(space, rule):
    space = get_space(space)
    mask = _leaf(space)
    sampling = get_sampling_rule(rule, space)
    for seed in range(5):
        archs = sampling.step_archs(mask, _gen(seed))
        assert archs and all(a in mask for a in archs)
        assert sampling.step_archs(mask, _gen(seed)) == archs
    one = next(iter(mask))
    assert sampling.step_archs(space.Mask.from_arch(one), _gen(0)) == [one]


@pytest.mark.parametrize("space", space_names())
def test_fairnas_trains_every_enabled_op_once_per_position_per_step(space):
    space = get_space(space)
    mask = _leaf(space)
    m = max(len(mask.ops(p)) for p in range(space.num_positions))
    rule = get_sampling_rule("fairnas", space)
    orders = set()
    for seed in range(10):
        archs = rule.step_archs(mask, _gen(seed))
        assert len(archs) == m
        for p in range(space.num_positions):
            counts = Counter(a.ops[p] for a in archs)
            assert set(counts) == set(mask.ops(p))  # every enabled op, nothing else
            if len(mask.ops(p)) == m:
                assert set(counts.values()) == {1}  # exactly once
            else:
                assert max(counts.values()) - min(counts.values()) <= 1  # cycled fairly
        orders.add(tuple(archs))
    assert len(orders) > 1  # the permutations are random


def _params(space, arch) -> int:
    net = space.build_supernet(C=4, N=1, candidates=space.Mask.from_arch(arch))
    return sum(p.numel() for p in net.parameters())


@pytest.mark.parametrize("space", space_names())
def test_sandwich_trains_the_largest_and_the_smallest_arch_and_two_uniform(space):
    space = get_space(space)
    full = space.full_mask()
    mask = full.restrict(0, space.ops_at(0)[:2]).restrict(1, space.ops_at(1)[1:])
    for p in range(2, space.num_positions):
        mask = mask.restrict(p, space.ops_at(p)[-2:])
    sizes = {a: _params(space, a) for a in mask.archs()}
    archs = get_sampling_rule("sandwich", space).step_archs(mask, _gen(0))
    assert len(archs) == 2 + SANDWICH_RANDOM
    assert sizes[archs[0]] == max(sizes.values())
    assert sizes[archs[1]] == min(sizes.values())
    uniform = get_sampling_rule("uniform", space)
    g = _gen(0)
    assert archs[2:] == [uniform.step_archs(mask, g)[0] for _ in range(SANDWICH_RANDOM)]


def test_sandwich_smallest_nb201_arch_is_not_the_network_of_zeros():
    smallest = get_sampling_rule("sandwich", NB201).extreme(NB201.full_mask(), largest=False)
    assert NB201.zero_op not in smallest.ops and NB201.num_parametric(smallest) == 0


def test_nb201_nonlinear_counts_are_efs_nas_groups():
    counts = Counter(NB201.nonlinear_count(a) for a in NB201.all_archs())
    assert dict(counts) == {0: 1983, 1: 7122, 2: 5520, 3: 1000}  # SPEC section 5c


def test_macro_nonlinear_count_is_its_non_identity_layers():
    macro = get_space("nas-bench-macro")
    for arch in list(macro.all_archs())[::97]:
        assert macro.nonlinear_count(arch) == macro.num_parametric(arch)


def test_balanced_draws_groups_uniformly_then_archs_inside_them():
    rule = get_sampling_rule("balanced", NB201)
    mask = NB201.full_mask()
    groups = rule.groups(mask)
    assert [len(g) for g in groups] == [1983 + 7122, 5520, 1000]  # 0 and 1 merged
    n = 3000
    drawn = [rule.step_archs(mask, _gen(seed))[0] for seed in range(n)]
    by_group = Counter(max(1, NB201.nonlinear_count(a)) for a in drawn)
    expected = n / len(groups)
    chi2 = sum((by_group[k] - expected) ** 2 / expected for k in (1, 2, 3))
    assert chi2 < 13.8  # chi-square, 2 degrees of freedom, p = 0.001
    uniform = get_sampling_rule("uniform", NB201)
    plain = Counter(
        max(1, NB201.nonlinear_count(uniform.step_archs(mask, _gen(s))[0])) for s in range(n)
    )
    assert plain[3] < n / 10 < by_group[3]  # uniform draws 6.4% of group 3, balanced a third
    inside = Counter(a for a in drawn if NB201.nonlinear_count(a) == 3)
    assert len(inside) > 0.6 * len(groups[2])  # spread over the group, not one arch


def test_a_rule_of_several_archs_sums_their_losses_in_one_step():
    space = NB201
    mask = _leaf(space)
    net = space.build_supernet(C=4, N=1)
    module = LeafModule(net, mask, sampling="fairnas", seed=4)
    x, y = torch.randn(6, 3, 8, 8), torch.randint(10, (6,))
    loss = module.training_step((x, y), 0)
    archs = get_sampling_rule("fairnas", space).step_archs(mask, path_generator(4, 0))
    assert len(archs) == space.num_ops
    expected = sum(cross_entropy(net(x, a), y) for a in archs)
    torch.testing.assert_close(loss, expected)
    loss.backward()
    for p in range(space.num_positions):  # every enabled op got a gradient
        for op in mask.ops(p):
            grads = [w.grad for name, w in net.named_parameters() if f"edges.{p}.ops.{op}." in name]
            assert all(g is not None and g.abs().sum() > 0 for g in grads), (p, op)
    assert module.hparams.sampling == "fairnas"


def test_sizing_the_ops_leaves_the_global_random_state_alone():
    from fewshot.training.sampling import op_parameters

    op_parameters.cache_clear()
    torch.manual_seed(0)
    before = torch.random.get_rng_state()
    get_sampling_rule("sandwich", NB201)
    assert torch.equal(torch.random.get_rng_state(), before)


# -- arch groups (EFS-NAS's sub-supernets) ----------------------------------------------------


def _old_balanced_groups(space, mask):
    """The balanced rule's groups as written before arch groups: max(1, count), count order."""
    by_count = {}
    for arch in mask.archs():
        by_count.setdefault(max(1, space.nonlinear_count(arch)), []).append(arch)
    return [tuple(by_count[k]) for k in sorted(by_count)]


@pytest.mark.parametrize("space", ["nb201", "nas-bench-macro"])
def test_balanced_groups_of_a_mask_are_those_before_arch_groups(space):
    space = get_space(space)
    rule = get_sampling_rule("balanced", space)
    for mask in (space.full_mask(), _leaf(space)):
        assert rule.groups(mask) == _old_balanced_groups(space, mask)


@pytest.mark.parametrize("rule", ["uniform", "balanced"])
def test_a_rule_inside_an_arch_group_draws_only_its_archs(rule):
    groups = NB201.arch_groups()
    sampling = get_sampling_rule(rule, NB201)
    for group in groups:
        drawn = [sampling.step_archs(group, _gen(seed)) for seed in range(400)]
        assert all(len(archs) == 1 and archs[0] in group for archs in drawn)
        assert drawn[:20] == [sampling.step_archs(group, _gen(seed)) for seed in range(20)]
        assert len({archs[0] for archs in drawn}) > min(300, 0.3 * group.num_archs)
    merged = groups[0]  # 0 and 1 are one group: uniform inside it
    counts = Counter(NB201.nonlinear_count(sampling.step_archs(merged, _gen(s))[0])
                     for s in range(2000))  # fmt: skip
    assert 0.15 < counts[0] / 2000 < 0.29  # 1,983 of 9,105 archs: 0.218


@pytest.mark.parametrize("rule", ["fairnas", "sandwich"])
def test_a_rule_that_draws_op_by_op_refuses_an_arch_group(rule):
    assert not keeps_to_groups(rule) and keeps_to_groups("uniform") and keeps_to_groups("balanced")
    with pytest.raises(ValueError, match=f"{rule}' draws op by op and cannot keep to an arch"):
        get_sampling_rule(rule, NB201).step_archs(NB201.arch_groups()[1], _gen(0))
    net = NB201.build_supernet(C=2, N=1)
    with pytest.raises(ValueError, match="cannot keep to an arch group"):
        LeafModule(net, sampling=rule, group=NB201.arch_groups()[1])


def _edge_op(name: str) -> tuple[int, str] | None:
    """(position, op) of a supernet parameter named ``...edges.P.ops.OP...``, else None."""
    import re

    found = re.search(r"edges\.(\d+)\.ops\.([^.]+)\.", name)
    return None if found is None else (int(found[1]), found[2])


class _Spy(pl.Callback):
    """Per training step: the arch the supernet ran and the (position, op) with gradients."""

    def __init__(self) -> None:
        self.archs, self.graded = [], []

    def on_train_start(self, trainer, pl_module) -> None:
        def hook(module, args):
            if module.training:
                self.archs.append(args[1])

        pl_module.supernet.register_forward_pre_hook(hook)

    def on_before_optimizer_step(self, trainer, pl_module, optimizer) -> None:
        named = pl_module.supernet.named_parameters()
        self.graded.append({_edge_op(n) for n, w in named if w.grad is not None} - {None})


@pytest.mark.parametrize("rule", ["uniform", "balanced"])
def test_a_group_leaf_trains_only_its_groups_archs(tmp_path, rule):
    """A LeafModule of an arch group (through ``train_subsupernet``): every step's path is an
    arch of the group, the same paths for the seed, and only that arch's ops get gradients."""
    from fewshot.data import make_datamodule
    from fewshot.training.runner import TrainerSettings, TrainSettings, train_subsupernet

    group = NB201.arch_groups()[0]
    spies = []
    for run in ("a", "b"):
        spy = _Spy()
        data = make_datamodule("synthetic", batch_size=4, num_train=160, num_test=8, image_size=8)
        hw = TrainerSettings(accelerator="cpu", devices=1, progress_bar=False, limit_val_batches=0)
        settings = TrainSettings(C=2, N=1, epochs=2, seed=7, sampling=rule)
        train_subsupernet(group.mask, data, tmp_path / run, settings, hw, callbacks=[spy],
                          group=group)  # fmt: skip
        spies.append(spy)
    spy = spies[0]
    assert len(spy.archs) == len(spy.graded) > 50
    assert all(arch in group for arch in spy.archs)
    assert spy.archs == spies[1].archs  # deterministic for the seed
    for arch, graded in zip(spy.archs, spy.graded, strict=True):
        assert graded <= {(p, op) for p, op in enumerate(arch.ops)}, arch
    assert any(graded for graded in spy.graded)
    done = json.loads((tmp_path / "a" / "done.json").read_text())
    assert done["group"] == group.to_dict()


@pytest.mark.parametrize("rule", SAMPLING_RULES)
def test_a_rule_said_to_draw_one_arch_per_step_does_so_in_the_full_space(rule):
    sampling = get_sampling_rule(rule, NB201)
    sizes = {len(sampling.step_archs(NB201.full_mask(), _gen(s))) for s in range(20)}
    assert (sizes == {1}) == draws_one_arch_per_step(rule)
    assert not draws_one_arch_per_step("no-such-rule")
