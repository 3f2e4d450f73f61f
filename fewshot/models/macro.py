"""NAS-Bench-Macro networks: the maskable supernet, and standalone networks as one-arch supernets.

Layer for layer as the authors' builder (``train/model.py`` of xiusu/NAS-Bench-Macro, read
for its conventions): every conv without bias and followed by BatchNorm; plain ReLU (not
ReLU6) after the stem, the expansion and the depthwise conv, none after the projection; the
hidden width is ``C_in * t`` with ``C_in`` the layer's input channels (also at the stride-2
layers); a residual only where input and output shapes match; identity at a stride-2 layer is
a 1x1 stride-2 conv + BN; head conv1x1 to 1,280 + BN + ReLU, global average pooling, a linear
classifier (the one bias). With ``C=32`` and ``N=1`` the parameter count equals the
benchmark's ``params`` for every arch (:func:`count_params` gives it without building the net,
:func:`count_flops` the ``flops`` field). ``C`` scales every width (head ``40 * C``); ``N``
repeats each searchable layer (CPU experiments use narrow nets, ``C=8``).

As with the NB201 supernet (:mod:`fewshot.models.supernet`): ``candidates`` fixes which blocks
are instantiated, the mask (a buffer saved with the weights) any sub-mask of it; a standalone
network is a supernet whose candidates are one arch, so its ``state_dict`` keys are a subset
of the full supernet's. Forward modes: ``mixture`` (each layer outputs the mean of its enabled
blocks) and ``single_path`` (one block per layer, drawn uniformly inside the mask once per
forward unless ``arch`` is given).
"""

from __future__ import annotations

from torch import Tensor, nn

from fewshot.models.maskable import MODES, MaskableSupernet, Mode, PositionOps
from fewshot.spaces.macro import NUM_LAYERS, OPS, REDUCTION_LAYERS, Arch, Mask

LayerOps = PositionOps
BLOCKS: dict[str, tuple[int, int]] = {"ir_3x3_t3": (3, 3), "ir_5x5_t6": (5, 6)}
"""Inverted-residual blocks: name -> (kernel size, expansion ratio)."""
HEAD_PER_C = 40
"""Head width per base channel: 1,280 at the benchmark's ``C=32``."""


