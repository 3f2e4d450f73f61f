"""AnyNet's design space for CIFAR (pycls; Radosavovic et al.): the frozen config value.

:class:`AnyNetConfig` holds one network's per-stage depths, widths, bottleneck ratios and group
widths (``d, w, g, b``; the paper's space has 3 stages), checks that its blocks build, and
derives the :class:`StageSpec` of each stage. Its ``build()`` and ``complexity()`` hand those
specs to the ``nn.Module``s in :mod:`fewshot.models.anynet` (imported when called: the one import
from this layer up to models, declared in ``.importlinter``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fewshot.models.anynet import AnyNet

STEM_WIDTH = 64
"""pycls's CIFAR stem width ``w0``."""


@dataclass(frozen=True)
class StageSpec:
    """What one stage builds: ``depth`` blocks, the first with ``w_in`` and ``stride``."""

    depth: int
    w_in: int
    w_out: int
    stride: int
    w_b: int
    groups: int

    def blocks(self) -> list[tuple[int, int]]:
        """``(w_in, stride)`` of each block."""
        return [(self.w_in, self.stride)] + [(self.w_out, 1)] * (self.depth - 1)


# -- the config value -----------------------------------------------------------------------

HYPERPARAMETERS: tuple[str, ...] = ("d", "w", "g", "b")
"""Per-stage hyperparameters: depth, width, group width, bottleneck ratio."""


def stage_strides(num_stages: int) -> tuple[int, ...]:
    """Stride of each stage's first block: 1 for the first stage, 2 after (CIFAR: 1, 2, 2)."""
    return (1,) + (2,) * (num_stages - 1)


def bottleneck(width: int, ratio: int, group_width: int) -> tuple[int, int]:
    """``(w_b, groups)`` as pycls computes them: ``round(width / ratio)``, ``w_b // g``."""
    w_b = int(round(width / ratio))
    return w_b, w_b // group_width


def block_compatible(width: int, ratio: int, group_width: int) -> bool:
    """Whether a block of these values builds: ``w_b >= 1``, ``groups >= 1`` divides ``w_b``."""
    if min(width, ratio, group_width) < 1:
        return False
    w_b, groups = bottleneck(width, ratio, group_width)
    return w_b >= 1 and groups >= 1 and w_b % groups == 0


@dataclass(frozen=True)
class AnyNetConfig:
    """One AnyNet: per-stage depths, widths, bottleneck ratios ``b`` and group widths ``g``.

    Values are tuples of equal length (one entry per stage; the paper's space has 3).
    Invalid values (non-positive, or a block that cannot be built) raise ``ValueError``.
    """

    depths: tuple[int, ...]
    widths: tuple[int, ...]
    bottleneck_ratios: tuple[int, ...]
    group_widths: tuple[int, ...]
    stem_width: int = STEM_WIDTH

    def __post_init__(self) -> None:
        fields = ("depths", "widths", "bottleneck_ratios", "group_widths")
        values = {f: tuple(int(v) for v in getattr(self, f)) for f in fields}
        lengths = {len(v) for v in values.values()}
        if len(lengths) != 1 or 0 in lengths:
            raise ValueError(f"AnyNet needs one value per stage in every field, got {values}")
        for f, v in values.items():
            if min(v) < 1:
                raise ValueError(f"AnyNet {f} must be positive, got {v}")
            object.__setattr__(self, f, v)
        for i, (w, b, g) in enumerate(
            zip(values["widths"], values["bottleneck_ratios"], values["group_widths"], strict=True)
        ):
            if not block_compatible(w, b, g):
                raise ValueError(
                    f"stage {i + 1}: width {w}, bottleneck ratio {b} and group width {g} do not "
                    f"make a block (w_b = round(w / b) must hold at least one group of g channels)"
                )

    @property
    def num_stages(self) -> int:
        return len(self.depths)

    def stages(self) -> list[StageSpec]:
        """The stage specs: input widths chain from the stem; strides 1, 2, 2, ..."""
        specs, w_in = [], self.stem_width
        for d, w, b, g, s in zip(
            self.depths,
            self.widths,
            self.bottleneck_ratios,
            self.group_widths,
            stage_strides(self.num_stages),
            strict=True,
        ):
            w_b, groups = bottleneck(w, b, g)
            specs.append(StageSpec(d, w_in, w, s, w_b, groups))
            w_in = w
        return specs

    def build(self, *, num_classes: int = 10) -> AnyNet:
        """A freshly initialised (pycls init, torch's global RNG) plain ``nn.Module``."""
        from fewshot.models.anynet import AnyNet

        return AnyNet(self.stem_width, self.stages(), num_classes)

    def complexity(self, *, image_size: int = 32, num_classes: int = 10) -> dict[str, int]:
        """``flops`` (multiply-adds), ``params`` and ``acts`` as pycls counts them."""
        from fewshot.models.anynet import AnyStage, Complexity, Head, Stem

        cx = Stem.complexity(Complexity(image_size, image_size), 3, self.stem_width)
        for spec in self.stages():
            cx = AnyStage.complexity(cx, spec)
        return Head.complexity(cx, self.widths[-1], num_classes).totals()

    # -- flat hyperparameters ---------------------------------------------------------------
    def hyperparameters(self) -> dict[str, int]:
        """``{"d1": .., "d2": .., "w1": .., "g1": .., "b1": ..}`` in d, w, g, b order."""
        per = {
            "d": self.depths,
            "w": self.widths,
            "g": self.group_widths,
            "b": self.bottleneck_ratios,
        }
        return {
            f"{h}{i + 1}": int(per[h][i]) for h in HYPERPARAMETERS for i in range(self.num_stages)
        }

    @classmethod
    def from_hyperparameters(
        cls, values: Mapping[str, int], *, num_stages: int = 3
    ) -> AnyNetConfig:
        """Inverse of :meth:`hyperparameters` (missing keys raise ``KeyError``)."""

        def per(h: str) -> tuple[int, ...]:
            return tuple(int(values[f"{h}{i + 1}"]) for i in range(num_stages))

        return cls(per("d"), per("w"), per("b"), per("g"))

    def to_dict(self) -> dict[str, list[int] | int]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    def __str__(self) -> str:
        h = self.hyperparameters()
        return " ".join(
            f"s{i + 1}(d={h[f'd{i + 1}']},w={h[f'w{i + 1}']},g={h[f'g{i + 1}']},b={h[f'b{i + 1}']})"
            for i in range(self.num_stages)
        )


def hyperparameter_names(num_stages: int = 3) -> tuple[str, ...]:
    """``d1..dn, w1..wn, g1..gn, b1..bn``: the order used in every file and table."""
    return tuple(f"{h}{i + 1}" for h in HYPERPARAMETERS for i in range(num_stages))
