"""The contract every space's supernet keeps: a mask of enabled ops, two forward modes, sampling.

A supernet of any space (:mod:`fewshot.models.supernet` for cell spaces,
:mod:`fewshot.models.macro` for NAS-Bench-Macro's chain) derives from
:class:`MaskableSupernet`, so everything above the models (splitting, metrics, training,
search) drives each the same way:

- ``candidates``: the ops instantiated per position (a :class:`~fewshot.spaces.base.Mask` of
  the supernet's ``space``); the current mask (``search_mask``, a buffer saved with the
  weights) is any sub-mask of it and changes at run time (:meth:`set_mask`);
- ``mode``: ``"mixture"`` (each position outputs the mean of its enabled ops: the one-shot
  superposition) or ``"single_path"`` (one op per position: given to ``forward`` as ``arch``,
  or drawn uniformly inside the mask, one draw per forward shared by all repeats of a position);
- :meth:`position_ops`: which ops each position runs in the next forward;
- ``body_prefix``: the name prefix of the parameters of the searchable positions (what
  gradient matching compares).

A subclass builds its layers between :meth:`_init_mask` and :meth:`_register_mask` (the mask
buffer is registered last, so ``state_dict`` order is the layers', then ``mask``).
"""

from __future__ import annotations

from typing import ClassVar, Literal

import torch
from torch import nn

from fewshot.spaces.base import Arch, Mask, SearchSpace

Mode = Literal["mixture", "single_path"]
MODES: tuple[str, ...] = ("mixture", "single_path")
PositionOps = tuple[tuple[str, ...], ...]
"""The ops each position runs in one forward, in position order."""


class MaskableSupernet(nn.Module):
    """Base of every space's supernet: the mask, the modes, uniform path sampling."""

    body_prefix: ClassVar[str] = ""
    """Name prefix of the searchable positions' parameters (``"cells."``, ``"layers."``)."""
    candidates: Mask
    space: SearchSpace

    def _init_mask(self, candidates: Mask, mode: Mode) -> None:
        """Record the instantiated ops (and so the space) and the forward mode."""
        self.candidates = candidates
        self.space = candidates.space
        self.mode = mode

    def _register_mask(self) -> None:
        """The mask buffer (saved with the weights) and its cached value; call last."""
        self.register_buffer("mask", torch.as_tensor(self.candidates.to_array()))
        self._mask_value = self.candidates
        self.register_load_state_dict_post_hook(_refresh_mask_cache)

    # -- mask ---------------------------------------------------------------------------
    @property
    def mode(self) -> Mode:
        return self._mode

    @mode.setter
    def mode(self, mode: Mode) -> None:
        if mode not in MODES:
            raise ValueError(f"unknown supernet mode {mode!r}; expected one of {MODES}")
        self._mode = mode

    @property
    def search_mask(self) -> Mask:
        """The current mask (which ops are enabled), as a :class:`Mask` value."""
        return self._mask_value

    def set_mask(self, mask: Mask) -> None:
        """Enable exactly the ops of ``mask`` (must be a sub-mask of ``candidates``)."""
        if not mask.is_subset_of(self.candidates):
            raise ValueError(
                f"mask {mask} enables ops this supernet did not instantiate ({self.candidates})"
            )
        self.mask.copy_(torch.as_tensor(mask.to_array()))
        self._mask_value = mask

    # -- paths --------------------------------------------------------------------------
    def sample_arch(self, generator: torch.Generator | None = None) -> Arch:
        """Draw an arch uniformly from the mask (one op per position, independently)."""
        ops = []
        for position in range(self.space.num_positions):
            enabled = self._mask_value.ops(position)
            ops.append(enabled[int(torch.randint(len(enabled), (1,), generator=generator))])
        return self.space.arch(ops)

    def position_ops(self, arch: Arch | None = None) -> PositionOps:
        """The ops each position runs in the next forward for ``arch`` (or the current mode)."""
        if arch is None and self._mode == "single_path":
            arch = self.sample_arch()
        if arch is None:
            mask = self._mask_value
            return tuple(mask.ops(p) for p in range(self.space.num_positions))
        if arch not in self._mask_value:
            raise ValueError(f"arch {arch} is outside the supernet's mask {self._mask_value}")
        return tuple((op,) for op in arch.ops)

    def extra_repr(self) -> str:
        return f"C={self.C}, N={self.N}, mode={self._mode}, mask={self._mask_value}"


def _refresh_mask_cache(module: nn.Module, incompatible_keys: object) -> None:
    module._mask_value = module.space.mask_type(module.mask.detach().cpu().numpy().astype(bool))


__all__ = ["MODES", "MaskableSupernet", "Mode", "PositionOps"]