def conv_bn(
    C_in: int, C_out: int, kernel: int, stride: int = 1, *, groups: int = 1, **bn: bool
) -> list[nn.Module]:
    """Conv2d (no bias, 'same' padding) then BatchNorm2d, as a list to splice into a Sequential."""
    conv = nn.Conv2d(C_in, C_out, kernel, stride, kernel // 2, groups=groups, bias=False)
    return [conv, nn.BatchNorm2d(C_out, **bn)]


class InvertedResidual(nn.Module):
    """MobileNetV2 block: 1x1 expand + BN + ReLU, kxk depthwise + BN + ReLU, 1x1 project + BN;
    adds its input when the shapes match (stride 1, equal channels)."""

    def __init__(
        self, C_in: int, C_out: int, stride: int, kernel: int, expansion: int, **bn: bool
    ) -> None:
        super().__init__()
        hidden = C_in * expansion
        self.conv = nn.Sequential(
            *conv_bn(C_in, hidden, 1, **bn),
            nn.ReLU(inplace=True),
            *conv_bn(hidden, hidden, kernel, stride, groups=hidden, **bn),
            nn.ReLU(inplace=True),
            *conv_bn(hidden, C_out, 1, **bn),
        )
        self.residual = stride == 1 and C_in == C_out

    def forward(self, x: Tensor) -> Tensor:
        out = self.conv(x)
        return out + x if self.residual else out


def build_block(name: str, C_in: int, C_out: int, stride: int, **bn: bool) -> nn.Module:
    """One candidate block of a layer; ``id`` is a 1x1 conv + BN where the shape changes."""
    if name == "id":
        if stride == 1 and C_in == C_out:
            return nn.Identity()
        return nn.Sequential(*conv_bn(C_in, C_out, 1, stride, **bn))
    if name not in BLOCKS:
        raise ValueError(f"unknown NAS-Bench-Macro block {name!r}; expected one of {OPS}")
    kernel, expansion = BLOCKS[name]
    return InvertedResidual(C_in, C_out, stride, kernel, expansion, **bn)


def layer_shapes(C: int, N: int = 1) -> list[tuple[int, int, int]]:
    """``(C_in, C_out, stride)`` of each layer for base channels ``C``: the 8 searchable layers
    in order, each repeated ``N`` times (the first copy of a stride-2 layer reduces)."""
    shapes, channels = [], C
    for layer in range(NUM_LAYERS):
        for copy in range(N):
            stride = 2 if layer in REDUCTION_LAYERS and copy == 0 else 1
            shapes.append((channels, channels * stride, stride))
            channels *= stride
    return shapes


class MixedLayer(nn.Module):
    """One searchable layer holding its candidate blocks, keyed by block name."""

    def __init__(
        self, C_in: int, C_out: int, stride: int, candidates: tuple[str, ...], **bn: bool
    ) -> None:
        super().__init__()
        self.ops = nn.ModuleDict(
            {name: build_block(name, C_in, C_out, stride, **bn) for name in candidates}
        )

    def forward(self, x: Tensor, ops: tuple[str, ...]) -> Tensor:
        """Mean of the blocks ``ops`` applied to ``x``."""
        total = self.ops[ops[0]](x)
        for name in ops[1:]:
            total = total + self.ops[name](x)
        return total if len(ops) == 1 else total / len(ops)


class MacroSupernet(MaskableSupernet):
    """NAS-Bench-Macro supernet: stem, 8 mixed layers (stages of 2, 3, 3), head, classifier.

    Args:
        C: stem channels (the benchmark's 32); the stages have 2C, 4C and 8C.
        N: copies of each searchable layer, all running the layer's block (the benchmark's 1;
            as NB201's cells per stage share one cell). The copies after the first keep the
            shape, so an identity copy is a plain identity.
        num_classes: classifier outputs.
        head_channels: width of the 1x1 head conv (default ``40 * C``: 1,280 at ``C=32``).
        candidates: blocks to instantiate per layer (default: all). The initial mask.
        mode: ``"mixture"`` or ``"single_path"`` (see module docstring).
        affine, track_running_stats: BatchNorm options of the searchable layers (the stem's and
            head's BatchNorms are plain, as the NB201 supernet's stem and last BN).
    """

    body_prefix = "layers."
    """Name prefix of the searchable layers' parameters (between stem and head): what GM-NAS's
    gradient matching compares (metric ``gm_cells``)."""

    def __init__(
        self,
        *,
        C: int = 32,
        N: int = 1,
        num_classes: int = 10,
        head_channels: int | None = None,
        candidates: Mask | None = None,
        mode: Mode = "mixture",
        affine: bool = True,
        track_running_stats: bool = True,
    ) -> None:
        super().__init__()
        head = HEAD_PER_C * C if head_channels is None else head_channels
        if min(C, N, num_classes, head) < 1:
            raise ValueError(
                "C, N, num_classes and head_channels must be positive, got "
                f"{C}, {N}, {num_classes}, {head}"
            )
        self.C, self.N, self.num_classes, self.head_channels = C, N, num_classes, head
        candidates = candidates if candidates is not None else Mask.full()
        if not isinstance(candidates, Mask):
            raise ValueError(
                f"MacroSupernet builds NAS-Bench-Macro masks, not {type(candidates).__name__} "
                f"of {getattr(candidates, 'space', None)!r}"
            )
        self._init_mask(candidates, mode)
        bn = {"affine": affine, "track_running_stats": track_running_stats}
        self.stem = nn.Sequential(*conv_bn(3, C, 3), nn.ReLU(inplace=True))
        self.layers = nn.ModuleList(
            MixedLayer(C_in, C_out, stride, self.candidates.ops(k // N), **bn)
            for k, (C_in, C_out, stride) in enumerate(layer_shapes(C, N))
        )
        self.head = nn.Sequential(*conv_bn(8 * C, head, 1), nn.ReLU(inplace=True))
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(head, num_classes)
        self._register_mask()

    # -- forward ------------------------------------------------------------------------
    def forward(self, x: Tensor, arch: Arch | None = None) -> Tensor:
        """Logits for images ``x`` (N, 3, H, W); ``arch`` forces that single path."""
        layer_ops = self.position_ops(arch)
        out = self.stem(x)
        for k, layer in enumerate(self.layers):
            out = layer(out, layer_ops[k // self.N])
        out = self.global_pooling(self.head(out)).flatten(1)
        return self.classifier(out)


def build_macro_network(
    arch: Arch | str,
    *,
    C: int = 32,
    N: int = 1,
    num_classes: int = 10,
    head_channels: int | None = None,
    affine: bool = True,
    track_running_stats: bool = True,
) -> MacroSupernet:
    """The standalone network of ``arch``: only its blocks are instantiated (benchmark layout)."""
    arch = Arch.from_string(arch) if isinstance(arch, str) else arch
    return MacroSupernet(
        C=C,
        N=N,
        num_classes=num_classes,
        head_channels=head_channels,
        candidates=Mask.from_arch(arch),
        affine=affine,
        track_running_stats=track_running_stats,
    )


# -- complexity (without building the network) ------------------------------------------------
def _conv_params(C_in: int, C_out: int, kernel: int, groups: int = 1) -> int:
    """Weights of a bias-free conv plus its BatchNorm's weight and bias."""
    return C_in // groups * C_out * kernel * kernel + 2 * C_out


def block_params(name: str, C_in: int, C_out: int, stride: int) -> int:
    """Parameters of one candidate block (as :func:`build_block` builds it, affine BN)."""
    if name == "id":
        return 0 if stride == 1 and C_in == C_out else _conv_params(C_in, C_out, 1)
    kernel, expansion = BLOCKS[name]
    hidden = C_in * expansion
    return (
        _conv_params(C_in, hidden, 1)
        + _conv_params(hidden, hidden, kernel, groups=hidden)
        + _conv_params(hidden, C_out, 1)
    )


def count_params(
    arch: Arch | str,
    *,
    C: int = 32,
    N: int = 1,
    num_classes: int = 10,
    head_channels: int | None = None,
) -> int:
    """Parameter count of :func:`build_macro_network` ``(arch)``; the benchmark's ``params``."""
    arch = Arch.from_string(arch) if isinstance(arch, str) else arch
    head = HEAD_PER_C * C if head_channels is None else head_channels
    shapes = layer_shapes(C, N)
    blocks = sum(block_params(arch.ops[k // N], *shape) for k, shape in enumerate(shapes))
    return _conv_params(3, C, 3) + blocks + _conv_params(8 * C, head, 1) + (head + 1) * num_classes


def _conv_flops(C_in: int, C_out: int, kernel: int, size: int, groups: int = 1) -> int:
    """Multiply-accumulates of a conv with a ``size`` x ``size`` output (the authors' count)."""
    return C_in * C_out * size * size // groups * kernel * kernel


def block_flops(name: str, C_in: int, C_out: int, stride: int, size: int) -> int:
    """Conv multiply-accumulates of one block on a ``size`` x ``size`` input."""
    out = (size - 1) // stride + 1
    if name == "id":
        return 0 if stride == 1 and C_in == C_out else _conv_flops(C_in, C_out, 1, out)
    kernel, expansion = BLOCKS[name]
    hidden = C_in * expansion
    return (
        _conv_flops(C_in, hidden, 1, size)
        + _conv_flops(hidden, hidden, kernel, out, groups=hidden)
        + _conv_flops(hidden, C_out, 1, out)
    )


def count_flops(
    arch: Arch | str,
    *,
    C: int = 32,
    N: int = 1,
    num_classes: int = 10,
    head_channels: int | None = None,
    resolution: int = 32,
) -> int:
    """The benchmark's ``flops``: multiply-accumulates of every conv and the classifier (BN,
    ReLU, pooling and residual additions not counted), at ``resolution`` x ``resolution``."""
    arch = Arch.from_string(arch) if isinstance(arch, str) else arch
    head = HEAD_PER_C * C if head_channels is None else head_channels
    total, size = _conv_flops(3, C, 3, resolution), resolution
    for k, (C_in, C_out, stride) in enumerate(layer_shapes(C, N)):
        total += block_flops(arch.ops[k // N], C_in, C_out, stride, size)
        size = (size - 1) // stride + 1
    return total + _conv_flops(8 * C, head, 1, size) + head * num_classes


__all__ = [
    "BLOCKS",
    "MODES",
    "InvertedResidual",
    "MacroSupernet",
    "MixedLayer",
    "build_block",
    "build_macro_network",
    "count_flops",
    "count_params",
    "layer_shapes",
]
