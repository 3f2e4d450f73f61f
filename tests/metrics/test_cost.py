"""params and flops: counts of what runs, in NAS-Bench-201's units (millions)."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import torch
from torch import nn

from fewshot.metrics import ScoringData, compute_metric, compute_metrics
from fewshot.models.supernet import Supernet, build_network
from fewshot.spaces.nb201 import Arch, Mask

ARCH = "|nor_conv_3x3~0|+|skip_connect~0|nor_conv_1x1~1|+|none~0|avg_pool_3x3~1|nor_conv_3x3~2|"


def one_op_arch(op: str) -> str:
    """The arch with ``op`` on every edge."""
    return Arch((op,) * 6).to_string()


@pytest.fixture(scope="module")
def data32() -> ScoringData:
    return ScoringData.random(batch_size=2, num_batches=1, image_size=32)


def test_params_of_a_standalone_network_is_its_parameter_count(data32: ScoringData):
    net = build_network(ARCH, C=4, N=1)
    result = compute_metric(net, data32, "params")
    count = sum(p.numel() for p in net.parameters())
    assert result.extras["count"] == count
    assert result.value == pytest.approx(count / 1e6)


def test_params_of_a_sub_supernet_counts_only_enabled_ops(data32: ScoringData):
    """Disabled ops exist in the module but never run: the count equals the standalone one."""
    net = Supernet(C=4, N=1)
    arch = Arch.from_string(ARCH)
    net.set_mask(Mask.from_arch(arch))
    standalone = build_network(arch, C=4, N=1)
    got = compute_metric(net, data32, "params").extras["count"]
    assert got == sum(p.numel() for p in standalone.parameters())
    assert got < sum(p.numel() for p in net.parameters())


def test_flops_of_a_single_layer_by_hand():
    """Conv2d(3->4, 3x3, pad 1) on 8x8 and Linear(4->5): 8*8*4*3*9 and 4*5 MACs."""
    net = nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 5)
    )
    data = ScoringData.random(batch_size=3, num_batches=1, num_classes=5, image_size=8)
    result = compute_metric(net, data, "flops")
    assert result.extras["macs"] == 8 * 8 * 4 * 3 * 9 + 4 * 5
    assert result.per_layer == {"0": 8 * 8 * 4 * 3 * 9 / 1e6, "3": 20 / 1e6}


def test_flops_order_conv3x3_conv1x1_pool_skip(data32: ScoringData):
    """Pooling, skip and none add no MACs: only the cell's convolutions differ."""
    ops = ["nor_conv_3x3", "nor_conv_1x1", "avg_pool_3x3", "skip_connect", "none"]
    flops = {
        op: compute_metric(build_network(one_op_arch(op), C=4, N=1), data32, "flops") for op in ops
    }
    values = [flops[op].value for op in ops]
    assert values[0] > values[1] > values[2]
    assert values[2] == values[3] == values[4]  # stem, reductions and classifier only
    params = {
        op: compute_metric(build_network(one_op_arch(op), C=4, N=1), data32, "params") for op in ops
    }
    assert params["avg_pool_3x3"].value == params["none"].value < params["nor_conv_1x1"].value


def test_flops_scale_with_image_area():
    net = build_network(ARCH, C=4, N=1)
    small, large = (
        compute_metric(net, ScoringData.random(batch_size=1, num_batches=1, image_size=s), "flops")
        for s in (16, 32)
    )
    classifier = 4 * 4 * 10  # the Linear layer does not grow with the image
    assert large.extras["macs"] - classifier == 4 * (small.extras["macs"] - classifier)


def test_params_and_flops_match_the_benchmark(reference_csv: Path, data32: ScoringData):
    """Standalone C=16, N=5 networks: params equal NB201's; flops = NASLib's minus non-MAC work.

    The reference's flops also count pooling and elementwise BN/ReLU work (see cost.py):
    ours + 0.160832 + 0.43008 n_conv + 1.29024 n_avgpool, exactly.
    """
    rows = [r for r in csv.DictReader(reference_csv.open()) if r["params_M_c10"]]
    torch.manual_seed(0)
    picks = [rows[i] for i in torch.randperm(len(rows))[:3].tolist()]
    for row in picks:
        arch = Arch.from_string(row["arch_str"])
        got = compute_metrics(build_network(arch, C=16, N=5), data32, ["params", "flops"])
        assert got["params"].value == pytest.approx(float(row["params_M_c10"]), abs=1e-9)
        n_conv = sum(op.startswith("nor_conv") for op in arch.ops)
        n_pool = sum(op == "avg_pool_3x3" for op in arch.ops)
        naslib = got["flops"].value + 0.160832 + 0.43008 * n_conv + 1.29024 * n_pool
        assert naslib == pytest.approx(float(row["flops_M_c10"]), abs=1e-6)


NB201_COSTS = [  # (NB201 index, arch, params in M, NASLib flops in M), CIFAR-10, C=16, N=5
    (1651, one_op_arch("none"), 0.073306, 7.943872),
    (1462, one_op_arch("nor_conv_3x3"), 1.531546, 222.860992),
    (7581, one_op_arch("avg_pool_3x3"), 0.073306, 15.685312),
    (6111, "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|"
     "nor_conv_1x1~2|", 1.073466, 155.584192),
    (5, "|nor_conv_1x1~0|+|skip_connect~0|nor_conv_1x1~1|+|nor_conv_3x3~0|none~1|"
     "avg_pool_3x3~2|", 0.372346, 53.778112),
]  # fmt: skip
"""Written out so a clone without ``../shared/data`` still checks the builder against the
benchmark. Source: NAS-Bench-201 / NATS-Bench topology space, CIFAR-10 model, as published
with NASLib (the ``params_M_c10`` and ``flops_M_c10`` columns of the shared data's
``reference/nb201_accuracies.csv``, rows by ``index``): all-'none', all-conv3x3, all-pool,
the best CIFAR-10 arch and one arch with all five ops."""


@pytest.mark.parametrize(("index", "arch", "params_m", "flops_m"), NB201_COSTS, ids=str)
def test_params_and_flops_of_five_nb201_archs(
    index: int, arch: str, params_m: float, flops_m: float, data32: ScoringData
):
    """The standalone C=16, N=5 network has NB201's parameter count exactly; our MACs plus the
    non-MAC work NASLib also counts (cost.py: 0.160832 + 0.43008 n_conv + 1.29024 n_pool)
    give its FLOPs."""
    net = build_network(arch, C=16, N=5)
    assert sum(p.numel() for p in net.parameters()) == round(params_m * 1e6)
    got = compute_metrics(net, data32, ["params", "flops"])
    assert got["params"].extras["count"] == round(params_m * 1e6)
    ops = Arch.from_string(arch).ops
    n_conv = sum(op.startswith("nor_conv") for op in ops)
    n_pool = sum(op == "avg_pool_3x3" for op in ops)
    naslib = got["flops"].value + 0.160832 + 0.43008 * n_conv + 1.29024 * n_pool
    assert naslib == pytest.approx(flops_m, abs=1e-6)


def test_the_written_out_costs_are_the_reference_tables(reference_csv: Path):
    """The five rows above, against the shared table when it is present."""
    rows = {int(r["index"]): r for r in csv.DictReader(reference_csv.open())}
    for index, arch, params_m, flops_m in NB201_COSTS:
        row = rows[index]
        assert Arch.from_string(row["arch_str"]) == Arch.from_string(arch)
        assert (float(row["params_M_c10"]), float(row["flops_M_c10"])) == (params_m, flops_m)
