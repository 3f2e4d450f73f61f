"""fewshot.spaces.nb201: arch strings, encodings and masks of the NB201 space."""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fewshot.spaces.nb201 import EDGES, NB201, NUM_ARCHS, OPS, Arch, Mask, all_archs, op_index

ARCH = "|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|skip_connect~2|"

# Random masks: every edge keeps at least one op.
rows = st.lists(st.booleans(), min_size=5, max_size=5).filter(any)
masks = st.lists(rows, min_size=6, max_size=6).map(Mask)


def test_op_order_is_nats_bench():
    from nats_bench import search_space_info

    info = search_space_info("nats-bench", "tss")
    assert list(OPS) == info["op_names"]
    assert [op_index(op) for op in OPS] == list(range(5))


def test_edges_follow_arch_string_order():
    parsed = Arch.from_string(
        "|none~0|+|skip_connect~0|nor_conv_1x1~1|+|nor_conv_3x3~0|avg_pool_3x3~1|none~2|"
    )
    assert parsed.ops == (
        "none",
        "skip_connect",
        "nor_conv_1x1",
        "nor_conv_3x3",
        "avg_pool_3x3",
        "none",
    )
    assert EDGES == ((1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2))


def test_string_round_trip_all_archs():
    seen = set()
    for arch in all_archs():
        text = arch.to_string()
        assert Arch.from_string(text) == arch
        assert Arch.from_indices(arch.op_indices) == arch
        seen.add(text)
    assert len(seen) == NUM_ARCHS == 15_625


def test_onehot_round_trip():
    for arch in list(all_archs())[::97]:
        onehot = arch.to_onehot()
        assert onehot.shape == (6, 5) and onehot.dtype == bool
        assert onehot.sum(axis=1).tolist() == [1] * 6
        assert Arch.from_onehot(onehot) == arch
        assert Arch.from_onehot(onehot.astype(float)) == arch


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("|none~0|+|none~0|none~1|", r"2 nodes.*expected 3"),
        (ARCH.replace("skip_connect~2", "sep_conv_3x3~2"), r"unknown operation 'sep_conv_3x3'"),
        (ARCH.replace("none~1", "none~0"), r"input 'none~0' of node 3 should be '<op>~1'"),
        (ARCH.replace("|none~0|nor_conv_3x3~1|", "|none~0|"), r"node 2 has 1 inputs, expected 2"),
        (ARCH.replace("skip_connect~2|", "skip_connect~2"), "must be wrapped in '|'"),
        ("", "nodes"),
    ],
)
def test_invalid_strings(text, message):
    with pytest.raises(ValueError, match=message):
        Arch.from_string(text)


def test_invalid_encodings():
    with pytest.raises(ValueError, match="6 edges"):
        Arch(("none",) * 5)
    with pytest.raises(ValueError, match="0..4"):
        Arch.from_indices([0, 1, 2, 3, 4, 5])
    bad = np.zeros((6, 5))
    bad[:, 0] = 1
    bad[2, 3] = 1
    with pytest.raises(ValueError, match=r"rows \[2\]"):
        Arch.from_onehot(bad)
    with pytest.raises(ValueError, match="6x5"):
        Arch.from_onehot(np.ones((5, 5)))


# -- masks ---------------------------------------------------------------------------------


def test_empty_edge_rejected():
    m = np.ones((6, 5), dtype=bool)
    m[4] = False
    with pytest.raises(ValueError, match=r"edge\(s\) \[4\]"):
        Mask(m)
    with pytest.raises(ValueError, match="6x5"):
        Mask(np.ones((6, 4), dtype=bool))


def test_full_and_single_masks():
    full = Mask.full()
    assert full.num_archs == len(full) == NUM_ARCHS
    arch = Arch.from_string(ARCH)
    single = Mask.from_arch(arch)
    assert single.is_single_arch and single.only_arch() == arch and list(single) == [arch]
    assert arch in single and arch in full and "not an arch" not in full
    with pytest.raises(ValueError, match="15625 archs"):
        full.only_arch()


@settings(max_examples=40, deadline=None)
@given(masks)
def test_mask_counts_and_membership(mask):
    archs = list(mask.archs())
    expected = math.prod(int(sum(row)) for row in mask.enabled)
    assert mask.num_archs == len(archs) == len(set(archs)) == expected
    assert all(a in mask for a in archs)
    assert mask.is_subset_of(Mask.full())


