"""AnyNet's plain ``nn.Module``s (pycls; Radosavovic et al.) and their complexity count.

The networks of :class:`fewshot.spaces.anynet.AnyNetConfig` (the design-space value, which
builds them with ``config.build()``). An AnyNet is a stem (3x3 conv to ``w0 = 64`` channels, BN,
ReLU, stride 1), stages of residual bottleneck blocks, and a head (global average pool, linear
with bias). Stage ``i`` has ``d_i`` blocks of output width ``w_i``; its first block has stride 1
(stage 1) or 2 (later stages) and takes the previous stage's width. A block (pycls
``ResBottleneckBlock``) is::

    w_b = round(w_out / b), groups = w_b // g
    f(x) = BN(conv1x1 w_b->w_out)(ReLU(BN(conv3x3 w_b->w_b, stride, groups)(ReLU(BN(conv1x1 w_in->w_b)(x)))))
    out  = ReLU(shortcut(x) + f(x)),  shortcut = BN(conv1x1 w_in->w_out, stride) when the shape changes

Each module pairs its ``forward`` with a static ``complexity`` (pycls's design), counted as
pycls counts it: a conv adds ``k*k*w_in*w_out*h*w // groups`` flops (multiply-adds),
``k*k*w_in*w_out // groups`` params and ``w_out*h*w`` acts at its output size
``(h - 1) // stride + 1``; a BN adds ``2*w`` params (its running statistics are buffers, not
counted); the linear head adds ``w_in*w_out + w_out`` flops and params and ``w_out`` acts;
average pooling adds nothing. Initialisation is pycls's: conv weights ``N(0, sqrt(2 / (k*k*
w_out)))``, BN weight 1 and bias 0, linear weight ``N(0, 0.01)`` and bias 0.

Every ReLU is its own ``nn.ReLU`` module (not functional, not shared), so activation metrics
that hook ReLU modules (naswot) see each one once.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from fewshot.spaces.anynet import StageSpec

BN_EPS, BN_MOMENTUM = 1e-5, 0.1
"""pycls's defaults (``cfg.BN.EPS``, ``cfg.BN.MOM``)."""


# -- complexity -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Complexity:
    """Running pycls complexity: spatial size ``h x w`` and the totals so far."""

    h: int
    w: int
    flops: int = 0
    params: int = 0
    acts: int = 0

    def conv(
        self, w_in: int, w_out: int, k: int, *, stride: int = 1, groups: int = 1
    ) -> Complexity:
        """A bias-free ``k x k`` conv (padding ``(k - 1) // 2``)."""
        h, w = (self.h - 1) // stride + 1, (self.w - 1) // stride + 1
        return Complexity(
            h,
            w,
            self.flops + k * k * w_in * w_out * h * w // groups,
            self.params + k * k * w_in * w_out // groups,
            self.acts + w_out * h * w,
        )

    def bn(self, width: int) -> Complexity:
        """BatchNorm: weight and bias (``2 * width`` params), nothing else."""
        return Complexity(self.h, self.w, self.flops, self.params + 2 * width, self.acts)

    def pool(self) -> Complexity:
        """Global average pooling: size 1x1, nothing counted."""
        return Complexity(1, 1, self.flops, self.params, self.acts)

    def linear(self, w_in: int, w_out: int) -> Complexity:
        """A linear layer with bias."""
        n = w_in * w_out + w_out
        return Complexity(self.h, self.w, self.flops + n, self.params + n, self.acts + w_out)

    def at_size(self, h: int, w: int) -> Complexity:
        """The same totals at another spatial size (a side branch that rejoins)."""
        return Complexity(h, w, self.flops, self.params, self.acts)

    def totals(self) -> dict[str, int]:
        return {"flops": self.flops, "params": self.params, "acts": self.acts}


# -- modules --------------------------------------------------------------------------------


