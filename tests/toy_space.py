"""A second search space for tests of code that must refuse values of another space.

``toy-chain``: 3 layers x 2 ops, no builders and no benchmark (imported, it registers itself).
"""

from __future__ import annotations

from fewshot.spaces import base
from fewshot.spaces.base import register_space

TOY = "toy-chain"


class ToyArch(base.Arch):
    """An arch of the toy chain."""


class ToyMask(base.Mask):
    """A mask of the toy chain."""


if TOY not in base.space_names():

    @register_space(TOY)
    class ToyChain(base.SearchSpace):
        """3 layers x {a, b}; archs written ``a-b-a``."""

        positions = ("l0", "l1", "l2")
        position_kind = "layer"
        ops = ("a", "b")
        parametric_ops = frozenset({"b"})
        arch_type = ToyArch
        mask_type = ToyMask

        def parse_arch(self, text: str) -> base.Arch:
            return self.arch(text.split("-"))

        def format_arch(self, arch: base.Arch) -> str:
            return "-".join(arch.ops)

        def build_supernet(self, **kwargs):
            raise NotImplementedError("the toy space builds no network")

        def build_network(self, arch, **kwargs):
            raise NotImplementedError("the toy space builds no network")


def toy_space() -> base.SearchSpace:
    return base.get_space(TOY)
