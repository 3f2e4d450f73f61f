"""A test-only search space, unlike NB201 in every number: a 3-node cell (3 edges) with 3 ops
and no zero op (27 archs), small default network (C=4, N=1).

Importing this module registers it as ``--space test-tiny``, so the tests that import it show
that splitting, scoring and the commands take any registered space, not NB201's constants.
"""

from __future__ import annotations

from fewshot.spaces import base
from fewshot.spaces.base import register_space
from fewshot.spaces.cell import CellSpace

NAME = "test-tiny"
OPS = ("skip_connect", "nor_conv_1x1", "avg_pool_3x3")


class TinyArch(base.Arch):
    """An arch of the tiny space."""


class TinyMask(base.Mask):
    """A mask of the tiny space (3 edges x 3 ops)."""


if NAME not in base.space_names():

    @register_space(NAME)
    class TinySpace(CellSpace):
        """3 edges ((1,0), (2,0), (2,1)) x 3 ops; builders: the cell supernet."""

        description = "test-only 3-edge cell with 3 ops"
        ops = OPS
        edges = ((1, 0), (2, 0), (2, 1))
        num_nodes = 3
        zero_op = None
        parametric_ops = frozenset({"nor_conv_1x1"})
        op_labels = {"skip_connect": "skip", "nor_conv_1x1": "conv", "avg_pool_3x3": "pool"}
        arch_type = TinyArch
        mask_type = TinyMask
        model_defaults = {"C": 4, "N": 1}


SPACE = base.get_space(NAME)
