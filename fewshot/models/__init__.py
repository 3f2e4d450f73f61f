"""Plain ``nn.Module`` models: what a space's architectures are built as.

Here live the NB201 ops (:mod:`~fewshot.models.ops`, layer for layer as the benchmark's code),
the maskable supernet and standalone NB201 networks as one-arch supernets
(:mod:`~fewshot.models.supernet`), NAS-Bench-Macro's chain supernet and standalone networks
with their benchmark-exact parameter and FLOPs counts (:mod:`~fewshot.models.macro`), weight
initialisation schemes (:mod:`~fewshot.models.init`) and AnyNet's modules with their pycls complexity count (:mod:`~fewshot.models.anynet`). May
import torch and :mod:`fewshot.spaces` (the NB201 encoding, AnyNet's stage specs) and the
plumbing below; never metrics, data or anything above. The one edge back up is declared in
``.importlinter``: ``AnyNetConfig.build()`` imports :mod:`fewshot.models.anynet` when called.
"""

from fewshot.models.supernet import MODES, Supernet, build_network, load_shared_weights

__all__ = ["MODES", "Supernet", "build_network", "load_shared_weights"]
