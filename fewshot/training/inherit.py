"""Weight inheritance: start a sub-supernet from a trained parent supernet's weights.

Few-shot NAS (Zhao et al., 2021) trains the one-shot supernet first and initialises every
sub-supernet with its weights; GM-NAS warms the supernet up before each split. The framework
paper trains its leaves from scratch. :func:`inherit_weights` is the first protocol: every
tensor of the leaf (the ops its mask instantiated, the stem, the reductions, the classifier,
BatchNorm buffers) is copied from the parent; the parent's ops outside the leaf's mask are not
instantiated in the leaf, so they are simply absent. The leaf's own ``mask`` buffer (its
candidates) is kept. Anything the leaf has that the parent lacks is an error: the parent is
not a superset of the leaf, so the weights would be half inherited, half fresh.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import torch

from fewshot.models.supernet import Supernet

OWN_KEYS = frozenset({"mask"})
"""State-dict entries that describe the leaf itself, never copied from the parent."""


def inherit_weights(leaf: Supernet, parent_state: Mapping[str, torch.Tensor]) -> int:
    """Copy every tensor of ``leaf`` from ``parent_state`` (a parent supernet's state dict);
    the number of tensors copied. Raises ``ValueError`` when the parent lacks one or a shape
    differs (another C, N or class count)."""
    own = leaf.state_dict()
    missing = [k for k in own if k not in OWN_KEYS and k not in parent_state]
    if missing:
        raise ValueError(
            f"the parent supernet lacks {len(missing)} of the leaf's tensors (e.g. {missing[0]}): "
            "it must contain every op of the leaf's mask, with the same C, N and classes"
        )
    copied = {}
    for key, value in own.items():
        if key in OWN_KEYS:
            continue
        source = parent_state[key]
        if source.shape != value.shape:
            raise ValueError(
                f"{key}: parent shape {tuple(source.shape)} != leaf shape {tuple(value.shape)}; "
                "inherit only from a supernet of the same C, N and classes"
            )
        copied[key] = source
    leaf.load_state_dict(copied, strict=False)
    return len(copied)


def load_parent_state(path: Path) -> dict[str, torch.Tensor]:
    """A parent's ``weights.pt`` (as :func:`fewshot.training.trainer.save_weights` wrote it)."""
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no parent weights to inherit; train the parent first")
    return torch.load(path, map_location="cpu", weights_only=True)


__all__ = ["OWN_KEYS", "inherit_weights", "load_parent_state"]
