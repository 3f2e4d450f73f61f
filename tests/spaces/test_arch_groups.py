"""Arch groups (EFS-NAS's sub-supernets): a space's archs grouped by nonlinear count."""

from __future__ import annotations

import pickle
from collections import Counter

import pytest

from fewshot.spaces import ArchGroup, get_space, space_names

NB201 = get_space("nb201")


@pytest.mark.parametrize("space", space_names())
def test_the_groups_partition_the_space_by_nonlinear_count(space):
    space = get_space(space)
    groups = space.arch_groups("nonlinear")
    assert len(groups) >= 2
    seen = [a for g in groups for a in g.archs()]
    assert len(seen) == len(set(seen)) == space.num_archs  # every arch, once
    for g in groups:
        assert {space.nonlinear_count(a) for a in g.archs()} == set(g.values)
        assert all(a in g for a in g.archs()) and g.num_archs == len(g.archs())
    counts = [c for g in groups for c in g.values]
    assert counts == sorted(counts) and min(groups[0].values) == 0  # by increasing count
    assert groups[0].values == frozenset({0, 1})  # EFS-NAS's merge: 0 joins 1


def test_nb201_groups_have_the_published_sizes():
    """EFS-NAS (Oh et al.): 1,983 / 7,122 / 5,520 / 1,000 archs of 0-3 nonlinear functions,
    the first two merged in their code (3 sub-supernets)."""
    unmerged = NB201.arch_groups("nonlinear", merge=())
    assert [(sorted(g.values), g.num_archs) for g in unmerged] == [
        ([0], 1983), ([1], 7122), ([2], 5520), ([3], 1000)
    ]  # fmt: skip
    merged = NB201.arch_groups()
    assert [g.label for g in merged] == ["nonlinear=0+1", "nonlinear=2", "nonlinear=3"]
    assert [g.num_archs for g in merged] == [1983 + 7122, 5520, 1000]
    assert all(g.mask == NB201.full_mask() for g in merged)


def test_groups_inside_a_mask_and_inside_a_group():
    mask = NB201.full_mask().restrict(0, NB201.ops[1:3])
    groups = NB201.arch_groups(within=mask)
    assert sum(g.num_archs for g in groups) == mask.num_archs
    assert all(g.mask == mask and all(a in mask for a in g.archs()) for g in groups)
    three = NB201.arch_groups()[2]
    assert NB201.arch_groups(within=three) == (three,)  # a group's own groups: itself
    low = NB201.arch_groups(merge=())[:2]
    merged = NB201.arch_groups()[0]
    assert [g.values for g in NB201.arch_groups(within=merged, merge=())] == [g.values for g in low]


def test_a_group_is_a_value_that_checks_membership_and_pickles_small():
    group = NB201.arch_groups()[2]
    again = ArchGroup(NB201.full_mask(), "nonlinear", frozenset({3}))
    assert group == again and hash(group) == hash(again)
    assert again.archs() == group.archs()  # enumerated on demand, same order
    outside = NB201.arch_groups()[0].archs()[0]
    assert outside not in group and group.archs()[0] in group
    assert "not an arch" not in group
    copied = pickle.loads(pickle.dumps(group))
    assert copied == group and "_archs" not in copied.__dict__
    assert len(pickle.dumps(group)) < 2000  # the enumerated archs are not sent
    assert group.to_dict()["values"] == [3] and group.to_dict()["by"] == "nonlinear"
    with pytest.raises(ValueError, match="cannot group archs by 'params'"):
        NB201.arch_groups("params")
    with pytest.raises(ValueError, match="at least one value"):
        ArchGroup(NB201.full_mask(), "nonlinear", frozenset())


def test_macro_groups_count_its_nonlinear_layers():
    macro = get_space("nas-bench-macro")
    sizes = Counter()
    for arch in macro.all_archs():
        sizes[max(1, macro.nonlinear_count(arch))] += 1
    groups = macro.arch_groups()
    assert [g.num_archs for g in groups] == [sizes[k] for k in sorted(sizes)]
