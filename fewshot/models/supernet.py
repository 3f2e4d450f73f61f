"""The maskable cell supernet (NAS-Bench-201's network), and standalone networks as one-arch
supernets.

A sub-supernet is this module plus a :class:`~fewshot.spaces.base.Mask` of enabled ops (a buffer
shared by every cell, saved with the weights). The cell's edges and ops come from the mask's
space (a :class:`~fewshot.spaces.cell.CellSpace`: NB201, or TransNAS-Bench-101 micro's 4-op
cell), so one module serves every cell space; ``space.build_supernet`` builds it. ``candidates`` fixes which ops are
*instantiated*; the mask may be any sub-mask of it and can change at run time
(:meth:`Supernet.set_mask`). A standalone network is a supernet whose candidates are a single
arch (:func:`build_network`): its layers and parameter count equal the benchmark's model, and
its ``state_dict`` keys are a subset of the full supernet's, so weights move between them.

Forward modes:
- ``mixture``: each edge outputs the mean of its enabled ops (one-shot superposition).
- ``single_path``: each edge uses one op; pass ``arch`` to ``forward`` or let it sample one
  uniformly inside the mask (one draw per forward, shared by all cells).

The ``none`` op contributes zero: it is skipped rather than computed as ``x * 0`` (same
values and gradients, less work), but it still counts in the mixture's mean.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from fewshot.models.maskable import MODES, MaskableSupernet, Mode, PositionOps
from fewshot.models.ops import ResNetBasicBlock, build_op
from fewshot.spaces.base import Arch, Mask, get_space
from fewshot.spaces.cell import CellSpace
from fewshot.spaces.nb201 import OPS

EdgeOps = PositionOps


class MixedEdge(nn.Module):
    """One cell edge holding its candidate ops, keyed by op name."""

    def __init__(
        self, C: int, candidates: tuple[str, ...], *, affine: bool, track_running_stats: bool
    ) -> None:
        super().__init__()
        self.ops = nn.ModuleDict(
            {
                name: build_op(name, C, affine=affine, track_running_stats=track_running_stats)
                for name in candidates
            }
        )

    def forward(self, x: Tensor, ops: tuple[str, ...]) -> Tensor | None:
        """Mean of ``ops`` applied to ``x``; ``None`` when every op is ``none`` (all zero)."""
        outs = [self.ops[name](x) for name in ops if name != "none"]
        if not outs:
            return None
        total = outs[0]
        for out in outs[1:]:  # same bits as torch.stack(outs).sum(0), ~8% faster, less memory
            total = total + out
        return total if len(ops) == 1 else total / len(ops)


class MaskedCell(nn.Module):
    """A cell of a cell space (NB201: 4 nodes, 6 edges) whose edges run the ops they are told to."""

    def __init__(
        self, C: int, candidates: Mask, *, affine: bool, track_running_stats: bool
    ) -> None:
        super().__init__()
        space = candidates.space
        self.cell_edges, self.num_nodes = space.edges, space.num_nodes
        self.edges = nn.ModuleList(
            MixedEdge(C, candidates.ops(e), affine=affine, track_running_stats=track_running_stats)
            for e in range(space.num_positions)
        )

    def forward(self, x: Tensor, edge_ops: EdgeOps) -> Tensor:
        nodes = [x]
        for to_node in range(1, self.num_nodes):
            parts = [
                self.edges[e](nodes[src], edge_ops[e])
                for e, (dst, src) in enumerate(self.cell_edges)
                if dst == to_node
            ]
            parts = [p for p in parts if p is not None]
            nodes.append(sum(parts[1:], parts[0]) if parts else torch.zeros_like(x))
        return nodes[-1]


class Supernet(MaskableSupernet):
    """Cell supernet (NB201's network): stem, 3 stages of ``N`` cells (C, 2C, 4C), 2 reduction
    blocks, head.

    Args:
        C: channels of the first stage (NB201: 16).
        N: cells per stage (NB201: 5).
        num_classes: classifier outputs.
        candidates: ops to instantiate per edge (default: all of NB201). The initial mask; its
            space (a cell space) gives the cell's edges.
        mode: ``"mixture"`` or ``"single_path"`` (see module docstring).
        affine, track_running_stats: BatchNorm options (the benchmark uses both).
    """

    body_prefix = "cells."
    """Name prefix of the parameters between stem and head (cells and reduction blocks): what
    GM-NAS's gradient matching compares (metric ``gm_cells``)."""

    def __init__(
        self,
        *,
        C: int = 16,
        N: int = 5,
        num_classes: int = 10,
        candidates: Mask | None = None,
        mode: Mode = "mixture",
        affine: bool = True,
        track_running_stats: bool = True,
    ) -> None:
        super().__init__()
        if C < 1 or N < 1 or num_classes < 1:
            raise ValueError(f"C, N and num_classes must be positive, got {C}, {N}, {num_classes}")
        self.C, self.N, self.num_classes = C, N, num_classes
        candidates = candidates if candidates is not None else get_space("nb201").full_mask()
        if not isinstance(candidates.space, CellSpace):
            raise ValueError(f"Supernet builds cell spaces, not {candidates.space.name!r}")
        self._init_mask(candidates, mode)
        bn = {"affine": affine, "track_running_stats": track_running_stats}
        self.stem = nn.Sequential(nn.Conv2d(3, C, 3, padding=1, bias=False), nn.BatchNorm2d(C))
        self.cells = nn.ModuleList()
        C_prev = C
        for stage in range(3):
            C_stage = C * 2**stage
            if stage > 0:
                self.cells.append(ResNetBasicBlock(C_prev, C_stage, **bn))
            for _ in range(N):
                self.cells.append(MaskedCell(C_stage, self.candidates, **bn))
            C_prev = C_stage
        self.lastact = nn.Sequential(nn.BatchNorm2d(C_prev), nn.ReLU(inplace=True))
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(C_prev, num_classes)
        self._register_mask()

    # -- forward ------------------------------------------------------------------------
    def forward(self, x: Tensor, arch: Arch | None = None) -> Tensor:
        """Logits for images ``x`` (N, 3, H, W); ``arch`` forces that single path."""
        edge_ops = self.position_ops(arch)
        out = self.stem(x)
        for cell in self.cells:
            out = cell(out, edge_ops) if isinstance(cell, MaskedCell) else cell(out)
        out = self.global_pooling(self.lastact(out)).flatten(1)
        return self.classifier(out)


def build_network(
    arch: Arch | str,
    *,
    C: int = 16,
    N: int = 5,
    num_classes: int = 10,
    affine: bool = True,
    track_running_stats: bool = True,
) -> Supernet:
    """The standalone network of ``arch`` (an NB201 arch string, or an arch of any cell space):
    only its ops are instantiated (benchmark layout)."""
    arch = get_space("nb201").arch_type.from_string(arch) if isinstance(arch, str) else arch
    return Supernet(
        C=C,
        N=N,
        num_classes=num_classes,
        candidates=type(arch).space.mask_type.from_arch(arch),
        affine=affine,
        track_running_stats=track_running_stats,
    )


def load_shared_weights(target: Supernet, source: Supernet) -> None:
    """Copy ``source``'s weights into ``target`` for every parameter/buffer name they share."""
    src = source.state_dict()
    own = target.state_dict()
    missing = [k for k in own if k not in src and k != "mask"]
    if missing:
        raise ValueError(f"source lacks {len(missing)} of the target's tensors, e.g. {missing[:3]}")
    target.load_state_dict({k: (own[k] if k == "mask" else src[k]) for k in own})


__all__ = [
    "MODES",
    "OPS",
    "MaskedCell",
    "MixedEdge",
    "Supernet",
    "build_network",
    "load_shared_weights",
]
