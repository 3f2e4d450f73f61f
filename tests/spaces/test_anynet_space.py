"""AnyNet: hand-computed complexity, parameter count of the built module, forward, init."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from fewshot.spaces.anynet import AnyNetConfig, hyperparameter_names

SMALL = AnyNetConfig(
    depths=(1, 1, 1), widths=(8, 16, 32), bottleneck_ratios=(1, 2, 4), group_widths=(1, 2, 4)
)


def _conv(k, w_in, w_out, hw, groups=1):
    """(flops, params, acts) of one bias-free conv at output size hw x hw, pycls's count."""
    return k * k * w_in * w_out * hw * hw // groups, k * k * w_in * w_out // groups, w_out * hw * hw


def test_complexity_of_a_small_anynet_by_hand():
    # stem 3->64 at 32x32; stage 1: 64->8, w_b 8, groups 8 (stride 1, projection: 64 != 8);
    # stage 2: 8->16, w_b 8, groups 4, stride 2 (16x16); stage 3: 16->32, w_b 8, groups 2 (8x8).
    convs = [
        _conv(3, 3, 64, 32),
        _conv(1, 64, 8, 32),
        _conv(1, 64, 8, 32),
        _conv(3, 8, 8, 32, 8),
        _conv(1, 8, 8, 32),
        _conv(1, 8, 16, 16),
        _conv(1, 8, 8, 32),
        _conv(3, 8, 8, 16, 4),
        _conv(1, 8, 16, 16),
        _conv(1, 16, 32, 8),
        _conv(1, 16, 8, 16),
        _conv(3, 8, 8, 8, 2),
        _conv(1, 8, 32, 8),
    ]
    bn_widths = [64, 8, 8, 8, 8, 16, 8, 8, 16, 32, 8, 8, 32]
    head = 32 * 10 + 10
    flops = sum(c[0] for c in convs) + head
    params = sum(c[1] for c in convs) + 2 * sum(bn_widths) + head
    acts = sum(c[2] for c in convs) + 10
    assert (flops, params, acts) == (3_225_930, 5_314, 123_402)
    assert SMALL.complexity(image_size=32, num_classes=10) == {
        "flops": flops,
        "params": params,
        "acts": acts,
    }


@pytest.mark.parametrize(
    "config",
    [
        SMALL,
        AnyNetConfig((2, 3, 1), (16, 32, 64), (1, 1, 2), (2, 4, 8)),
        AnyNetConfig((1, 2, 2), (64, 64, 128), (1, 2, 4), (64, 1, 32)),  # no projection in s1
    ],
)
def test_params_equal_the_built_modules_parameters(config):
    net = config.build(num_classes=7)
    counted = sum(p.numel() for p in net.parameters())  # BN running stats are buffers
    assert config.complexity(num_classes=7)["params"] == counted


def test_forward_shape_and_every_relu_is_its_own_module():
    net = SMALL.build(num_classes=5)
    assert net(torch.randn(2, 3, 32, 32)).shape == (2, 5)
    relus = [m for m in net.modules() if isinstance(m, nn.ReLU)]
    assert len(relus) == len({id(m) for m in relus}) == 1 + 3 * 3  # stem + 3 per block


def test_block_structure_matches_pycls():
    net = AnyNetConfig((2, 1, 1), (64, 32, 32), (2, 1, 1), (8, 4, 32)).build()
    b1, b2 = net.s1.b1, net.s1.b2
    assert b1.proj is None  # 64 -> 64, stride 1: identity shortcut
    assert b1.f.a.out_channels == 32 and b1.f.b.groups == 4 and b1.f.c.out_channels == 64
    assert net.s2.b1.proj.stride == (2, 2) and net.s2.b1.f.b.stride == (2, 2)
    assert net.s3.b1.proj is not None and b2.proj is None
    assert all(m.bias is None for m in net.modules() if isinstance(m, nn.Conv2d))
    assert net.head.fc.bias is not None


def test_pycls_init():
    torch.manual_seed(0)
    net = AnyNetConfig((4, 4, 4), (256, 256, 256), (1, 1, 1), (1, 1, 1)).build()
    conv = net.s2.b1.f.c  # 1x1, 256 out channels
    assert conv.weight.std().item() == pytest.approx(math.sqrt(2 / 256), rel=0.05)
    assert net.head.fc.weight.std().item() == pytest.approx(0.01, rel=0.1)
    assert float(net.head.fc.bias.detach().abs().sum()) == 0
    bns = [m for m in net.modules() if isinstance(m, nn.BatchNorm2d)]
    assert all(bool((m.weight == 1).all()) and float(m.bias.detach().abs().sum()) == 0 for m in bns)


def test_hyperparameter_round_trip_and_names():
    h = SMALL.hyperparameters()
    assert tuple(h) == hyperparameter_names(3)
    assert h["w2"] == 16 and h["g3"] == 4 and h["b3"] == 4
    assert AnyNetConfig.from_hyperparameters(h) == SMALL


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(depths=(1, 1), widths=(8, 8, 8), bottleneck_ratios=(1, 1, 1), group_widths=(1, 1, 1)),
        dict(
            depths=(0, 1, 1), widths=(8, 8, 8), bottleneck_ratios=(1, 1, 1), group_widths=(1, 1, 1)
        ),
        dict(
            depths=(1, 1, 1), widths=(4, 8, 8), bottleneck_ratios=(4, 1, 1), group_widths=(2, 1, 1)
        ),
    ],
)
def test_invalid_configs_raise(kwargs):
    with pytest.raises(ValueError):
        AnyNetConfig(**kwargs)
