"""Shared passes (probes) that several metrics reduce in different ways."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.hooks import RemovableHandle

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
    would have drawn had it run batch 0 itself (single-path sampling). ``hessian_grad``: grasp's
    ``H g`` per layer of ``layers`` when the cache was made for grasp; ``activations``: the
    ``activations`` probe's value when the cache was made for a metric reading it (see
    :func:`first_batch_backward`); else ``None``.
    """

    layers: dict[str, LayerGrad]
    params: dict[str, Tensor]
    rng_state: Tensor
    hessian_grad: dict[str, Tensor] | None = None
    activations: ActivationPass | None = None


SECOND_ORDER_METRICS = frozenset({"grasp"})
"""Metrics that need the Hessian-gradient product ``H g`` of the first backward's loss."""


def wants_second_order(cache: ProbeCache) -> bool:
    """Whether the first backward should also give ``H g``: only when the cache was made for a
    metric that needs it (a cache serving any metric, ``metrics=None``, computes it on demand)."""
    return cache.metrics is not None and bool(cache.metrics & SECOND_ORDER_METRICS)


@register_probe("first_backward")
def first_batch_backward(cache: ProbeCache) -> FirstBatchBackward:
    """One cross-entropy forward/backward on the main batch (BN per ``settings.bn_mode``).

    The pass also serves the probes that would repeat its forward, with identical values (the
    same weights, batch, BN mode and seeded draws give the same forward, and a gradient does
    not depend on what else is differentiated from that forward):

    - when the cache serves grasp, the backward keeps its graph (``create_graph``) and grasp's
      ``H g`` is computed from it at once (:func:`hessian_gradient_product`): one forward and
      one backward fewer than grasp's own pass;
    - when it serves a metric reading the ``activations`` probe (and that probe has not run),
      the input requires grad, the kernel hooks record during this forward and the input
      Jacobian is a second backward of the same graph (:func:`shares_activation_pass`).

    Together a third less time for the six zero-cost-nas proxies (docs/metrics/README.md).
    """
    net = cache.working_copy()
    x, y = cache.batch(0)
    second_order = wants_second_order(cache)
    activations = shares_activation_pass(cache)
    if activations:
        x = x.detach().clone().requires_grad_(True)
    recording = record_fisher(net) if cache.wants("fisher") else nullcontext({})
    kernels = record_kernels(net, cache) if activations else nullcontext((None, None))
    clock = PhaseClock(cache, "first_backward")
    with recording as fisher, kernels as (relu, layer_codes):  # Fisher: ~15% of the pass
        logits = net(x)
        loss = F.cross_entropy(logits, y)
        clock("forward")
        grads = _loss_grads(net, loss, create_graph=second_order, retain_graph=activations)
        clock("loss_backward")
    shared = None
    if activations:  # after the Fisher hooks are gone (they must see the loss gradient only)
        shared = ActivationPass(relu, layer_codes, input_jacobian(logits, x, second_order))
        clock("input_jacobian")
    layers = {
        name: LayerGrad(m.weight.detach().clone(), grads[id(m.weight)].detach().clone(),
                        fisher.get(name))
        for name, m in weight_layers(net)
        if id(m.weight) in grads
    }  # fmt: skip
    params = {n: grads[id(p)].detach().clone() for n, p in net.named_parameters() if id(p) in grads}
    hessian = hessian_gradient_product(net, layers, grads) if second_order else None
    clock("hessian_gradient" if second_order else "copies")
    del grads, loss, logits
    clear_grads(net)
    return FirstBatchBackward(layers, params, torch.get_rng_state(), hessian, shared)


class PhaseClock:
    """Records the wall time of successive phases of a probe in ``cache.probe_seconds`` as
    ``"<probe>.<phase>"`` (where a shared pass spends its time; see
    ``tools/benchmark_metrics.py proxies``)."""

    def __init__(self, cache: ProbeCache, probe: str) -> None:
        self.seconds, self.probe = cache.probe_seconds, probe
        self.last = time.perf_counter()

    def __call__(self, phase: str) -> None:
        now = time.perf_counter()
        key = f"{self.probe}.{phase}"
        self.seconds[key] = self.seconds.get(key, 0.0) + now - self.last
        self.last = now