def _conv(w_in: int, w_out: int, k: int, *, stride: int = 1, groups: int = 1) -> nn.Conv2d:
    return nn.Conv2d(w_in, w_out, k, stride=stride, padding=(k - 1) // 2, groups=groups, bias=False)


def _bn(width: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(width, eps=BN_EPS, momentum=BN_MOMENTUM)


class Stem(nn.Module):
    """CIFAR stem: 3x3 conv (stride 1), BN, ReLU."""

    def __init__(self, w_in: int, w_out: int) -> None:
        super().__init__()
        self.conv, self.bn, self.relu = _conv(w_in, w_out, 3), _bn(w_out), nn.ReLU()

    def forward(self, x: Tensor) -> Tensor:
        return self.relu(self.bn(self.conv(x)))

    @staticmethod
    def complexity(cx: Complexity, w_in: int, w_out: int) -> Complexity:
        return cx.conv(w_in, w_out, 3).bn(w_out)


class BottleneckTransform(nn.Module):
    """1x1 (to ``w_b``), grouped 3x3 (stride), 1x1 (to ``w_out``); BN after each, ReLU between."""

    def __init__(self, w_in: int, w_out: int, stride: int, w_b: int, groups: int) -> None:
        super().__init__()
        self.a, self.a_bn, self.a_relu = _conv(w_in, w_b, 1), _bn(w_b), nn.ReLU()
        self.b = _conv(w_b, w_b, 3, stride=stride, groups=groups)
        self.b_bn, self.b_relu = _bn(w_b), nn.ReLU()
        self.c, self.c_bn = _conv(w_b, w_out, 1), _bn(w_out)

    def forward(self, x: Tensor) -> Tensor:
        x = self.a_relu(self.a_bn(self.a(x)))
        x = self.b_relu(self.b_bn(self.b(x)))
        return self.c_bn(self.c(x))

    @staticmethod
    def complexity(
        cx: Complexity, w_in: int, w_out: int, stride: int, w_b: int, groups: int
    ) -> Complexity:
        cx = cx.conv(w_in, w_b, 1).bn(w_b)
        cx = cx.conv(w_b, w_b, 3, stride=stride, groups=groups).bn(w_b)
        return cx.conv(w_b, w_out, 1).bn(w_out)


class ResBottleneckBlock(nn.Module):
    """``ReLU(shortcut(x) + f(x))``; projection shortcut (1x1 conv + BN) when the shape changes."""

    def __init__(self, w_in: int, w_out: int, stride: int, w_b: int, groups: int) -> None:
        super().__init__()
        self.proj: nn.Module | None = None
        self.bn: nn.Module | None = None
        if w_in != w_out or stride != 1:
            self.proj, self.bn = _conv(w_in, w_out, 1, stride=stride), _bn(w_out)
        self.f = BottleneckTransform(w_in, w_out, stride, w_b, groups)
        self.relu = nn.ReLU()

    def forward(self, x: Tensor) -> Tensor:
        shortcut = self.bn(self.proj(x)) if self.proj is not None else x
        return self.relu(shortcut + self.f(x))

    @staticmethod
    def complexity(
        cx: Complexity, w_in: int, w_out: int, stride: int, w_b: int, groups: int
    ) -> Complexity:
        if w_in != w_out or stride != 1:  # the projection runs beside f: size restored after
            cx = cx.conv(w_in, w_out, 1, stride=stride).bn(w_out).at_size(cx.h, cx.w)
        return BottleneckTransform.complexity(cx, w_in, w_out, stride, w_b, groups)


class AnyStage(nn.Module):
    """A stage: blocks ``b1..bd`` of one width; stride and input width apply to ``b1``."""

    def __init__(self, spec: StageSpec) -> None:
        super().__init__()
        for i, (w_in, stride) in enumerate(spec.blocks()):
            block = ResBottleneckBlock(w_in, spec.w_out, stride, spec.w_b, spec.groups)
            self.add_module(f"b{i + 1}", block)

    def forward(self, x: Tensor) -> Tensor:
        for block in self.children():
            x = block(x)
        return x

    @staticmethod
    def complexity(cx: Complexity, spec: StageSpec) -> Complexity:
        for w_in, stride in spec.blocks():
            cx = ResBottleneckBlock.complexity(cx, w_in, spec.w_out, stride, spec.w_b, spec.groups)
        return cx


class Head(nn.Module):
    """Global average pool and a linear classifier with bias."""

    def __init__(self, w_in: int, num_classes: int) -> None:
        super().__init__()
        self.avg_pool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(w_in, num_classes, bias=True)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(torch.flatten(self.avg_pool(x), 1))

    @staticmethod
    def complexity(cx: Complexity, w_in: int, num_classes: int) -> Complexity:
        return cx.pool().linear(w_in, num_classes)


class AnyNet(nn.Module):
    """The network of an :class:`AnyNetConfig`: ``stem``, stages ``s1..sn``, ``head``."""

    def __init__(self, stem_width: int, stages: Sequence[StageSpec], num_classes: int) -> None:
        super().__init__()
        self.stem = Stem(3, stem_width)
        for i, spec in enumerate(stages):
            self.add_module(f"s{i + 1}", AnyStage(spec))
        self.head = Head(stages[-1].w_out, num_classes)
        self.apply(init_weights)

    def forward(self, x: Tensor) -> Tensor:
        for module in self.children():
            x = module(x)
        return x


def init_weights(m: nn.Module) -> None:
    """pycls's ResNet-style init (no zero-init of the last BN's gamma: pycls's default)."""
    if isinstance(m, nn.Conv2d):
        fan_out = m.kernel_size[0] * m.kernel_size[1] * m.out_channels
        nn.init.normal_(m.weight, mean=0.0, std=math.sqrt(2.0 / fan_out))
    elif isinstance(m, nn.BatchNorm2d):
        nn.init.ones_(m.weight)
        nn.init.zeros_(m.bias)
    elif isinstance(m, nn.Linear):
        nn.init.normal_(m.weight, mean=0.0, std=0.01)
        nn.init.zeros_(m.bias)