@settings(max_examples=40, deadline=None)
@given(masks)
def test_mask_op_list_round_trip(mask):
    lists = mask.to_op_lists()
    assert Mask.from_op_lists(lists) == mask
    assert all(list(mask.ops(e)) == lists[e] for e in range(6))
    assert lists == [[op for op in OPS if op in lst] for lst in lists]  # NATS-Bench order
    assert Mask(mask.to_array()) == mask and hash(Mask(mask.to_array())) == hash(mask)


@settings(max_examples=40, deadline=None)
@given(masks, st.integers(0, 5), st.data())
def test_restrict(mask, edge, data):
    enabled = mask.ops(edge)
    keep = data.draw(st.lists(st.sampled_from(enabled), min_size=1, unique=True))
    child = mask.restrict(edge, keep)
    assert child.ops(edge) == tuple(op for op in OPS if op in keep)
    assert all(child.ops(e) == mask.ops(e) for e in range(6) if e != edge)
    assert child.is_subset_of(mask)
    assert child.num_archs * len(enabled) == mask.num_archs * len(keep)
    assert set(child.archs()) <= set(mask.archs())


def test_restrict_errors():
    mask = Mask.full().restrict(0, ["none", "skip_connect"])
    with pytest.raises(ValueError, match=r"\['nor_conv_3x3'\] are not enabled on edge 0"):
        mask.restrict(0, ["nor_conv_3x3"])
    with pytest.raises(ValueError, match="no ops"):
        mask.restrict(1, [])
    with pytest.raises(ValueError, match="edge must be an integer in 0..5"):
        mask.restrict(6, ["none"])
    with pytest.raises(ValueError, match="unknown operation"):
        mask.restrict(1, ["conv"])
    assert not Mask.full().is_subset_of(mask) and mask.is_subset_of(Mask.full())


# -- against the real benchmark (skipped when ../shared/data is absent) --------------------


def test_benchmark_index_round_trip(shared_benchmark):
    archs = shared_benchmark.archs()
    assert len(archs) == len(shared_benchmark) == NUM_ARCHS
    for i in range(NUM_ARCHS):
        assert shared_benchmark.index(archs[i]) == i
        assert shared_benchmark.arch(i) == archs[i]


def test_all_archs_cover_the_benchmark(shared_benchmark):
    assert set(all_archs()) == set(shared_benchmark.archs())


def test_connectivity_follows_non_none_paths_from_input_to_output():
    from fewshot.spaces.nb201 import Arch

    none = ("none",) * 6
    assert not Arch(none).is_connected
    direct = list(none)
    direct[3] = "skip_connect"  # edge 3 is node 0 -> node 3
    assert Arch(tuple(direct)).is_connected
    dangling = list(none)
    dangling[0] = dangling[2] = "nor_conv_3x3"  # 0 -> 1 -> 2, nothing into node 3
    assert not Arch(tuple(dangling)).is_connected
    dangling[5] = "avg_pool_3x3"  # 2 -> 3 closes the path
    assert Arch(tuple(dangling)).is_connected
    broken = list(none)
    broken[4] = "nor_conv_1x1"  # 1 -> 3, but node 1 is unreachable
    assert not Arch(tuple(broken)).is_connected
    from fewshot.spaces.nb201 import all_archs

    assert sum(not a.is_connected for a in all_archs()) == 341


def test_a_pickled_space_is_the_registered_one():
    """Sent to another process (Ray, spawn), a space arrives as the registry's instance."""
    import pickle

    from fewshot.spaces import get_space

    space = get_space("nb201")
    assert pickle.loads(pickle.dumps(space)) is space
    assert pickle.loads(pickle.dumps({"space": space, "mask": space.full_mask()}))["space"] is space


def test_nonlinear_count_is_efs_nas_rule():
    """EFS-NAS: ReLU-convs on the deepest non-zero input-output path (SPEC 5c)."""
    count = NB201.nonlinear_count
    best = "|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|skip_connect~2|"
    assert count(Arch.from_string(best)) == 2  # 0 -c-> 1 -c-> 2 -skip-> 3; 0 -skip-> 3: 0
    deep = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_1x1~1|+|none~0|none~1|nor_conv_1x1~2|"
    assert count(Arch.from_string(deep)) == 3
    cut = "|nor_conv_3x3~0|+|none~0|none~1|+|none~0|nor_conv_3x3~1|none~2|"
    assert count(Arch.from_string(cut)) == 2  # 0 -c-> 1 -c-> 3
    dead = "|nor_conv_3x3~0|+|none~0|none~1|+|none~0|none~1|nor_conv_3x3~2|"
    assert count(Arch.from_string(dead)) == 0  # no path reaches the output
    sizes = Counter(count(a) for a in all_archs())
    assert [sizes[k] for k in range(4)] == [1983, 7122, 5520, 1000]  # the paper's subspaces
