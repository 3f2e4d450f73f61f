"""Known-order fake data for the search tests (imported by conftest and tests)."""

from __future__ import annotations

import itertools

import numpy as np

from fewshot.spaces.nb201 import Arch

SMALL_OPS = ("skip_connect", "nor_conv_3x3")
"""The tiny benchmark's space: these two ops on every edge (64 archs)."""


def known_quality(arch: Arch) -> float:
    """A known order: 3x3 convs help, later edges a little more, 1x1 half as much."""
    weights = np.arange(1, 7) / 6.0
    conv3 = np.array([op == "nor_conv_3x3" for op in arch.ops], dtype=float)
    conv1 = np.array([op == "nor_conv_1x1" for op in arch.ops], dtype=float)
    return float(conv3 @ (1.0 + weights) + 0.5 * conv1 @ (1.0 + weights))


def small_entries() -> dict[str, dict[str, list[float]]]:
    entries = {}
    for ops in itertools.product(SMALL_OPS, repeat=6):
        arch = Arch(ops)
        q = known_quality(arch)
        entries[arch.to_string()] = {
            "cifar10": [80.0 + q],
            "cifar10-valid": [78.0 + q + 0.1 * (ops[0] == "skip_connect")],
            "cifar100": [50.0 + 2 * q],
            "ImageNet16-120": [20.0 + q],
        }
    return entries
