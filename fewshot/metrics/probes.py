"""Shared passes (probes) that several metrics reduce in different ways."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from fewshot.metrics.base import (
    MetricError,
    ProbeCache,
    clear_grads,
    register_probe,
    weight_layers,
)


@dataclass(frozen=True)
class LayerGrad:
    """Weight and cross-entropy gradient of one Conv2d/Linear layer (detached copies).

    ``fisher`` is the layer's per-output-channel Fisher information (zero-cost-nas): for the
    layer output ``a`` (N, C, ...) and its loss gradient ``g``, ``0.5 * mean_n (sum_space
    a * g)^2``, summed over the calls of the layer in the forward.
    """

    weight: Tensor
    grad: Tensor
    fisher: Tensor | None = None


@dataclass(frozen=True)
class FirstBatchBackward:
    """Everything one cross-entropy backward on batch 0 yields, for every probe that needs it.

    ``layers``: Conv2d/Linear weights, gradients and Fisher values (the ``grads`` probe);
    ``params``: the gradient of every parameter (batch 0 of ``batch_grads``); ``rng_state``:
    torch's RNG state after the pass, so a probe continuing with batch 1 draws exactly what it
    would have drawn had it run batch 0 itself (single-path sampling).
    """

    layers: dict[str, LayerGrad]
    params: dict[str, Tensor]
    rng_state: Tensor


@register_probe("first_backward")
def first_batch_backward(cache: ProbeCache) -> FirstBatchBackward:
    """One cross-entropy forward/backward on the main batch (BN per ``settings.bn_mode``)."""
    net = cache.working_copy()
    x, y = cache.batch(0)
    recording = record_fisher(net) if cache.wants("fisher") else nullcontext({})
    with recording as fisher:  # Fisher hooks cost ~15% of the pass: only when asked for
        loss = F.cross_entropy(net(x), y)
        loss.backward()
    layers = {
        name: LayerGrad(m.weight.detach().clone(), m.weight.grad.detach().clone(), fisher.get(name))
        for name, m in weight_layers(net)
        if m.weight.grad is not None
    }
    params = {n: p.grad.detach().clone() for n, p in net.named_parameters() if p.grad is not None}
    clear_grads(net)
    return FirstBatchBackward(layers, params, torch.get_rng_state())


@register_probe("grads")
def cross_entropy_grads(cache: ProbeCache) -> dict[str, LayerGrad]:
    """One cross-entropy forward/backward on the main batch (BN per ``settings.bn_mode``).

    Returns the weight and gradient of every Conv2d/Linear layer that ran (layers of disabled
    ops get no gradient and are skipped), keyed by module name.
    """
    return cache.get("first_backward").layers


@contextmanager
def record_fisher(net: nn.Module) -> Iterator[dict[str, Tensor]]:
    """Record per-channel Fisher information at every Conv2d/Linear output during backward.

    Forward hooks attach a gradient hook to each layer output (what zero-cost-nas reads from
    the identity op it inserts after each Conv2d/Linear). Values are only observed: the
    forward and backward are unchanged. Yields ``{layer name: (C_out,) tensor}``, filled
    as the backward runs.
    """
    fisher: dict[str, Tensor] = {}

    def on_forward(name: str):
        def hook(module: nn.Module, inputs: object, output: Tensor) -> None:
            if not (isinstance(output, Tensor) and output.requires_grad):
                return
            act = output.detach()

            def on_grad(grad: Tensor) -> None:
                prod = act * grad.detach()
                g_nk = prod.sum(dim=tuple(range(2, prod.ndim))) if prod.ndim > 2 else prod
                del_k = 0.5 * g_nk.pow(2).mean(0)
                fisher[name] = fisher[name] + del_k if name in fisher else del_k

            output.register_hook(on_grad)

        return hook

    handles = [m.register_forward_hook(on_forward(n)) for n, m in weight_layers(net)]
    try:
        yield fisher
    finally:
        for h in handles:
            h.remove()


@dataclass(frozen=True)
class BatchGrads:
    """Per-batch cross-entropy gradients of every parameter that got one (detached copies).

    ``grads[b][name]`` is the gradient of parameter ``name`` (``net.named_parameters()``
    names) on batch ``b``; a parameter that took no part in batch ``b``'s forward is absent.
    ``layers`` names the network's Conv2d/Linear modules.
    """

    grads: tuple[dict[str, Tensor], ...]
    layers: tuple[str, ...]

    def layer_weights(self) -> dict[str, Tensor]:
        """Conv/Linear weight gradients stacked over batches: ``{layer: (B, *w.shape)}``.

        Only layers with a weight gradient in every batch are kept.
        """
        keys = {layer: f"{layer}.weight" if layer else "weight" for layer in self.layers}
        return {
            layer: torch.stack([g[keys[layer]] for g in self.grads])
            for layer in sorted(self.layers)
            if all(keys[layer] in g for g in self.grads)
        }


@register_probe("batch_grads")
def per_batch_grads(cache: ProbeCache) -> BatchGrads:
    """One cross-entropy forward/backward per batch (BN per ``settings.bn_mode``), all parameters.

    zico reduces the Conv/Linear weight gradients across batches; gm compares candidates'
    gradients batch by batch. When the ``first_backward`` pass has run (any gradient
    metric asked for in the same call), its batch-0 gradients are reused.
    """
    net = cache.working_copy()
    grads = []
    batches = cache.batches()
    if cache.has("first_backward"):  # batch 0 is that pass: reuse it (identical values)
        first = cache.get("first_backward")
        grads.append(first.params)
        torch.set_rng_state(first.rng_state)
        batches = batches[1:]
    for x, y in batches:
        F.cross_entropy(net(x), y).backward()
        grads.append(
            {n: p.grad.detach().clone() for n, p in net.named_parameters() if p.grad is not None}
        )
        clear_grads(net)
    return BatchGrads(tuple(grads), tuple(name for name, _ in weight_layers(net)))


def sum_over_layers(values: dict[str, float]) -> float:
    """Sum of per-layer values in a fixed (name) order, for reproducible float sums."""
    return float(sum(values[k] for k in sorted(values)))


# -- activation pass (jacob_cov, naswot, tcet) ---------------------------------------------


@dataclass(frozen=True)
class ActivationPass:
    """What one train-mode forward/backward on the main batch yields for activation metrics.

    Attributes:
        relu_kernels: per ``nn.ReLU`` module (first call only), the NASWOT kernel
            ``K = c c^T + (1-c)(1-c)^T`` of the binary codes ``c = input > 0`` (B x B, float64).
        layer_kernels: the same kernel for the codes ``output > 0`` of every Conv2d/Linear
            layer that ran (T-CET's layer-wise NASWOT), keyed by module name.
        input_jacobian: ``d(sum of logits)/d(input)`` per sample, flattened (B x D, float64).
    """

    relu_kernels: dict[str, np.ndarray]
    layer_kernels: dict[str, np.ndarray]
    input_jacobian: np.ndarray


def binary_code_kernel(active: Tensor) -> np.ndarray:
    """NASWOT kernel of binary codes: ``K_ij`` = number of units on which samples i, j agree.

    ``active`` is a boolean (B, ...) tensor. With ``s = 2c - 1``, ``K = (D + s s^T) / 2``,
    which equals ``c c^T + (1-c)(1-c)^T`` exactly (integers below 2^24 in float32).
    """
    s = active.reshape(active.shape[0], -1).to(torch.float32) * 2 - 1
    return ((s.shape[1] + s @ s.T) / 2).double().cpu().numpy()


@register_probe("activations")
def activation_pass(cache: ProbeCache) -> ActivationPass:
    """One forward on the main batch (BN per ``settings.bn_mode``) with hooks, then ``d sum(logits)/dx``.

    ReLU codes are taken on each ReLU's input (``> 0``), each ReLU module counted once, as in
    NASWOT (Mellor et al.); Conv/Linear codes on each layer's own output, as in T-CET's
    layer-wise NASWOT. The input Jacobian is the one of zero-cost-nas's ``jacob_cov``.
    """
    net = cache.working_copy()
    relu: dict[str, np.ndarray] = {}
    layers: dict[str, np.ndarray] = {}

    def relu_hook(name: str):
        def hook(module: nn.Module, inputs: tuple[Tensor, ...], output: Tensor) -> None:
            if name not in relu:
                relu[name] = binary_code_kernel(inputs[0].detach() > 0)

        return hook

    def layer_hook(name: str):
        def hook(module: nn.Module, inputs: tuple[Tensor, ...], output: Tensor) -> None:
            layers[name] = binary_code_kernel(output.detach() > 0)

        return hook

    handles = [m.register_forward_hook(relu_hook(n)) for n, m in _relus(net)]
    handles += [m.register_forward_hook(layer_hook(n)) for n, m in weight_layers(net)]
    x = cache.batch(0)[0].detach().clone().requires_grad_(True)
    try:
        logits = net(x)
    finally:
        for h in handles:
            h.remove()
    (jac,) = torch.autograd.grad(logits.sum(), x, allow_unused=True)
    if jac is None:  # a network that ignores its input (all-'none' paths): zero Jacobian
        jac = torch.zeros_like(x)
    clear_grads(net)
    jacobian = jac.reshape(jac.shape[0], -1).double().cpu().numpy()
    return ActivationPass(relu, layers, jacobian)


def _relus(net: nn.Module) -> list[tuple[str, nn.Module]]:
    return [(n, m) for n, m in net.named_modules() if isinstance(m, nn.ReLU)]


__all__ = [
    "ActivationPass",
    "BatchGrads",
    "FirstBatchBackward",
    "LayerGrad",
    "WeightGradients",
    "activation_pass",
    "binary_code_kernel",
    "cross_entropy_grads",
    "first_batch_backward",
    "gradient_rows",
    "per_batch_grads",
    "record_fisher",
    "sum_over_layers",
    "weight_gradients",
]


# -- weight-gradient matrix (the framework paper's code: grad_norm, jacob_cov, ntk, gm) -----


@dataclass(frozen=True)
class WeightGradients:
    """The gradient of ``settings.grad_target`` for every Conv2d/Linear weight of the network.

    Attributes:
        layers: ``{layer name: gradient}`` in module order; a weight that did not run (a
            disabled op) gets zeros, since the target does not depend on it.
        rows: rows of the gradient matrix (:func:`gradient_rows`).
    """

    layers: dict[str, Tensor]
    rows: int

    @cached_property
    def matrix(self) -> Tensor:
        """``G``: each gradient reshaped to ``rows`` rows, concatenated column-wise.

        ``rows x P / rows``, as the framework paper's code lays it out. Built on first use
        only, so the per-layer form (``grad_target="logit_sum"`` with the ``layers`` layout)
        works on networks whose weights do not divide into ``rows`` rows.
        """
        bad = [n for n, g in self.layers.items() if g.numel() % self.rows]
        if bad:
            raise MetricError(
                f"the channel_rows gradient layout reshapes every weight to {self.rows} rows, "
                f"but {bad[:3]} have sizes not divisible by {self.rows}; use grad_layout='layers'"
            )
        return torch.cat([g.reshape(self.rows, -1) for g in self.layers.values()], dim=1)


def gradient_rows(net: nn.Module) -> int:
    """Rows of ``G``: the network's first-stage width ``C`` (16 for NB201), else 16.

    Every Conv2d/Linear weight of an NB201 supernet has a multiple of ``C`` elements.
    """
    return int(getattr(net, "C", 16))


@register_probe("weight_grads")
def weight_gradients(cache: ProbeCache) -> WeightGradients:
    """One forward of the main batch (BN per ``settings.bn_mode``) and one gradient.

    The target is the cross-entropy loss or the sum of all logits (``settings.grad_target``).
    """
    net = cache.working_copy()
    x, y = cache.batch(0)
    logits = net(x)
    target = (
        logits.sum() if cache.settings.grad_target == "logit_sum" else F.cross_entropy(logits, y)
    )
    named = list(weight_layers(net))
    weights = [m.weight for _, m in named]
    grads = torch.autograd.grad(target, weights, allow_unused=True)
    layers = {
        name: (g.detach() if g is not None else torch.zeros_like(w)).clone()
        for (name, _), w, g in zip(named, weights, grads, strict=True)
    }
    clear_grads(net)
    return WeightGradients(layers, gradient_rows(cache.net))
