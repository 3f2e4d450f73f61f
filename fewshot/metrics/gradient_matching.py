"""Gradient matching (GM-NAS, Hu et al. ICLR 2022): a pairwise distance between candidates.

Candidates are networks that differ in one edge's op but share initial weights and batches
(the sub-supernets of a split). Per batch, each candidate's cross-entropy gradient with
respect to the *shared* weights is flattened into one vector; the distance is

    D[i, j] = 1 - mean over batches of cos(g_i, g_j)

Choices, checked against GM-NAS (``WS-GM/nasbench201``: ``split_supernet``,
``get_split_gradients``, ``match_loss(dis_metric="cos")``):
- One vector per candidate: all shared gradients flattened and concatenated (their ``cos``),
  not a per-filter cosine; distances averaged over batches, as they average over repeats.
- Shared weights (``gm``): every parameter, BN affine included, that exists in every
  candidate under the same name and got a gradient in every candidate and batch. The split
  edge's ops run in one candidate only, so they drop out, as in ``get_split_gradients``.
  GM-NAS also leaves out the stem and the head (it reads ``model.cells`` only); ``gm_cells``
  follows that exactly: the parameters under the network's ``body_prefix``, the name prefix
  a supernet declares for its body between stem and head (the cell supernet: ``cells.``, its
  cells and the reduction blocks between them, as GM-NAS's ``model.cells``).
- Exact cosine (no ``1e-6`` in the denominator, which GM-NAS adds): identical candidates are
  at distance 0. A candidate whose shared gradient is exactly zero has no direction: error.
- BN in train mode, one forward/backward per batch and candidate (probe ``batch_grads``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor, nn

from fewshot.metrics.base import MetricError, ProbeCache, register_metric
from fewshot.metrics.probes import BatchGrads


def shared_names(grads: Sequence[BatchGrads], prefix: str = "") -> list[str]:
    """Parameter names with a gradient in every candidate and every batch (sorted)."""
    sets = [set(batch) for g in grads for batch in g.grads]
    return sorted(n for n in set.intersection(*sets) if n.startswith(prefix))


def batch_cosines(vectors: Tensor) -> Tensor:
    """Cosine-similarity matrix (n x n, float64) between the rows of ``vectors``."""
    v = vectors.double()
    norms = v.norm(dim=1)
    if bool((norms == 0).any()):
        zero = [int(i) for i in torch.nonzero(norms == 0).flatten()]
        raise MetricError(
            f"gm: candidates {zero} have an all-zero gradient on the shared weights, so their "
            "gradient direction is undefined (a dead network?)"
        )
    unit = v / norms[:, None]
    return (unit @ unit.T).clamp(-1.0, 1.0)


def gradient_matching_distance(grads: Sequence[BatchGrads], prefix: str = "") -> np.ndarray:
    """``1 - mean_b cos(g_i, g_j)`` over the shared parameters (names under ``prefix``)."""
    if len(grads) < 2:
        raise MetricError(f"gm compares candidates: give at least 2, got {len(grads)}")
    if len({len(g.grads) for g in grads}) != 1:
        raise MetricError("gm: every candidate must see the same batches")
    names = shared_names(grads, prefix)
    if not names:
        raise MetricError(
            f"gm: the candidates share no parameter (name prefix {prefix!r}) that got a "
            "gradient in all of them; were they built from the same supernet?"
        )
    cosines = []
    for b in range(len(grads[0].grads)):
        rows = [torch.cat([g.grads[b][n].reshape(-1) for n in names]) for g in grads]
        cosines.append(batch_cosines(torch.stack(rows)))
    dist = (1.0 - torch.stack(cosines).mean(0)).cpu().numpy()
    dist = np.clip((dist + dist.T) / 2.0, 0.0, 2.0)
    np.fill_diagonal(dist, 0.0)
    return dist


def matrix_matching_distance(matrices: Sequence[Tensor]) -> np.ndarray:
    """``1 - cos`` of the flattened weight-gradient matrices ``G`` (the paper's code's gm).

    Every candidate's ``G`` covers every Conv2d/Linear weight of the supernet (zeros for the
    ops a candidate disables), so all have the same length.
    """
    if len(matrices) < 2:
        raise MetricError(f"gm compares candidates: give at least 2, got {len(matrices)}")
    if len({m.numel() for m in matrices}) != 1:
        raise MetricError("gm: the candidates' gradient matrices differ in size")
    cos = batch_cosines(torch.stack([m.reshape(-1) for m in matrices]))
    dist = (1.0 - cos).cpu().numpy()
    dist = np.clip((dist + dist.T) / 2.0, 0.0, 2.0)
    np.fill_diagonal(dist, 0.0)
    return dist


@register_metric("gm", kind="pairwise")
def gm(caches: Sequence[ProbeCache]) -> np.ndarray:
    """Gradient matching: 1 - mean cosine of the shared-weight gradients, per pair.

    With ``settings.grad_layout == "channel_rows"`` (the framework paper's code): ``1 - cos``
    of the flattened weight-gradient matrices ``G`` (one batch; target per
    ``settings.grad_target``).
    """
    if caches and caches[0].settings.grad_layout == "channel_rows":
        return matrix_matching_distance([c.get("weight_grads").matrix for c in caches])
    return gradient_matching_distance([c.get("batch_grads") for c in caches])


def body_prefix(net: nn.Module) -> str:
    """The name prefix of ``net``'s body (cells or searchable layers, no stem or head): the
    ``body_prefix`` its supernet class declares; a network without one cannot say."""
    prefix = getattr(net, "body_prefix", None)
    if not isinstance(prefix, str) or not prefix:
        raise MetricError(
            f"gm_cells compares the body's weights, but {type(net).__name__} declares no "
            "body_prefix (the name prefix of its cells or searchable layers); use gm"
        )
    return prefix


@register_metric("gm_cells", kind="pairwise")
def gm_cells(caches: Sequence[ProbeCache]) -> np.ndarray:
    """Gradient matching on the body's shared weights only (GM-NAS's exact set, no stem/head)."""
    prefix = body_prefix(caches[0].net) if caches else ""
    return gradient_matching_distance([c.get("batch_grads") for c in caches], prefix=prefix)
