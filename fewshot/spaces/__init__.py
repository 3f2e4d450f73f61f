"""Search-space values: what an architecture is, before any network is built.

- :mod:`fewshot.spaces.nb201`: the NAS-Bench-201 space (op order, edges, ``Arch``, ``Mask``,
  index conversion), its one canonical encoding: nothing else defines the op order.
- :mod:`fewshot.spaces.anynet`: pycls's AnyNet for CIFAR (Radosavovic et al.), the design
  space that da Silva et al. refine with zero-cost predictors (SPEC section 8): the frozen
  :class:`~fewshot.spaces.anynet.AnyNetConfig` value and its stage specs (its ``nn.Module`` s
  and complexity count are :mod:`fewshot.models.anynet`).
- :mod:`fewshot.spaces.anynet_sampling`: the space's hyperparameter ranges, seeded sampling
  with FLOPs-range rejection, and subspace sizes.

May import numpy and the plumbing below (errors); never torch at import, models or anything
above, except the one edge declared in ``.importlinter``: ``AnyNetConfig.build()`` and
``.complexity()`` import :mod:`fewshot.models.anynet` when called.
"""
