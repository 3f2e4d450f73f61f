"""Building blocks of NB201 networks, layer for layer as in the benchmark's code (xautodl).

Cells in NB201 only use stride 1 with equal input and output channels, so every candidate op
has one constructor signature: ``OP_FACTORIES[name](C, affine, track_running_stats)``.
``nor_conv_kxk`` is ReLU -> Conv(k, no bias) -> BN, as in the benchmark.
"""

from __future__ import annotations

from collections.abc import Callable

from torch import Tensor, nn

from fewshot.spaces.nb201 import OPS


class ReLUConvBN(nn.Sequential):
    """ReLU -> Conv2d (no bias) -> BatchNorm2d."""

    def __init__(
        self,
        C_in: int,
        C_out: int,
        kernel_size: int,
        stride: int,
        *,
        affine: bool = True,
        track_running_stats: bool = True,
    ) -> None:
        super().__init__(
            nn.ReLU(inplace=False),
            nn.Conv2d(
                C_in, C_out, kernel_size, stride=stride, padding=kernel_size // 2, bias=False
            ),
            nn.BatchNorm2d(C_out, affine=affine, track_running_stats=track_running_stats),
        )


class Zero(nn.Module):
    """The ``none`` op: outputs zeros (the supernet skips it rather than computing ``x * 0``)."""

    def forward(self, x: Tensor) -> Tensor:
        return x.mul(0.0)


class ResNetBasicBlock(nn.Module):
    """The stride-2 reduction block between NB201 stages (as ``ResNetBasicblock`` in xautodl)."""

    def __init__(
        self, C_in: int, C_out: int, *, affine: bool = True, track_running_stats: bool = True
    ) -> None:
        super().__init__()
        bn = {"affine": affine, "track_running_stats": track_running_stats}
        self.conv_a = ReLUConvBN(C_in, C_out, 3, 2, **bn)
        self.conv_b = ReLUConvBN(C_out, C_out, 3, 1, **bn)
        self.downsample = nn.Sequential(
            nn.AvgPool2d(kernel_size=2, stride=2, padding=0),
            nn.Conv2d(C_in, C_out, kernel_size=1, stride=1, padding=0, bias=False),
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.downsample(x) + self.conv_b(self.conv_a(x))


OpFactory = Callable[[int, bool, bool], nn.Module]

OP_FACTORIES: dict[str, OpFactory] = {
    "none": lambda C, affine, track: Zero(),
    "skip_connect": lambda C, affine, track: nn.Identity(),
    "nor_conv_1x1": lambda C, affine, track: ReLUConvBN(
        C, C, 1, 1, affine=affine, track_running_stats=track
    ),
    "nor_conv_3x3": lambda C, affine, track: ReLUConvBN(
        C, C, 3, 1, affine=affine, track_running_stats=track
    ),
    "avg_pool_3x3": lambda C, affine, track: nn.AvgPool2d(
        3, stride=1, padding=1, count_include_pad=False
    ),
}
assert tuple(OP_FACTORIES) == OPS, "OP_FACTORIES must follow fewshot.spaces.nb201.OPS"


def build_op(
    name: str, C: int, *, affine: bool = True, track_running_stats: bool = True
) -> nn.Module:
    """Instantiate candidate op ``name`` for ``C`` channels."""
    return OP_FACTORIES[name](C, affine, track_running_stats)
