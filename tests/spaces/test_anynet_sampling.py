"""AnyNet sampling: FLOPs-range rejection, narrowed ranges, seeds, subspace size."""

from __future__ import annotations

import math
from collections import Counter

import pytest

from fewshot.spaces.anynet import block_compatible
from fewshot.spaces.anynet_sampling import (
    DesignSpace,
    SamplingError,
    allowed_values,
    depth_probabilities,
    sample_configs,
)


def test_rejection_keeps_flops_in_range():
    low, high = 10_000_000, 50_000_000
    result = sample_configs(DesignSpace.paper(), 60, seed=3, flops_range=(low, high))
    assert len(result.configs) == 60 and result.proposals > 60  # some were rejected
    assert all(low <= c.complexity()["flops"] <= high for c in result.configs)


def test_sampling_is_seeded():
    a = sample_configs(DesignSpace.paper(), 10, seed=5).configs
    b = sample_configs(DesignSpace.paper(), 10, seed=5).configs
    c = sample_configs(DesignSpace.paper(), 10, seed=6).configs
    assert a == b and a != c


def test_sampling_stays_inside_narrowed_ranges():
    space = DesignSpace.paper().narrow({"d1": (3, 5), "w2": (32, 64), "g3": (2, 4), "b1": (2, 4)})
    result = sample_configs(space, 30, seed=0, flops_range=(0, 10**12))
    for c in result.configs:
        assert space.contains(c)
        assert 3 <= c.depths[0] <= 5 and c.widths[1] in (32, 64) and c.group_widths[2] in (2, 4)
        assert c.bottleneck_ratios[0] in (2, 4)


def test_values_and_depth_distribution():
    assert allowed_values("w", 1, 512) == tuple(2**e for e in range(10))
    assert allowed_values("w", 3, 40) == (4, 8, 16, 32)
    assert allowed_values("b", 1, 4) == (1, 2, 4)
    p = depth_probabilities(tuple(range(1, 17)))
    assert p[0] == pytest.approx(math.log(2) / math.log(17))
    counts = Counter(
        c.depths[0]
        for c in sample_configs(DesignSpace.paper(), 400, seed=1, flops_range=(0, 1e15)).configs
    )
    assert counts[1] > counts[8]  # log-uniform: shallow depths are more frequent


def test_subspace_size():
    full = DesignSpace.paper()
    triples = sum(
        block_compatible(w, b, g)
        for w in allowed_values("w", 1, 512)
        for b in (1, 2, 4)
        for g in allowed_values("g", 1, 32)
    )
    assert triples == 117
    assert full.size() == (16 * triples) ** 3  # 6.56e9: the paper's "about 1e10"
    point = {"d": 2, "w": 8, "g": 1, "b": 1}
    one = full.narrow({f"{h}{i}": (v, v) for h, v in point.items() for i in (1, 2, 3)})
    assert one.size() == 1


def test_empty_ranges_raise_clear_errors():
    with pytest.raises(SamplingError, match="empty"):
        sample_configs(DesignSpace.paper(), 5, seed=0, flops_range=(50e6, 10e6))
    with pytest.raises(SamplingError, match="empty"):
        DesignSpace.paper().narrow({"d1": (5, 3)})
    with pytest.raises(SamplingError, match="no allowed value"):
        DesignSpace.paper().narrow({"w1": (3, 3)})
    tiny = DesignSpace.paper().narrow(
        {f"d{i}": (1, 1) for i in (1, 2, 3)} | {f"w{i}": (1, 1) for i in (1, 2, 3)}
    )
    with pytest.raises(SamplingError, match="barely meet"):
        sample_configs(tiny, 3, seed=0, max_proposals=200)
