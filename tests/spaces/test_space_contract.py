"""The search-space contract, checked on every space fewshot ships (``fewshot/spaces/``).

A new registered space is picked up here without editing this file: its values, encodings,
sampling, builders (tiny networks) and benchmark lookup must behave as
:class:`fewshot.spaces.base.SearchSpace` documents (see ``docs/spaces.md``).
"""

from __future__ import annotations

import contextlib

import numpy as np
import pytest
import torch

from fewshot.spaces import SearchSpace, get_space, space_names, space_of

SHIPPED = [n for n in space_names() if type(get_space(n)).__module__.startswith("fewshot.spaces.")]
"""The registered spaces defined in fewshot itself (tests register toy spaces of their own)."""


@pytest.fixture(params=SHIPPED)
def space(request) -> SearchSpace:
    return get_space(request.param)


def test_every_shipped_space_is_checked():
    assert {"nb201", "nas-bench-macro", "tnb101-micro"} <= set(SHIPPED)


def test_shape_and_values_are_bound_to_the_space(space):
    assert space.shape == (len(space.positions), len(space.ops)) and space.num_positions >= 1
    assert space.num_archs == space.num_ops**space.num_positions
    assert space.Arch.space is space and space.Mask.space is space
    assert space_of(space.full_mask()) is space
    assert space.full_mask().num_archs == space.num_archs
    assert {"C", "N"} <= set(space.model_defaults)
    assert space.parametric_ops <= set(space.ops)
    assert space.zero_op is None or space.zero_op in space.ops


def test_strings_and_codes_round_trip(space):
    rng = np.random.default_rng(0)
    for _ in range(20):
        arch = space.sample(None, rng)
        assert space.parse_arch(space.format_arch(arch)) == arch
        assert space.Arch.from_string(str(arch)) == arch
        assert space.Arch.from_code(arch.code) == arch
        assert space.Arch.from_onehot(arch.to_onehot()) == arch
        assert 0 <= arch.code < space.num_archs
    first = next(iter(space.all_archs()))
    assert first.code == 0


def test_a_malformed_arch_string_is_a_value_error(space):
    with pytest.raises(ValueError):
        space.parse_arch("not an arch of any space")


def test_sampling_stays_inside_a_mask(space):
    mask = space.full_mask().restrict(0, space.ops[:1])
    assert mask.num_archs * space.num_ops == space.num_archs
    rng = np.random.default_rng(1)
    assert all(space.sample(mask, rng) in mask for _ in range(20))


def test_builders_give_a_supernet_and_its_standalone_networks(space):
    torch.manual_seed(0)
    arch = space.sample(None, np.random.default_rng(2))
    net = space.build_network(arch, C=4, N=1, num_classes=3)
    supernet = space.build_supernet(C=4, N=1, num_classes=3)
    assert supernet.space is space
    x = torch.randn(2, 3, 16, 16)
    assert net(x).shape == (2, 3) and supernet(x).shape == (2, 3)
    assert set(net.state_dict()) <= set(supernet.state_dict())
    sub = space.full_mask().restrict(0, space.ops[-1:])
    supernet.set_mask(sub)
    assert supernet.search_mask == sub


def test_benchmark_lookup_is_none_or_not_implemented_without_a_file(space):
    with contextlib.suppress(NotImplementedError):  # a space without a benchmark
        assert space.find_benchmark(None) is None  # the test session hides developer files
