"""Gradient-saliency proxies of Abdelfattah et al. (zero-cost-nas).

grad_norm, snip and fisher reduce the one cross-entropy backward of the ``grads`` probe;
grasp adds one Hessian-vector product (probe ``grasp_hg``); synflow runs its own pass on a
BatchNorm-free, all-positive float64 copy (probe ``synflow``). All score Conv2d/Linear
weights only (no biases, no BN) and skip layers that did not run (disabled ops).
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from fewshot.metrics.base import (
    MetricError,
    MetricResult,
    ProbeCache,
    register_metric,
    register_probe,
    weight_layers,
)
from fewshot.metrics.probes import hessian_gradient_product as hessian_of_loss_grads
from fewshot.metrics.probes import sum_over_layers


@register_metric("grad_norm")
def grad_norm(cache: ProbeCache) -> MetricResult:
    """Sum over Conv/Linear layers of the L2 norm of the cross-entropy weight gradient.

    Settings (:mod:`fewshot.metrics.settings`): ``grad_target="logit_sum"`` differentiates the
    sum of logits instead; ``grad_layout="channel_rows"`` gives the Frobenius norm of the
    whole gradient matrix ``G`` (the framework paper's code) instead of the per-layer sum.
    """
    s = cache.settings
    if s.grad_layout == "channel_rows":
        wg = cache.get("weight_grads")
        per_layer = {n: float(g.norm()) for n, g in wg.layers.items()}
        return MetricResult("grad_norm", float(wg.matrix.double().norm()), per_layer)
    if s.grad_target == "logit_sum":
        grads = cache.get("weight_grads").layers
        per_layer = {n: float(g.norm()) for n, g in grads.items() if bool(g.any())}
    else:
        per_layer = {n: float(lg.grad.norm()) for n, lg in cache.get("grads").items()}
    return MetricResult("grad_norm", sum_over_layers(per_layer), per_layer)


@register_metric("snip")
def snip(cache: ProbeCache) -> MetricResult:
    """SNIP connection sensitivity: sum over Conv/Linear weights of ``|w * dL/dw|``."""
    layers = cache.get("grads")
    per_layer = {n: float((lg.weight * lg.grad).abs().sum()) for n, lg in layers.items()}
    return MetricResult("snip", sum_over_layers(per_layer), per_layer)


@register_metric("fisher")
def fisher(cache: ProbeCache) -> MetricResult:
    """Fisher information at each Conv/Linear output, summed as zero-cost-nas sums it.

    Per output channel ``k``: ``F_k = 0.5 * mean_n (sum_space a * dL/da)^2`` with ``a`` the
    layer output, as zero-cost-nas computes it at the identity op it hooks after every
    Conv2d/Linear (the classifier included). zero-cost-nas then broadcasts ``F_k`` over the
    channel's weights (``reshape_elements``) before summing, so each channel counts
    ``C_in * kh * kw`` times: the score is ``sum_k F_k * weight[k].numel()``. That factor
    changes the ranking (per-arch Spearman with the NAS-Bench-Suite-Zero values 0.944 without
    it, 0.972 with it); the plain channel sum is kept in ``extras["per_channel"]``.
    Recorded during the shared ``grads`` backward.
    """
    if not cache.wants("fisher"):
        raise MetricError(
            "fisher was not among the metrics this ProbeCache was made for, so its values were "
            "not recorded: create the cache with metrics=None or including 'fisher'"
        )
    layers = cache.get("grads")
    fishers = {n: lg for n, lg in layers.items() if lg.fisher is not None}
    per_layer = {n: float(lg.fisher.sum()) * lg.weight[0].numel() for n, lg in fishers.items()}
    per_channel = {n: float(lg.fisher.sum()) for n, lg in fishers.items()}
    return MetricResult(
        "fisher",
        sum_over_layers(per_layer),
        per_layer,
        extras={"per_channel": sum_over_layers(per_channel)},
    )


# -- grasp --------------------------------------------------------------------------------


@register_probe("grasp_hg")
def hessian_gradient_product(cache: ProbeCache) -> dict[str, Tensor]:
    """``H g`` per Conv/Linear weight: the cross-entropy Hessian times its gradient ``g``.

    zero-cost-nas: a first pass gives ``g`` without a graph (here: the ``grads`` probe, the
    same forward/backward); a second forward builds ``grad_f`` with ``create_graph``, and
    the gradient of ``z = sum(g * grad_f)`` (``g`` held constant) is ``H g``. Both passes
    compute the same forward and gradients, so a cache made for grasp takes ``H g`` from the
    first pass's graph (:func:`~fewshot.metrics.probes.first_batch_backward`); this second
    pass only runs for a cache serving any metric. Temperature 1,
    one split of the batch (their default ``split_data=1``). A weight with no second-order
    path gets zeros, as in zero-cost-nas.
    """
    first = cache.get("first_backward")
    if first.hessian_grad is not None:  # computed from the first backward's graph
        return first.hessian_grad
    g = first.layers
    torch.manual_seed(cache.seed)  # same draws as the grads pass (single-path sampling)
    net = cache.working_copy()
    modules = dict(net.named_modules())
    weights = [modules[n].weight for n in sorted(g)]
    x, y = cache.batch(0)
    loss = F.cross_entropy(net(x), y)
    grad_f = torch.autograd.grad(loss, weights, create_graph=True)
    return hessian_of_loss_grads(net, g, {id(w): gf for w, gf in zip(weights, grad_f, strict=True)})


@register_metric("grasp")
def grasp(cache: ProbeCache) -> MetricResult:
    """GraSP: sum over Conv/Linear weights of ``-w * (H g)``, with its sign (may be < 0)."""
    weights = cache.get("grads")
    hg = cache.get("grasp_hg")
    per_layer = {n: float((-weights[n].weight * h).sum()) for n, h in hg.items()}
    return MetricResult("grasp", sum_over_layers(per_layer), per_layer)


# -- synflow ------------------------------------------------------------------------------

SYNFLOW_RESCALE_LOG2 = 500
"""On float64 overflow, input and output are each scaled by ``2**-500`` (see :func:`synflow_pass`)."""


@dataclass(frozen=True)
class SynflowSaliency:
    """Per-weight synflow saliency ``|w * dR/dw|`` of every Conv/Linear layer that ran.

    Attributes:
        saliency: float64 tensors, *divided* by ``exp(log_scale)``.
        log_scale: natural log of that divisor: 0 unless float64 overflowed and the pass was
            rescaled (the true saliency is ``saliency * exp(log_scale)``).
    """

    saliency: dict[str, Tensor]
    log_scale: float


def batchnorm_free_copy(net: nn.Module) -> nn.Module:
    """A deep copy of ``net`` with every BatchNorm module replaced by ``nn.Identity``.

    zero-cost-nas rebuilds its NB201 model with ``bn=False`` for synflow, which drops the
    BN layers; replacing them by identities gives the same network here.
    """
    out = copy.deepcopy(net)
    for parent in list(out.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, nn.modules.batchnorm._BatchNorm):
                setattr(parent, name, nn.Identity())
    return out


def synflow_pass(
    net: nn.Module, image_shape: tuple[int, ...], log2_scale: int
) -> dict[str, Tensor]:
    """``|w * dR/dw|`` on ``net`` (already all-positive, in its dtype) for an input of ones.

    ``R = sum(outputs)``. With ``log2_scale = s > 0`` the input, every bias and ``R`` are
    multiplied by ``2**-s`` (biases only for this pass, on a copy): with all-positive weights
    and inputs every ReLU is the identity, so a network of Conv/Linear/ReLU/pooling layers is
    positively homogeneous in (input, biases), every activation scales by ``2**-s`` and each
    weight's saliency is exactly the true saliency times ``2**(-2 s)``, without overflow.
    """
    scale = 2.0**-log2_scale
    if log2_scale:
        net = copy.deepcopy(net)
        with torch.no_grad():
            for name, p in net.named_parameters():
                if name.rsplit(".", 1)[-1] == "bias":
                    p.mul_(scale)
    layers = [(n, m) for n, m in weight_layers(net)]
    weights = [m.weight for _, m in layers]
    device, dtype = weights[0].device, weights[0].dtype
    x = torch.full((1, *image_shape), scale, dtype=dtype, device=device)
    r = net(x).sum() * scale
    grads = torch.autograd.grad(r, weights, allow_unused=True)
    return {
        n: (w * g).abs().detach()
        for (n, _), w, g in zip(layers, weights, grads, strict=True)
        if g is not None
    }


def synflow_network(net: nn.Module, bn: str, dtype: torch.dtype) -> nn.Module:
    """The all-positive copy synflow differentiates.

    ``bn="identity"``: BatchNorm layers replaced by identities (zero-cost-nas), train mode.
    ``bn="keep"``: BatchNorm kept, in eval mode (running statistics), with every parameter
    *and* floating buffer replaced by its absolute value (the framework paper's code; on a
    fresh network BN is then nearly the identity). Either way a copy: ``net`` is untouched.
    """
    if bn == "identity":
        copy_ = batchnorm_free_copy(net).to(dtype).train()
    else:
        copy_ = copy.deepcopy(net).to(dtype).eval()
    with torch.no_grad():
        for p in copy_.parameters():
            p.abs_()
        if bn == "keep":
            for b in copy_.buffers():
                if b.is_floating_point():
                    b.abs_()
    for p in copy_.parameters():
        p.requires_grad_(True)
    return copy_


@register_probe("synflow")
def synflow_saliency(cache: ProbeCache) -> SynflowSaliency:
    """Synflow per-weight saliency: all-positive copy, input of ones, ``R = sum(logits)``.

    Default (zero-cost-nas): BN -> identity, float64, batch of one image of the data's size;
    if float64 overflows, the pass is repeated rescaled (exact, see :func:`synflow_pass`)
    and ``log_scale`` records the factor. ``settings.synflow_dtype`` / ``synflow_bn`` select
    the framework paper's float32 pass with BN kept; rescaling is only exact without BN, so
    that pass is not rescaled and may overflow (kept only with ``settings.keep_nonfinite``).
    """
    s = cache.settings
    dtype = torch.float64 if s.synflow_dtype == "float64" else torch.float32
    net = synflow_network(cache.net, s.synflow_bn, dtype)
    if not any(True for _ in weight_layers(net)):
        raise MetricError("synflow needs a network with Conv2d or Linear layers")
    shape = tuple(cache.data.inputs.shape[1:])
    rescales = (0, SYNFLOW_RESCALE_LOG2) if s.synflow_bn == "identity" else (0,)
    for log2_scale in rescales:
        torch.manual_seed(cache.seed)
        saliency = synflow_pass(net, shape, log2_scale)
        if all(torch.isfinite(t).all() for t in saliency.values()):
            return SynflowSaliency(saliency, 2 * log2_scale * math.log(2.0))
    if s.keep_nonfinite:
        return SynflowSaliency(saliency, 0.0)
    raise MetricError(
        f"synflow overflows {s.synflow_dtype}"
        + (" even after rescaling by 2**-1000" if len(rescales) > 1 else "")
        + "; the network is too deep or too wide for this setting (use float64 with BN removed)"
    )


def _synflow_sums(sal: SynflowSaliency) -> tuple[dict[str, float], float, dict[str, float], float]:
    """Per-layer and total synflow sums (true scale; inf when beyond float64) and their logs.

    float64 saliencies are summed in float64 (per layer, then over layers in name order);
    float32 ones as zero-cost-nas's code sums them: in float32, layer after layer in module
    order, so the total itself can overflow. Logs of 0 are ``-inf``; NaN stays NaN.
    """
    sums = {n: float(s.sum()) for n, s in sal.saliency.items()}

    def log(v: float) -> float:
        if math.isnan(v):
            return math.nan
        return (math.log(v) if v > 0 else -math.inf) + sal.log_scale

    logs = {n: log(v) for n, v in sums.items()}
    if any(t.dtype == torch.float32 for t in sal.saliency.values()):
        acc = torch.zeros((), dtype=torch.float32)
        for t in sal.saliency.values():
            acc = acc + t.sum().cpu()
        total = float(acc)
    else:
        total = sum_over_layers(sums)
    log_total = log(total)
    if sal.log_scale:  # back to the true scale
        sums = {n: _exp(v) for n, v in logs.items()}
        total = _exp(log_total)
    return sums, total, logs, log_total


def _exp(v: float) -> float:
    """``exp(v)``, ``inf`` beyond float64 (and 0 for ``-inf``)."""
    return math.exp(v) if v < math.log(torch.finfo(torch.float64).max) else math.inf


@register_metric("synflow", needs_data=False)
def synflow(cache: ProbeCache) -> MetricResult:
    """SynFlow: sum of ``|w * dR/dw|`` over Conv/Linear weights; ``extras["log"]`` its log.

    Values reach 1e30+ on NB201 (float64 holds up to ~1e308). A value beyond float64 raises
    :class:`MetricError` pointing to ``synflow_log``, which is always finite (unless
    ``settings.keep_nonfinite``: the float32 pass of the framework paper's code overflows to
    inf or NaN for conv candidates at NB201 size, and that value is returned as computed).
    """
    sums, total, _, log_total = _synflow_sums(cache.get("synflow"))
    if math.isinf(total) and not cache.settings.keep_nonfinite:
        raise MetricError(
            f"synflow = exp({log_total:.1f}) exceeds float64; use metric 'synflow_log' instead"
        )
    return MetricResult("synflow", total, sums, {"log": log_total})


@register_metric("synflow_log", needs_data=False)
def synflow_log(cache: ProbeCache) -> MetricResult:
    """Natural log of synflow (same ranking; finite where synflow overflows float64)."""
    _, _, logs, log_total = _synflow_sums(cache.get("synflow"))
    if log_total == -math.inf:
        raise MetricError("synflow is 0 (no path from input to output): its log is undefined")
    return MetricResult("synflow_log", log_total, logs)