def _loss_grads(
    net: nn.Module, loss: Tensor, *, create_graph: bool, retain_graph: bool
) -> dict[int, Tensor]:
    """``{id(parameter): dloss/dparameter}`` for every parameter the loss depends on.

    ``create_graph``: gradients with a graph, for a second derivative; ``retain_graph``: keep
    the forward's graph for another backward. Neither changes the values.
    """
    params = [p for p in net.parameters() if p.requires_grad]
    grads = torch.autograd.grad(
        loss, params, create_graph=create_graph, retain_graph=create_graph or retain_graph,
        allow_unused=True,
    )  # fmt: skip
    return {id(p): g for p, g in zip(params, grads, strict=True) if g is not None}


def hessian_gradient_product(
    net: nn.Module, layers: dict[str, LayerGrad], grads: dict[int, Tensor]
) -> dict[str, Tensor]:
    """grasp's ``H g`` for every layer of ``layers`` from the loss gradients ``grads`` (made
    with ``create_graph``): the gradient of ``z = sum_l sum(g_l * grad_l)`` with ``g_l`` held
    constant (zero-cost-nas's GraSP), summed in layer-name order. A weight with no
    second-order path gets zeros (as in zero-cost-nas)."""
    modules = dict(net.named_modules())
    names = sorted(layers)
    weights = [modules[n].weight for n in names]
    z = sum((layers[n].grad * grads[id(w)]).sum() for n, w in zip(names, weights, strict=True))
    if not isinstance(z, Tensor) or not z.requires_grad:  # piecewise linear: zero Hessian
        return {n: torch.zeros_like(w) for n, w in zip(names, weights, strict=True)}
    hg = torch.autograd.grad(z, weights, allow_unused=True)
    return {
        n: (h.detach() if h is not None else torch.zeros_like(w))
        for n, w, h in zip(names, weights, hg, strict=True)
    }


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

            grad_hooks.append(output.register_hook(on_grad))

        return hook

    grad_hooks: list[RemovableHandle] = []  # removed on exit: a later backward through the
    # same graph (grasp's second derivative) must not add to the Fisher values
    handles = [m.register_forward_hook(on_forward(n)) for n, m in weight_layers(net)]
    try:
        yield fisher
    finally:
        for h in [*handles, *grad_hooks]:
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

    The kernels cost a third of the pass (a B x D product per layer) and jacob_cov does not
    read them: each set is only recorded when the cache serves a metric that reads it
    (:data:`KERNEL_METRICS`), and :meth:`kernels` raises for one that was not recorded.
    """

    relu_kernels: dict[str, np.ndarray] | None
    layer_kernels: dict[str, np.ndarray] | None
    input_jacobian: np.ndarray

    def kernels(self, which: str, metric: str) -> dict[str, np.ndarray]:
        """``relu_kernels`` or ``layer_kernels`` (``which``) for ``metric``; raises
        :class:`MetricError` when the cache was not made for a metric that reads them."""
        found = getattr(self, which)
        if found is None:
            raise MetricError(
                f"{metric}: the activation pass did not record {which}, since its ProbeCache "
                f"was made for other metrics; add {metric!r} to them (or metrics=None)"
            )
        return found


KERNEL_METRICS: dict[str, frozenset[str]] = {
    "relu_kernels": frozenset({"naswot"}),
    "layer_kernels": frozenset({"tcet", "tcet_log"}),
}
"""Which metrics read each kernel set of :class:`ActivationPass`."""


def _records(cache: ProbeCache, which: str) -> bool:
    return cache.metrics is None or bool(cache.metrics & KERNEL_METRICS[which])


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
    if cache.has("first_backward"):
        shared = cache.get("first_backward").activations
        if shared is not None:  # recorded during that pass's forward
            return shared
    net = cache.working_copy()
    x = cache.batch(0)[0].detach().clone().requires_grad_(True)
    with record_kernels(net, cache) as (relu, layers):
        logits = net(x)
    jacobian = input_jacobian(logits, x, retain_graph=False)
    clear_grads(net)
    return ActivationPass(relu, layers, jacobian)


@contextmanager
def record_kernels(
    net: nn.Module, cache: ProbeCache
) -> Iterator[tuple[dict[str, np.ndarray] | None, dict[str, np.ndarray] | None]]:
    """Forward hooks recording the kernel sets of :class:`ActivationPass` that ``cache``'s
    metrics read; yields ``(relu_kernels, layer_kernels)``, ``None`` for a set not recorded."""
    relu: dict[str, np.ndarray] | None = {} if _records(cache, "relu_kernels") else None
    layers: dict[str, np.ndarray] | None = {} if _records(cache, "layer_kernels") else None

    def relu_hook(name: str, out: dict[str, np.ndarray]):
        def hook(module: nn.Module, inputs: tuple[Tensor, ...], output: Tensor) -> None:
            if name not in out:
                out[name] = binary_code_kernel(inputs[0].detach() > 0)

        return hook

    def layer_hook(name: str, out: dict[str, np.ndarray]):
        def hook(module: nn.Module, inputs: tuple[Tensor, ...], output: Tensor) -> None:
            out[name] = binary_code_kernel(output.detach() > 0)

        return hook

    handles = []
    if relu is not None:
        handles += [m.register_forward_hook(relu_hook(n, relu)) for n, m in _relus(net)]
    if layers is not None:
        handles += [m.register_forward_hook(layer_hook(n, layers)) for n, m in weight_layers(net)]
    try:
        yield relu, layers
    finally:
        for h in handles:
            h.remove()


def input_jacobian(logits: Tensor, x: Tensor, retain_graph: bool) -> np.ndarray:
    """``d(sum of logits)/dx`` per sample, flattened (B x D, float64); zeros for a network
    that ignores its input (paths of zero ops only)."""
    (jac,) = torch.autograd.grad(logits.sum(), x, allow_unused=True, retain_graph=retain_graph)
    if jac is None:
        jac = torch.zeros_like(x)
    return jac.reshape(jac.shape[0], -1).double().cpu().numpy()


ACTIVATION_METRICS = frozenset({"jacob_cov", "naswot", "tcet", "tcet_log"})
"""Metrics that read the ``activations`` probe (jacob_cov only in the ``layers`` layout)."""


def shares_activation_pass(cache: ProbeCache) -> bool:
    """Whether the first backward should also record the ``activations`` probe: the cache
    was made for a metric reading it and that probe has not run yet. (A cache serving any
    metric, ``metrics=None``, runs each pass on demand.)"""
    if cache.metrics is None or cache.has("activations"):
        return False
    readers = cache.metrics & ACTIVATION_METRICS
    if cache.settings.grad_layout == "channel_rows":  # jacob_cov reads weight_grads then
        readers -= {"jacob_cov"}
    return bool(readers)


def _relus(net: nn.Module) -> list[tuple[str, nn.Module]]:
    return [(n, m) for n, m in net.named_modules() if isinstance(m, nn.ReLU)]


__all__ = [
    "ACTIVATION_METRICS",
    "ActivationPass",
    "BatchGrads",
    "FirstBatchBackward",
    "KERNEL_METRICS",
    "LayerGrad",
    "PhaseClock",
    "SECOND_ORDER_METRICS",
    "WeightGradients",
    "activation_pass",
    "binary_code_kernel",
    "cross_entropy_grads",
    "first_batch_backward",
    "gradient_rows",
    "hessian_gradient_product",
    "input_jacobian",
    "per_batch_grads",
    "record_fisher",
    "record_kernels",
    "shares_activation_pass",
    "sum_over_layers",
    "weight_gradients",
    "wants_second_order",
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
