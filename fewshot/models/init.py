"""Weight initialisation schemes for the supernet (part of a splitting recipe).

The scheme changes every metric value of a fresh network, so the recipes name theirs:

- ``pytorch``: PyTorch's default per-layer initialisation (what the modules do on
  construction; zero-cost-nas's setting).
- ``kaiming_fan_out``: Conv2d/Linear weights ``kaiming_normal_(mode="fan_out",
  nonlinearity="relu")``, biases 0, BatchNorm weight 1 and bias 0 (the framework paper's code).
"""

from __future__ import annotations

from torch import nn

INIT_SCHEMES: tuple[str, ...] = ("pytorch", "kaiming_fan_out")


def initialize(net: nn.Module, scheme: str) -> nn.Module:
    """Re-initialise ``net`` in place with ``scheme`` (uses torch's global RNG); returns it."""
    if scheme not in INIT_SCHEMES:
        raise ValueError(f"unknown init scheme {scheme!r}; known: {list(INIT_SCHEMES)}")
    if scheme == "pytorch":
        return net
    for m in net.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.modules.batchnorm._BatchNorm) and m.affine:
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
    return net


__all__ = ["INIT_SCHEMES", "initialize"]
