"""K cell supernets of one shape in one module: a *pack*, trained in one pass (issue 30).

Small supernets leave a CPU (and far more a GPU) idle: at C=4, N=1, 8 px one training step of
batch 64 costs about a third of what a step of batch 1,024 costs. A pack stacks the weights of
K networks and runs them side by side as one network with K times the channels, every layer a
*grouped* convolution (``groups=K``): network ``k`` owns channels ``k*C .. (k+1)*C - 1`` of every
layer and only ever sees its own images, so BatchNorm statistics, activations and gradients are
its own. The networks keep everything that makes them distinct: weights, masks, the arch each
one trains in a step, data, optimiser state (:mod:`fewshot.training.pack`).

Single-path training with a different arch per network: every edge of a packed cell computes,
for all K networks at once, the ReLU-conv-BN op (a ``k x k`` convolution whose weight is, per
network, the kernel of the conv op it drew, smaller kernels zero-padded to the largest), the
pooling op and the identity, and keeps per network the one it drew. A network that drew no
conv op at an edge gets a zero kernel and zero BatchNorm scale and shift there, so its conv
output is exactly 0 and its gradients too; pooling and identity are selected by a 0/1 factor
per channel. The value of every node is therefore the same sum, in the same edge order, as in
:class:`~fewshot.models.supernet.Supernet`'s forward (adding exact zeros changes no bit); only
the convolution kernels (grouped, zero-padded) may round differently, so a packed network
equals the same network trained alone up to float tolerance (``tests/models/test_packed.py``).

Which parameters a network's step touches (:meth:`PackedSupernet.touched`) and which
BatchNorm statistics it updates follow :class:`Supernet`'s autograd graph exactly: an op that
runs but cannot reach the loss (its node feeds nothing, or the arch does not connect the cell's
input to its output) gets no gradient alone, so its weights get no weight decay or momentum in
the pack either. A pack holds cell spaces whose ops are ReLU-conv-BN, average pooling,
identity and zero (NB201, TransNAS-Bench-101 micro); weights move in and out as each
network's own :class:`Supernet` ``state_dict`` (:meth:`load_member`, :meth:`member_state`).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from fewshot.models.ops import ReLUConvBN, ResNetBasicBlock, Zero
from fewshot.models.supernet import MaskedCell, Supernet
from fewshot.spaces.base import Arch

_BN_STATS = ("running_mean", "running_var", "num_batches_tracked")

# The stacked parameters are strided views of one flat buffer and their grads the same views of
# the flat gradient: autograd accumulates into them in place, as intended, and says once that
# such grads "do not obey the gradient layout contract" (a performance note, not an error).
warnings.filterwarnings("ignore", message="grad and param do not obey the gradient layout")


@dataclass(frozen=True)
class _OpKinds:
    """The candidate ops of a cell space by what they compute (read from the template's modules)."""

    conv: tuple[tuple[str, int], ...]  # (op name, kernel size), ReLU -> conv -> BN
    pool: tuple[str, ...]  # average pooling, 3x3, stride 1, no padding counted
    identity: tuple[str, ...]
    zero: tuple[str, ...]

    @property
    def kernel(self) -> int:
        return max((k for _, k in self.conv), default=1)


def _op_kinds(edge_ops: nn.ModuleDict) -> _OpKinds:
    conv, pool, identity, zero = [], [], [], []
    for name, op in edge_ops.items():
        if isinstance(op, ReLUConvBN):
            conv.append((name, op[1].kernel_size[0]))
        elif isinstance(op, nn.AvgPool2d):
            pool.append(name)
        elif isinstance(op, nn.Identity):
            identity.append(name)
        elif isinstance(op, Zero):
            zero.append(name)
        else:
            raise ValueError(f"a pack cannot hold op {name!r} ({type(op).__name__})")
    if len(pool) > 1 or len(identity) > 1:
        raise ValueError("a pack holds at most one pooling and one identity op per edge")
    return _OpKinds(tuple(conv), tuple(pool), tuple(identity), tuple(zero))


class PackedSupernet(nn.Module):
    """``K`` copies of ``template``'s shape (a cell :class:`Supernet` with every op of the
    networks' masks instantiated), trained side by side.

    Parameters are stacked on a leading network axis (``[K, *shape]``; the conv and BN
    parameters of an op on every edge of a cell as one ``[E, K, *shape]`` tensor) and live in
    one flat buffer, as do their gradients: the optimiser (:class:`fewshot.training.pack.PackSGD`)
    updates all of them with a handful of whole-buffer operations.

    Inputs are ``[B, K, 3, H, W]`` (network ``k``'s batch at ``[:, k]``); outputs ``[B, K,
    classes]``.
    """

    def __init__(self, template: Supernet, K: int) -> None:
        super().__init__()
        if K < 1:
            raise ValueError(f"a pack holds K >= 1 networks, got {K}")
        self.K, self.C, self.N = K, template.C, template.N
        self.num_classes = template.num_classes
        self.space = template.space
        self.edges = template.space.edges
        self.num_nodes = template.space.num_nodes
        self._template_keys = tuple(template.state_dict())
        cells = [m for m in template.cells if isinstance(m, MaskedCell)]
        self.kinds = _op_kinds(cells[0].edges[0].ops)
        bn = template.stem[1]
        self.bn_momentum, self.bn_eps = float(bn.momentum), float(bn.eps)
        self._layout = _Layout(template, K, self.kinds)
        self.flat = nn.Parameter(torch.zeros(self._layout.size))
        self.flat.grad = torch.zeros(self._layout.size)
        self._views()
        for name, shape in self._layout.stats.items():
            dtype = torch.long if name.endswith("num_batches_tracked") else torch.float32
            init = 1.0 if name.endswith("running_var") else 0.0
            self.register_buffer(_buffer_name(name), torch.full(shape, init, dtype=dtype))
        self._sources = self._edges_by_source()

    # -- storage ------------------------------------------------------------------------
    def _views(self) -> None:
        """Leaf tensors over ``flat`` (and their grads over ``flat.grad``), one per stacked
        parameter: autograd accumulates into the flat gradient in place."""
        self.params: dict[str, Tensor] = {}
        for name in self._layout.params:
            p = self._layout.view(self.flat.detach(), name).requires_grad_(True)
            p.grad = self._layout.view(self.flat.grad, name)
            self.params[name] = p

    def _apply(self, fn, recurse: bool = True):  # type: ignore[no-untyped-def]
        """Moving the pack (``.to(device)``) moves the flat buffers; the views follow."""
        super()._apply(fn, recurse)
        if self.flat.grad is None or self.flat.grad.device != self.flat.device:
            self.flat.grad = torch.zeros_like(self.flat)
        self._views()
        return self

    def zero_grad(self, set_to_none: bool = False) -> None:
        """Zero the flat gradient in place (the views hold it; never set to ``None``)."""
        self.flat.grad.zero_()

    def stat(self, name: str) -> Tensor:
        return getattr(self, _buffer_name(name))

    # -- members in and out -------------------------------------------------------------
    def load_member(self, k: int, state: dict[str, Tensor]) -> None:
        """Network ``k``'s weights and BN statistics from a :class:`Supernet` ``state_dict``
        (any subset of the template's keys: a leaf instantiates only its mask's ops)."""
        with torch.no_grad():
            for key, value in state.items():
                if key == "mask":
                    continue
                target = self._member_view(key, k)
                if target is None:
                    raise KeyError(f"{key!r} is not a tensor of this pack's template")
                target.copy_(value.reshape(target.shape))

    def member_state(self, k: int, keys: Sequence[str] | None = None) -> dict[str, Tensor]:
        """Network ``k``'s tensors under :class:`Supernet` names (``keys``: those of its own
        supernet, e.g. a leaf's; default every template key but the mask), copied to the CPU."""
        keys = [key for key in (keys or self._template_keys) if key != "mask"]
        out = {}
        for key in keys:
            view = self._member_view(key, k)
            if view is None:
                raise KeyError(f"{key!r} is not a tensor of this pack's template")
            out[key] = view.detach().clone().cpu()
        return out

    def _member_view(self, key: str, k: int) -> Tensor | None:
        located = self._layout.locate(key)
        if located is None:
            return None
        kind, name, edge = located
        tensor = self._layout.view(self.flat.detach(), name) if kind == "param" else self.stat(name)
        tensor = tensor[edge] if edge is not None else tensor
        return tensor[k]

    # -- forward ------------------------------------------------------------------------
    def forward(self, x: Tensor, archs: Sequence[Arch], *, update_stats: bool = True) -> Tensor:
        """Logits ``[B, K, classes]`` of images ``x`` ``[B, K, 3, H, W]``, network ``k`` on the
        single path ``archs[k]``. BatchNorm normalises with batch statistics; ``update_stats``
        (training) also updates the running statistics of the ops that ran, as ``Supernet``
        does in training mode."""
        B, K = x.shape[0], self.K
        if x.shape[1] != K or len(archs) != K:
            raise ValueError(f"a pack of {K} networks needs x [B, {K}, 3, H, W] and {K} archs")
        choice = _Choice(self, archs)
        p = self.params
        images = x.reshape(B, K * 3, *x.shape[3:]).contiguous(memory_format=torch.channels_last)
        out = _conv(images, p["stem.0.weight"], K, 1)
        out = self._bn(out, "stem.1", update_stats)
        c = 0
        for i, layer in enumerate(self._layout.layers):
            if layer == "cell":
                out = self._cell(out, c, choice, update_stats)
                c += 1
            else:
                out = self._resblock(out, f"cells.{i}", update_stats)
        out = F.relu(self._bn(out, "lastact.0", update_stats))
        features = out.mean((2, 3)).view(B, K, -1)
        logits = torch.einsum("bkc,koc->bko", features, p["classifier.weight"])
        return logits + p["classifier.bias"]

    def _bn(self, x: Tensor, prefix: str, update: bool) -> Tensor:
        p = self.params
        mean, var = self.stat(f"{prefix}.running_mean"), self.stat(f"{prefix}.running_var")
        out = F.batch_norm(
            x, mean.view(-1) if update else None, var.view(-1) if update else None,
            p[f"{prefix}.weight"].reshape(-1), p[f"{prefix}.bias"].reshape(-1),
            True, self.bn_momentum, self.bn_eps,
        )  # fmt: skip
        if update:
            self.stat(f"{prefix}.num_batches_tracked").add_(1)
        return out

    def _resblock(self, x: Tensor, prefix: str, update: bool) -> Tensor:
        p, K = self.params, self.K
        a = _conv(F.relu(x), p[f"{prefix}.conv_a.1.weight"], K, 2)
        a = self._bn(a, f"{prefix}.conv_a.2", update)
        b = _conv(F.relu(a), p[f"{prefix}.conv_b.1.weight"], K, 1)
        b = self._bn(b, f"{prefix}.conv_b.2", update)
        skip = _conv(_average_pool_2x2(x), p[f"{prefix}.downsample.1.weight"], K, 1)
        return skip + b

    def _edges_by_source(self) -> list[tuple[int, list[int]]]:
        sources: dict[int, list[int]] = {}
        for e, (_, src) in enumerate(self.edges):
            sources.setdefault(src, []).append(e)
        if sorted(sources) != list(range(self.num_nodes - 1)):
            raise ValueError("a pack holds cells in which every node but the last feeds an edge")
        return sorted(sources.items())

    def _cell(self, x: Tensor, c: int, choice: _Choice, update: bool) -> Tensor:
        """One search cell. Per source node, one grouped convolution runs the conv ops of
        every (out-edge, network) pair that drew one (its input channels gathered, its outputs
        added into the destination nodes' channels of those networks); pooling and identity
        are added with a 0/1 factor per network. Each node's value is the sum of its inputs in
        edge order, exactly as :class:`MaskedCell` adds them. The pairs' kernels, BN tensors
        and statistics are gathered once per cell (every source's pairs together)."""
        C, kernel = x.shape[1] // self.K, self.kinds.kernel
        pairs = choice.cell_pairs(self._sources)
        weight, gamma, beta, mean, var = self._pair_tensors(c, pairs, update)
        totals: list[Tensor | None] = [None] * self.num_nodes
        nodes: list[Tensor] = [x]
        for src, out_edges in self._sources:
            h = nodes[src]
            a, b = pairs.sources[src] if pairs is not None else (0, 0)
            if b > a:
                y = F.conv2d(F.relu(_gather_channels(h, pairs.networks[a:b], C)),
                             weight[a:b].reshape(-1, C, kernel, kernel), padding=kernel // 2,
                             groups=b - a)  # fmt: skip
                span = slice(a * C, b * C)
                y = F.batch_norm(
                    y, mean[span] if update else None, var[span] if update else None,
                    gamma[a:b].reshape(-1), beta[a:b].reshape(-1), True, self.bn_momentum,
                    self.bn_eps,
                )  # fmt: skip
                for dst, first, last in pairs.rows:
                    if not a <= first < b:
                        continue
                    span, rows = slice((first - a) * C, (last - a) * C), slice(first, last)
                    if totals[dst] is None:  # a fresh zero tensor: added into in place
                        totals[dst] = _add_channels_(torch.zeros_like(x), pairs.networks[rows],
                                                     y[:, span])  # fmt: skip
                    else:
                        totals[dst] = _add_channels(totals[dst], pairs.networks[rows], y[:, span])
            pooled = _average_pool_3x3(h) if any(choice.any_pool[e] for e in out_edges) else None
            for e in out_edges:
                dst = self.edges[e][0]
                if choice.any_pool[e]:
                    totals[dst] = _add_scaled(totals[dst], choice.factor("pool", e, C), pooled)
                if choice.any_identity[e]:
                    totals[dst] = _add_scaled(totals[dst], choice.factor("identity", e, C), h)
            # node src + 1 has all its inputs now (edges run from lower to higher nodes)
            done = totals[src + 1]
            nodes.append(done if done is not None else torch.zeros_like(x))
        if update and pairs is not None:
            self._store_pair_stats(c, pairs, mean, var, C)
        return nodes[self.num_nodes - 1]

    def _pair_tensors(self, c: int, pairs: _Pairs | None, update: bool) -> tuple:
        """Every pair's kernel ``[P, C, C, k, k]``, BN scale and shift ``[P, C]`` and running
        statistics ``[P*C]`` (training), gathered from its op's stacked tensors (a smaller
        kernel zero-padded to the largest)."""
        if pairs is None:
            return None, None, None, None, None
        p, kernel = self.params, self.kinds.kernel
        pe, pk = pairs.edges, pairs.networks
        weight = gamma = beta = mean = var = None
        for name, size, chosen, _ in pairs.kinds:
            w = p[f"cell{c}.{name}.weight"][pe, pk]
            if size < kernel:
                pad = (kernel - size) // 2
                w = F.pad(w, (pad, pad, pad, pad))
            g, b = p[f"cell{c}.{name}.gamma"][pe, pk], p[f"cell{c}.{name}.beta"][pe, pk]
            weight = (
                w if weight is None else torch.where(chosen[:, None, None, None, None], w, weight)
            )
            gamma = g if gamma is None else torch.where(chosen[:, None], g, gamma)
            beta = b if beta is None else torch.where(chosen[:, None], b, beta)
            if update:
                m = self.stat(f"cell{c}.{name}.running_mean")[pe, pk]
                v = self.stat(f"cell{c}.{name}.running_var")[pe, pk]
                mean = m if mean is None else torch.where(chosen[:, None], m, mean)
                var = v if var is None else torch.where(chosen[:, None], v, var)
        if update:
            mean, var = mean.reshape(-1).contiguous(), var.reshape(-1).contiguous()
        return weight, gamma, beta, mean, var

    def _store_pair_stats(self, c: int, pairs: _Pairs, mean: Tensor, var: Tensor, C: int) -> None:
        """The pairs' updated BN statistics back into each pair's op."""
        mean, var = mean.view(-1, C), var.view(-1, C)
        for name, _, _, (rows, kind_pe, kind_pk) in pairs.kinds:
            self.stat(f"cell{c}.{name}.running_mean")[kind_pe, kind_pk] = mean[rows]
            self.stat(f"cell{c}.{name}.running_var")[kind_pe, kind_pk] = var[rows]
            self.stat(f"cell{c}.{name}.num_batches_tracked")[kind_pe, kind_pk] += 1

    # -- which parameters a step touches --------------------------------------------------
    def touched(self, archs: Sequence[Arch]) -> Tensor:
        """A bool ``[flat size]``: the parameters network ``k``'s single path ``archs[k]`` gives a
        gradient alone (its autograd graph reaches them), for the optimiser's masked update."""
        return self._layout.expand(self._layout.touched_units(self, archs).to(self.flat.device))


def _buffer_name(name: str) -> str:
    return "stat__" + name.replace(".", "__")


def _conv(x: Tensor, weight: Tensor, K: int, stride: int, padding: int | None = None) -> Tensor:
    """Grouped convolution of ``K`` networks: ``weight`` ``[K, Cout, Cin, k, k]`` or already
    ``[K * Cout, Cin, k, k]``."""
    if weight.dim() == 5:
        weight = weight.reshape(-1, *weight.shape[2:])
    k = weight.shape[-1]
    return F.conv2d(x, weight, stride=stride, padding=k // 2 if padding is None else padding,
                    groups=K)  # fmt: skip


_POOL_CACHE: dict[tuple[int, int, int, str], tuple[Tensor, Tensor]] = {}


def _average_pool_3x3(x: Tensor) -> Tensor:
    """``avg_pool2d(x, 3, 1, 1, count_include_pad=False)`` as a depthwise 3x3 sum times the
    reciprocal count of each window: on CPU and channels-last activations several times
    faster than the pooling kernel for many channels (equal up to rounding)."""
    _, channels, h, w = x.shape
    key = (channels, h, w, str(x.device))
    if key not in _POOL_CACHE:
        ones = torch.ones(channels, 1, 3, 3, device=x.device, dtype=x.dtype)
        count = F.conv2d(torch.ones(1, 1, h, w, device=x.device, dtype=x.dtype),
                         torch.ones(1, 1, 3, 3, device=x.device, dtype=x.dtype), padding=1)  # fmt: skip
        _POOL_CACHE[key] = ones, count.reciprocal()
    ones, reciprocal = _POOL_CACHE[key]
    return F.conv2d(x, ones, padding=1, groups=channels) * reciprocal


@dataclass(frozen=True)
class _Pairs:
    """The (edge, network) pairs of a cell whose networks drew a conv op, source node by
    source node, edge by edge.

    ``edges``, ``networks``: ``[P]``; ``rows``: per edge with pairs ``(dst, first, last)``,
    its destination node and its pairs' range; ``kinds``: per conv op drawn, ``(name, kernel
    size, chosen [P] bool, (its rows, their edges, their networks))``."""

    edges: Tensor
    networks: Tensor
    rows: list[tuple[int, int, int]]
    kinds: list[tuple[str, int, Tensor, tuple[Tensor, Tensor, Tensor]]]
    sources: dict[int, tuple[int, int]]
    """Per source node, its pairs' range (pairs are source by source)."""

    @classmethod
    def of(cls, choice: _Choice, sources: Sequence[tuple[int, Sequence[int]]]) -> _Pairs | None:
        pe, pk, op, rows, ranges = [], [], [], [], {}
        for src, out_edges in sources:
            start = len(pe)
            for e in out_edges:
                first = len(pe)
                for k, conv in enumerate(choice._is_conv[e]):
                    if conv:
                        pe.append(e)
                        pk.append(k)
                        op.append(choice._ops[k][e])
                if len(pe) > first:
                    rows.append((choice._edges[e][0], first, len(pe)))
            ranges[src] = (start, len(pe))
        if not pe:
            return None
        dev = choice._device
        kinds = []
        for name, size in choice._conv_kinds:
            at = [i for i, o in enumerate(op) if o == name]
            if at:
                chosen = torch.tensor([o == name for o in op], device=dev)
                sub = (torch.tensor(at, device=dev), torch.tensor([pe[i] for i in at], device=dev),
                       torch.tensor([pk[i] for i in at], device=dev))  # fmt: skip
                kinds.append((name, size, chosen, sub))
        return cls(torch.tensor(pe, device=dev), torch.tensor(pk, device=dev), rows, kinds, ranges)


def _average_pool_2x2(x: Tensor) -> Tensor:
    """``avg_pool2d(x, 2, 2)`` as a depthwise stride-2 convolution with weights 1/4 (faster on
    channels-last activations with many channels)."""
    channels = x.shape[1]
    weight = torch.full((channels, 1, 2, 2), 0.25, device=x.device, dtype=x.dtype)
    return F.conv2d(x, weight, stride=2, groups=channels)


def _gather_channels(x: Tensor, networks: Tensor, C: int) -> Tensor:
    """The channels of ``networks`` (each ``C`` wide, in that order) of channels-last ``x``,
    channels-last out: gathered as blocks of ``C`` contiguous values per pixel (NHWC)."""
    B, _, H, W = x.shape
    rows = _blocks(x, C).index_select(3, networks)
    return rows.reshape(B, H, W, -1).permute(0, 3, 1, 2)


def _blocks(x: Tensor, C: int) -> Tensor:
    """Channels-last ``x`` ``[B, n*C, H, W]`` as its NHWC view ``[B, H, W, n, C]``."""
    return x.permute(0, 2, 3, 1).unflatten(3, (-1, C))


def _add_channels(base: Tensor, networks: Tensor, values: Tensor) -> Tensor:
    """``base`` with ``values`` (one ``C``-wide block per entry of ``networks``) added to
    those networks' channels; channels-last in and out."""
    C = values.shape[1] // len(networks)
    out = _blocks(base, C).index_add(3, networks, _blocks(values, C))
    return out.flatten(3).permute(0, 3, 1, 2)


def _add_channels_(base: Tensor, networks: Tensor, values: Tensor) -> Tensor:
    """:func:`_add_channels` into ``base`` in place (a fresh tensor autograd does not need)."""
    C = values.shape[1] // len(networks)
    _blocks(base, C).index_add_(3, networks, _blocks(values, C))
    return base


def _add_scaled(part: Tensor | None, scale: Tensor, value: Tensor) -> Tensor:
    """``part + scale * value`` (``scale`` a per-channel 0/1 factor); ``scale * value`` alone."""
    return scale * value if part is None else torch.addcmul(part, scale, value)


class _Choice:
    """The ops the ``K`` networks run in one forward, as masks over edges and channels."""

    def __init__(self, pack: PackedSupernet, archs: Sequence[Arch]) -> None:
        kinds, K = pack.kinds, pack.K
        ops = [a.ops for a in archs]
        E = len(pack.edges)
        device = pack.flat.device
        conv_names = {name for name, _ in kinds.conv}
        self._edges = pack.edges
        self._is_conv = [[ops[k][e] in conv_names for k in range(K)] for e in range(E)]
        self._ops = ops
        self._conv_kinds = kinds.conv
        self._pairs: _Pairs | None = None
        self._pairs_made = False
        self._device = device
        self.any_pool = [any(ops[k][e] in kinds.pool for k in range(K)) for e in range(E)]
        self.any_identity = [any(ops[k][e] in kinds.identity for k in range(K)) for e in range(E)]
        self._tables = {
            "pool": self._table(pack, ops, kinds.pool),
            "identity": self._table(pack, ops, kinds.identity),
        }
        self._factors: dict[tuple[str, int, int], Tensor] = {}

    @staticmethod
    def _table(pack: PackedSupernet, ops, names: tuple[str, ...]) -> Tensor:
        K, E = pack.K, len(pack.edges)
        return torch.tensor(
            [[float(ops[k][e] in names) for k in range(K)] for e in range(E)],
            device=pack.flat.device,
        )

    def cell_pairs(self, sources: Sequence[tuple[int, Sequence[int]]]) -> _Pairs | None:
        """The (edge, network) pairs that run a conv op in a cell (``None``: no network drew
        one), the same in every cell of the forward: see :class:`_Pairs`."""
        if not self._pairs_made:
            self._pairs, self._pairs_made = _Pairs.of(self, sources), True
        return self._pairs

    def factor(self, kind: str, e: int, C: int) -> Tensor:
        """A ``[1, K*C, 1, 1]`` 0/1 factor: 1 on the channels of the networks that run op
        ``kind`` (``pool`` or ``identity``) at edge ``e``."""
        key = (kind, e, C)
        if key not in self._factors:
            table = self._tables[kind][e]
            self._factors[key] = table.repeat_interleave(C).view(1, -1, 1, 1)
        return self._factors[key]


class _Layout:
    """Where each stacked tensor of a pack lives, and how it maps to :class:`Supernet` keys.

    Parameters: non-cell ones under their ``Supernet`` name, shape ``[K, *shape]``; the conv
    op ``name`` of search cell ``c`` (its ``c``-th :class:`MaskedCell`) as ``cell{c}.{name}.weight``
    ``[E, K, C, C, k, k]``, ``.gamma`` and ``.beta`` ``[E, K, C]``. BN statistics likewise
    (``[K, C]``; ``[E, K, C]`` in cells; ``num_batches_tracked`` without the channel axis).

    The flat buffer is network-major, ``[K, P]``: network ``k``'s ``P`` parameters are
    contiguous (so per-network gradient norms and updates are row operations), and within a
    row the parameters follow one another in this order (a cell block edge by edge). A *unit*
    is one parameter (at one edge, in cells): what the optimiser's mask is made of.
    """

    def __init__(self, template: Supernet, K: int, kinds: _OpKinds) -> None:
        self.K, self.E = K, len(template.space.edges)
        self.params: dict[str, tuple[int, tuple[int, ...]]] = {}  # name -> (row offset, shape)
        self.stats: dict[str, tuple[int, ...]] = {}
        self.layers: list[str] = []
        self.cell_index: dict[int, int] = {}  # template.cells index -> search cell number
        self.units: list[tuple[str, int | None, int]] = []  # name, edge, size (row order)
        self.blocks: set[str] = set()  # cell parameters stacked over edges, [E, K, ...]
        self.kinds = kinds
        self.row = 0
        state = template.state_dict()
        named = dict(template.named_parameters())
        for key, value in state.items():
            if key == "mask" or key.startswith("cells."):
                continue
            self._add(key, value, key in named)
        for i, layer in enumerate(template.cells):
            if isinstance(layer, MaskedCell):
                c = self.cell_index[i] = len(self.cell_index)
                self.layers.append("cell")
                self._add_cell(c, layer)
            elif isinstance(layer, ResNetBasicBlock):
                self.layers.append("res")
                for key, value in layer.state_dict().items():
                    full = f"cells.{i}.{key}"
                    self._add(full, value, full in named)
            else:
                raise ValueError(f"a pack cannot hold layer {type(layer).__name__}")
        self.size = self.K * self.row
        self.unit_sizes = torch.tensor([n for *_, n in self.units])
        self._tables: tuple[np.ndarray, ...] | None = None
        self._element_unit: Tensor | None = None
        self._arch_cache: dict[Arch, np.ndarray] = {}

    def view(self, flat: Tensor, name: str) -> Tensor:
        """The stacked tensor ``name`` as a view of the flat buffer ``flat`` (``[K * P]``)."""
        offset, shape = self.params[name]
        rows = flat.view(self.K, self.row)
        if name in self.blocks:
            E = shape[0]
            n = math.prod(shape[2:])
            return rows[:, offset : offset + E * n].view(self.K, E, *shape[2:]).transpose(0, 1)
        n = math.prod(shape[1:])
        return rows[:, offset : offset + n].view(self.K, *shape[1:])

    def _add(self, key: str, value: Tensor, is_param: bool) -> None:
        shape = (self.K, *value.shape)
        if not is_param:
            self.stats[key] = shape
            return
        self.params[key] = (self.row, shape)
        n = math.prod(value.shape)
        self.units.append((key, None, n))
        self.row += n

    def _add_cell(self, c: int, cell: MaskedCell) -> None:
        op = cell.edges[0].ops
        for name, _ in self.kinds.conv:
            module = op[name]
            if not module[2].affine or not module[2].track_running_stats:
                raise ValueError("a pack holds cell convs with affine, tracked BatchNorm")
            fields = {
                "weight": module[1].weight.shape,
                "gamma": module[2].weight.shape,
                "beta": module[2].bias.shape,
            }
            for field, shape in fields.items():
                name_ = f"cell{c}.{name}.{field}"
                self.params[name_] = (self.row, (self.E, self.K, *shape))
                self.blocks.add(name_)
                n = math.prod(shape)
                self.units.extend((name_, e, n) for e in range(self.E))
                self.row += self.E * n
            C = module[2].num_features
            self.stats[f"cell{c}.{name}.running_mean"] = (self.E, self.K, C)
            self.stats[f"cell{c}.{name}.running_var"] = (self.E, self.K, C)
            self.stats[f"cell{c}.{name}.num_batches_tracked"] = (self.E, self.K)

    _CELL_FIELDS = {"1.weight": "weight", "2.weight": "gamma", "2.bias": "beta"}

    def locate(self, key: str) -> tuple[str, str, int | None] | None:
        """``(kind, name, edge)`` of a :class:`Supernet` ``state_dict`` key in this pack."""
        if key in self.params:
            return "param", key, None
        if key in self.stats:
            return "stat", key, None
        parts = key.split(".")
        # cells.{i}.edges.{e}.ops.{op}.{1|2}.{field}
        if len(parts) != 8 or parts[0] != "cells" or parts[2] != "edges" or parts[4] != "ops":
            return None
        c = self.cell_index.get(int(parts[1]))
        if c is None:
            return None
        edge, op, tail = int(parts[3]), parts[5], ".".join(parts[6:])
        if tail in self._CELL_FIELDS:
            name = f"cell{c}.{op}.{self._CELL_FIELDS[tail]}"
            return ("param", name, edge) if name in self.params else None
        if parts[6] == "2" and parts[7] in _BN_STATS:
            name = f"cell{c}.{op}.{parts[7]}"
            return ("stat", name, edge) if name in self.stats else None
        return None

    # -- the optimiser's mask -------------------------------------------------------------
    def _unit_tables(self, pack: PackedSupernet) -> tuple[np.ndarray, ...]:
        """Per unit: its edge (-1 off the cells), its op's index in the space (-1), whether its
        cell is the last search cell, and (off the cells) whether it lies before that cell."""
        if self._tables is None:
            ops = pack.space.ops
            last = len(self.cell_index) - 1
            edge, op, last_cell, before = [], [], [], []
            for name, e, _ in self.units:
                in_cell = e is not None
                c = int(name[4 : name.index(".")]) if in_cell else -1
                edge.append(e if in_cell else -1)
                op.append(ops.index(name.split(".")[1]) if in_cell else -1)
                last_cell.append(in_cell and c == last)
                before.append(not in_cell and self._before_last_cell(name))
            self._tables = tuple(np.array(t) for t in (edge, op, last_cell, before))
        return self._tables

    def touched_units(self, pack: PackedSupernet, archs: Sequence[Arch]) -> Tensor:
        """``[K, units]``: whether network ``k``'s path gives the unit a gradient (see
        :meth:`PackedSupernet.touched`)."""
        return torch.from_numpy(np.stack([self._arch_units(pack, arch) for arch in archs]))

    def _arch_units(self, pack: PackedSupernet, arch: Arch) -> np.ndarray:
        """One network's unit flags for ``arch`` (cached: paths repeat)."""
        if arch not in self._arch_cache:
            edge, op, last_cell, before = self._unit_tables(pack)
            chosen = np.array([pack.space.ops.index(o) for o in arch.ops])
            connected, live = _live(pack, arch)
            live_edges = np.array(live)
            in_cell = edge >= 0
            e = np.where(in_cell, edge, 0)
            cell_flags = (connected | last_cell) & live_edges[e] & (chosen[e] == op)
            self._arch_cache[arch] = np.where(in_cell, cell_flags, connected | ~before)
        return self._arch_cache[arch]

    def _before_last_cell(self, name: str) -> bool:
        """Whether the non-cell parameter ``name`` lies before the last search cell."""
        if name.startswith("stem."):
            return True
        if name.startswith("cells."):
            i = int(name.split(".")[1])
            return any(j > i for j in self.cell_index)
        return False

    def expand(self, units: Tensor) -> Tensor:
        """Per-unit flags ``[K, units]`` as per-element flags ``[K * P]`` (one gather)."""
        if self._element_unit is None or self._element_unit.device != units.device:
            U = len(self.units)
            unit = torch.arange(U).repeat_interleave(self.unit_sizes)  # [P]
            rows = torch.arange(self.K)[:, None] * U
            self._element_unit = (rows + unit).view(-1).to(units.device)
        return units.view(-1)[self._element_unit]


def _live(pack: PackedSupernet, arch: Arch) -> tuple[bool, list[bool]]:
    """Whether ``arch`` connects the cell's input to its output through ops other than zero
    (the space's :meth:`~fewshot.spaces.cell.CellSpace.is_valid`), and per edge whether its
    output reaches the cell's output (so the loss), as :class:`MaskedCell`'s autograd graph
    does."""
    zero = set(pack.kinds.zero)
    edges, last = pack.edges, pack.num_nodes - 1
    runs = [op not in zero for op in arch.ops]
    reaches = [False] * pack.num_nodes
    reaches[last] = True
    for node in range(last - 1, -1, -1):
        reaches[node] = any(
            runs[e] and reaches[dst] for e, (dst, src) in enumerate(edges) if src == node
        )
    # a node with no running input is a constant (zeros): edges from it still run and reach
    live_edges = [runs[e] and reaches[dst] for e, (dst, _) in enumerate(edges)]
    return pack.space.is_valid(arch), live_edges
