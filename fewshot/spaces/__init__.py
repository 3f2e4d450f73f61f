"""Search spaces beside NAS-Bench-201.

- :mod:`fewshot.spaces.anynet`: pycls's AnyNet for CIFAR (Radosavovic et al.), the design
  space that da Silva et al. refine with zero-cost predictors (SPEC section 8): a frozen
  :class:`~fewshot.spaces.anynet.AnyNetConfig` value, its plain ``nn.Module`` and its
  complexity count.
- :mod:`fewshot.spaces.anynet_sampling`: the space's hyperparameter ranges, seeded sampling
  with FLOPs-range rejection, and subspace sizes.

- :mod:`fewshot.spaces.nb201`: the NAS-Bench-201 space (op order, edges, ``Arch``, ``Mask``,
  index conversion), its one canonical encoding.
"""
