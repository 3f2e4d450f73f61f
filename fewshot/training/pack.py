"""Train a pack of K networks in one pass (issue 30): the leaves of a tree, the seeds of one
configuration, standalone archs.

Every network of a :class:`~fewshot.models.packed.PackedSupernet` keeps what it would have
trained with alone in ``fewshot.train`` (:class:`~fewshot.training.module.LeafModule`):

- its initialisation: its own supernet (only its mask's ops) re-initialised from its seed, as
  ``LeafModule`` does, then copied into the pack;
- its data: batch ``(epoch, b)`` of its own data module's training part (the tensor path's
  :class:`~fewshot.data.tensor.TrainBatches`: order and augmentation are functions of the data
  seed, the epoch and the batch only);
- its paths: drawn inside its mask (or its arch group, :attr:`PackMember.group`) from
  :func:`~fewshot.training.module.path_generator` ``(seed, step)``;
- its optimiser: SGD (Nesterov momentum, weight decay) with a cosine learning rate per step,
  gradient-norm clipping per network, and updates only of what its path touched (parameters
  off the path get no weight decay and no momentum step, as with PyTorch's SGD and ``None``
  gradients): :class:`PackSGD`;
- its outputs: ``weights.pt``, ``metrics.jsonl``, ``done.json`` in its own folder, the files
  ``fewshot.train`` writes, so the search reads a packed leaf like any other.

The loop is plain PyTorch (no Lightning): per step it draws K paths, stacks K batches, runs one
forward and backward and one optimiser update over a flat buffer, so the per-step overhead is
paid once for K networks. The pack's checkpoint (``pack.ckpt``, written atomically at every
epoch end and when SIGTERM/SIGINT asks the run to stop) holds the whole state; a killed pack
resumes to the same bits as an uninterrupted one (``tests/training/test_pack.py``).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.nn.functional import cross_entropy

from fewshot import faults
from fewshot.errors import UsageError
from fewshot.io import atomic_write, atomic_write_json, atomic_write_text
from fewshot.models.packed import PackedSupernet
from fewshot.models.supernet import Supernet
from fewshot.optimiser import SGDSettings
from fewshot.spaces import Arch, ArchGroup, Mask, SearchSpace, space_of
from fewshot.training.inherit import inherit_weights, load_parent_state
from fewshot.training.module import path_generator, reinitialise
from fewshot.training.sampling import DEFAULT_SAMPLING, SamplingRule, Within, get_sampling_rule
from fewshot.training.trainer import compute_difference, cpu_arithmetic, load_checkpoint

log = logging.getLogger("fewshot")

PACK_CHECKPOINT = "pack.ckpt"
_PACK_KEYS = ("format", "members", "settings", "step", "pack", "optimizer", "sums", "history")
"""What a pack checkpoint holds (:meth:`PackTrainer.state_dict`); a file without them is corrupt."""
_PER_IMAGE = "none"  # space-literal: not an op (cross-entropy's per-example reduction)
PACK_FORMAT = "fewshot.pack"
PACK_VERSION = 1

Batches = Callable[[int, int], tuple[Tensor, Tensor]]
"""``(epoch, b) -> (images, labels)``: batch ``b`` of ``epoch`` of one network's data."""


@dataclass(frozen=True)
class PackMember:
    """One network of a pack: its mask, its seed (initialisation and path draws), its data
    (``batches(epoch, b)``, ``batches_per_epoch``), its output folder, and optionally the
    parent it inherits from and the arch group of its mask it trains."""

    name: str
    mask: Mask
    seed: int
    batches: Batches
    batches_per_epoch: int
    out_dir: Path
    inherit_from: Path | None = None
    """A parent supernet's ``weights.pt`` this network starts from (weight inheritance,
    :mod:`fewshot.training.inherit`), as ``train_subsupernet(inherit_from=...)`` does."""
    group: ArchGroup | None = None
    """Draw only this group's archs (an EFS-NAS sub-supernet), as
    ``train_subsupernet(group=...)`` does; ``None``: every arch of the mask."""

    def __post_init__(self) -> None:
        if self.group is not None and self.group.mask != self.mask:
            raise ValueError(f"{self.name}: arch group {self.group} is not of its mask {self.mask}")

    @property
    def within(self) -> Within:
        """Where its paths are drawn: its arch group, else its mask."""
        return self.mask if self.group is None else self.group

    def record(self) -> tuple[Any, ...]:
        """What a pack checkpoint keeps of it (the group only when it has one, so checkpoints
        of packs without groups read as before)."""
        kept = (self.name, self.seed, self.mask.to_op_lists(), str(self.inherit_from))
        return kept if self.group is None else (*kept, self.group.to_dict())


@dataclass(frozen=True)
class PackSettings(SGDSettings):
    """How a pack trains: the optimiser (:class:`~fewshot.optimiser.SGDSettings`, the spec's
    defaults), the networks' shape, the budget and the path-sampling rule."""

    C: int = 16
    N: int = 5
    num_classes: int = 10
    epochs: int = 50
    max_steps: int | None = None
    sampling: str = DEFAULT_SAMPLING

    @classmethod
    def of(cls, settings: SGDSettings, **fields: Any) -> PackSettings:
        """The pack settings of ``settings`` (e.g. a :class:`~fewshot.training.runner.
        TrainSettings`: its optimiser fields and those of a pack it has, C, N, num_classes,
        epochs, max_steps, sampling; the others dropped), with ``fields`` overriding them."""
        optimiser = dataclasses.asdict(settings.sgd())
        own = {f.name for f in dataclasses.fields(cls)} - set(optimiser)
        kept = {name: getattr(settings, name) for name in own if hasattr(settings, name)}
        return cls(**optimiser, **{**kept, **fields})

    def total_steps(self, batches_per_epoch: int) -> int:
        epoch_steps = self.epochs * batches_per_epoch
        return epoch_steps if self.max_steps is None else min(self.max_steps, epoch_steps)


class PackSGD:
    """SGD with Nesterov momentum and weight decay over a pack's flat parameter buffer.

    Per network: the gradient is clipped to ``grad_clip`` by its own norm (as
    ``clip_grad_norm_`` over that network's parameters with a gradient); the update, the
    momentum buffer and weight decay apply only where ``touched`` (elements whose first touch
    starts the momentum buffer from the gradient, as ``torch.optim.SGD`` does)."""

    def __init__(self, pack: PackedSupernet, settings: PackSettings) -> None:
        self.pack, self.settings = pack, settings
        self.momentum_buffer = torch.zeros_like(pack.flat)
        self.has_buffer = torch.zeros_like(pack.flat, dtype=torch.bool)

    @torch.no_grad()
    def step(self, touched: Tensor, lr: float) -> Tensor:
        """One update with learning rate ``lr``; returns the per-network gradient norms."""
        s, flat, grad = self.settings, self.pack.flat, self.pack.flat.grad
        rows = grad.view(self.pack.K, -1)
        norms = torch.linalg.vector_norm(rows, dim=1)
        if s.grad_clip:
            rows.mul_((s.grad_clip / (norms + 1e-6)).clamp(max=1.0)[:, None])
        d = grad.add(flat, alpha=s.weight_decay) if s.weight_decay else grad.clone()
        if s.momentum:
            buf = torch.where(self.has_buffer, self.momentum_buffer * s.momentum + d, d)
            d = d.add(buf, alpha=s.momentum) if s.nesterov else buf
            self.momentum_buffer.copy_(torch.where(touched, buf, self.momentum_buffer))
            self.has_buffer |= touched
        flat.copy_(torch.where(touched, flat.add(d, alpha=-lr), flat))
        return norms

    def state_dict(self) -> dict[str, Tensor]:
        return {"momentum_buffer": self.momentum_buffer, "has_buffer": self.has_buffer}

    def load_state_dict(self, state: dict[str, Tensor]) -> None:
        self.momentum_buffer.copy_(state["momentum_buffer"])
        self.has_buffer.copy_(state["has_buffer"])


def learning_rate(settings: PackSettings, step: int, total: int, batches_per_epoch: int) -> float:
    """The learning rate of optimiser step ``step``: the schedule ``LeafModule`` runs, the
    same floats (cosine per step; ``step``: per epoch, at its milestones; ``constant``)."""
    if settings.schedule == "cosine":
        return settings.lr * settings.cosine_factor(total)(step)
    if settings.schedule == "step":
        epoch = step // batches_per_epoch
        return settings.lr * settings.gamma ** sum(epoch >= m for m in settings.milestones)
    return settings.lr


def member_network(member: PackMember, settings: PackSettings) -> Supernet:
    """``member``'s own supernet (its mask's ops only), initialised as ``LeafModule`` does."""
    net = space_of(member.mask).build_supernet(
        C=settings.C, N=settings.N, num_classes=settings.num_classes, candidates=member.mask
    )
    reinitialise(net, member.seed)
    if member.inherit_from is not None:
        inherit_weights(net, load_parent_state(member.inherit_from))
    return net


def shared_space(masks: Sequence[Mask]) -> SearchSpace:
    """The one search space of ``masks`` (a pack's networks must share it)."""
    space = masks[0].space
    if any(m.space is not space for m in masks):
        raise ValueError("a pack's networks must share one search space")
    return space


@dataclass
class _EpochSums:
    """Per network: the running sums of loss and accuracy over the epoch's batches."""

    loss: Tensor
    acc: Tensor
    count: int = 0
    started: float = field(default_factory=time.monotonic)

    @classmethod
    def zeros(cls, K: int, device: torch.device) -> _EpochSums:
        return cls(torch.zeros(K, device=device), torch.zeros(K, device=device))


class PackTrainer:
    """Train ``members`` together; every network's files land in its own ``out_dir``.

    ``pack_dir`` holds the pack's checkpoint (``pack.ckpt``); :meth:`fit` resumes from it.
    ``progress``: log one line per epoch (``fewshot`` logger, INFO)."""

    def __init__(
        self,
        members: Sequence[PackMember],
        settings: PackSettings,
        pack_dir: Path,
        *,
        device: torch.device | str = "cpu",
    ) -> None:
        if not members:
            raise ValueError("a pack needs at least one network")
        sizes = {m.batches_per_epoch for m in members}
        if len(sizes) != 1:
            raise ValueError(f"a pack's networks must have as many batches per epoch, got {sizes}")
        self.members, self.settings, self.pack_dir = list(members), settings, Path(pack_dir)
        self.device = torch.device(device)
        self.batches_per_epoch = sizes.pop()
        self.total = settings.total_steps(self.batches_per_epoch)
        space = shared_space([m.mask for m in members])
        template = space.build_supernet(  # every op on every edge: the networks share one layout
            C=settings.C, N=settings.N, num_classes=settings.num_classes,
            candidates=space.full_mask(),
        )  # fmt: skip
        self.pack = PackedSupernet(template, len(members))
        settings.check()
        self.rule: SamplingRule = get_sampling_rule(settings.sampling, template.space)
        if any(m.group is not None for m in members) and not self.rule.keeps_to_groups:
            raise ValueError(f"sampling rule {settings.sampling!r} cannot keep to an arch "
                             "group; use uniform or balanced")  # fmt: skip
        self.keys: list[list[str]] = []
        for k, member in enumerate(self.members):
            net = member_network(member, settings)
            self.pack.load_member(k, net.state_dict())
            self.keys.append(list(net.state_dict()))
        self.pack.to(self.device)
        self.optimizer = PackSGD(self.pack, settings)
        self.step = 0
        self.history: list[list[dict[str, Any]]] = [[] for _ in self.members]
        self._generator = torch.Generator()
        self._sums = _EpochSums.zeros(len(self.members), self.device)

    # -- one step -----------------------------------------------------------------------
    def _batch(self, step: int) -> tuple[Tensor, Tensor]:
        """The networks' batches of ``step``, stacked ``[B, K, ...]``; networks that share a
        data source (the leaves of one tree: one data seed) share its batch, made once."""
        epoch, b = divmod(step, self.batches_per_epoch)
        made: dict[int, tuple[Tensor, Tensor]] = {}
        pairs = []
        for m in self.members:
            if id(m.batches) not in made:
                made[id(m.batches)] = m.batches(epoch, b)
            pairs.append(made[id(m.batches)])
        x = torch.stack([p[0] for p in pairs], 1).to(self.device, non_blocking=True)
        y = torch.stack([p[1] for p in pairs], 1).to(self.device, non_blocking=True)
        return x, y

    def _archs(self, step: int) -> list[Arch]:
        """Each network's path of ``step``, drawn by the sampling rule inside its mask (or
        arch group) from ``path_generator(seed, step)``, as ``LeafModule`` draws it alone."""
        archs = []
        for member in self.members:
            drawn = self.rule.step_archs(
                member.within, path_generator(member.seed, step, self._generator)
            )
            if len(drawn) != 1:
                raise ValueError(
                    f"sampling rule {self.settings.sampling!r} trains {len(drawn)} archs per "
                    "step; a pack trains one per network (uniform, balanced): train without --pack"
                )
            archs.append(drawn[0])
        return archs

    def train_step(self) -> None:
        """One optimiser step of every network."""
        x, y = self._batch(self.step)
        archs = self._archs(self.step)
        self.pack.zero_grad()
        logits = self.pack(x, archs)  # [B, K, classes]
        per_image = cross_entropy(logits.permute(0, 2, 1), y, reduction=_PER_IMAGE)
        losses = per_image.mean(0)  # [K]: each network's mean loss
        losses.sum().backward()
        lr = learning_rate(self.settings, self.step, self.total, self.batches_per_epoch)
        self.optimizer.step(self.pack.touched(archs), lr)
        with torch.no_grad():
            batch = y.shape[0]
            self._sums.loss += losses.detach() * batch
            self._sums.acc += (logits.argmax(-1) == y).float().mean(0) * batch
            self._sums.count += batch
        self.step += 1

    # -- the run ------------------------------------------------------------------------
    def fit(self) -> None:
        """Train to the budget, resuming from ``pack.ckpt``; write every network's files."""
        self._resume()
        with faults.defer_preemption():
            while self.step < self.total:
                self.train_step()
                epoch_done = self.step % self.batches_per_epoch == 0 or self.step == self.total
                if epoch_done:
                    self._end_epoch()
                if epoch_done or faults.preemption_signal() is not None:
                    self._save()
                if faults.preemption_signal() is not None:
                    return  # defer_preemption raises Preempted when the block ends
        self._finish()

    def _end_epoch(self) -> None:
        epoch = -(-self.step // self.batches_per_epoch)
        lr = learning_rate(self.settings, self.step - 1, self.total, self.batches_per_epoch)
        seconds = round(time.monotonic() - self._sums.started, 3)
        loss = (self._sums.loss / self._sums.count).tolist()
        acc = (self._sums.acc / self._sums.count).tolist()
        for k, member in enumerate(self.members):
            row = {"epoch": epoch, "step": self.step, "train_loss": loss[k],
                   "train_acc": acc[k], "lr": lr, "seconds": seconds}  # fmt: skip
            self.history[k].append(row)
            member.out_dir.mkdir(parents=True, exist_ok=True)
            text = "".join(json.dumps(r) + "\n" for r in self.history[k])
            atomic_write_text(member.out_dir / "metrics.jsonl", text)
        log.info(
            "pack of %d: epoch %d (step %d/%d), mean train loss %.4f, acc %.4f, %.1f s",
            len(self.members), epoch, self.step, self.total,
            sum(loss) / len(loss), sum(acc) / len(acc), seconds,
        )  # fmt: skip
        self._sums = _EpochSums.zeros(len(self.members), self.device)

    # -- checkpoint ---------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {
            "format": PACK_FORMAT,
            "version": PACK_VERSION,
            "members": [m.record() for m in self.members],
            "settings": dataclasses.asdict(self.settings),
            "compute": self._compute(),
            "step": self.step,
            "pack": {k: v.cpu() for k, v in self.pack.state_dict().items()},
            "optimizer": {k: v.cpu() for k, v in self.optimizer.state_dict().items()},
            "sums": {
                "loss": self._sums.loss.cpu(),
                "acc": self._sums.acc.cpu(),
                "count": self._sums.count,
            },  # fmt: skip
            "history": self.history,
        }

    def _compute(self) -> dict[str, Any]:
        """Where the pack computes (:func:`~fewshot.training.trainer.compute_record`'s fields)."""
        return {"device": self.device.type, "threads": torch.get_num_threads(), **cpu_arithmetic()}

    def _save(self) -> None:
        state = self.state_dict()
        self.pack_dir.mkdir(parents=True, exist_ok=True)
        atomic_write(self.pack_dir / PACK_CHECKPOINT, lambda f: torch.save(state, f))

    def _resume(self) -> None:
        path = self.pack_dir / PACK_CHECKPOINT
        state = load_checkpoint(path, _PACK_KEYS) if path.is_file() else None
        if state is None:  # none yet, or unreadable and set aside: the pack trains from step 0
            return
        mine = self.state_dict()
        for key in ("members", "settings"):
            if state.get(key) != mine[key]:
                raise ValueError(
                    f"{path} belongs to another pack ({key} differ); use another folder "
                    "or delete it to start over"
                )
        diff = compute_difference(state.get("compute", {}), mine["compute"])
        if diff:
            raise UsageError(
                f"{path} was trained with another {', '.join(diff)}: the float sums, and so the "
                "weights, would differ; resume it with its device and --threads"
            )
        self.pack.load_state_dict(state["pack"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.step = int(state["step"])
        sums = state["sums"]
        self._sums = _EpochSums(sums["loss"].to(self.device), sums["acc"].to(self.device),
                                int(sums["count"]))  # fmt: skip
        self.history = state["history"]
        log.info("pack of %d: resumed at step %d/%d from %s",
                 len(self.members), self.step, self.total, path)  # fmt: skip

    # -- outputs ------------------------------------------------------------------------
    def network(self, k: int) -> Supernet:
        """Network ``k`` as its own supernet (its mask's ops), trained weights loaded."""
        member = self.members[k]
        net = space_of(member.mask).build_supernet(
            C=self.settings.C, N=self.settings.N, num_classes=self.settings.num_classes,
            candidates=member.mask,
        )  # fmt: skip
        state = self.pack.member_state(k, self.keys[k])
        state["mask"] = net.state_dict()["mask"]
        net.load_state_dict(state)
        net.mode = "single_path"
        return net

    def _finish(self) -> None:
        for k, member in enumerate(self.members):
            net = self.network(k)
            member.out_dir.mkdir(parents=True, exist_ok=True)
            atomic_write(
                member.out_dir / "weights.pt", lambda f, n=net: torch.save(n.state_dict(), f)
            )
            last = self.history[k][-1] if self.history[k] else {}
            atomic_write_json(
                member.out_dir / "done.json",
                {
                    "epochs": -(-self.step // self.batches_per_epoch),
                    "global_step": self.step,
                    "world_size": 1,
                    "fast_dev_run": False,
                    "resumed_from": None,
                    "protocol": "scratch" if member.inherit_from is None else "inherited",
                    "mask": member.mask.to_op_lists(),
                    "sampling": self.settings.sampling,
                    "metrics": {
                        k_: v for k_, v in last.items() if k_ in ("train_loss", "train_acc")
                    },
                    "pack": {"size": len(self.members), "index": k, "folder": str(self.pack_dir)},
                    "compute": self._compute(),
                }
                | ({} if member.group is None else {"group": member.group.to_dict()}),
            )


def datamodule_batches(datamodule: Any) -> tuple[Batches, int]:
    """A data module's training batches as ``(epoch, b) -> (images, labels)`` and their number
    per epoch: the tensor path's :class:`~fewshot.data.tensor.TrainBatches`, the batches
    ``fewshot.train`` gives the same network alone. Data sets on the loader path (too large
    to hold decoded) cannot be packed."""
    from fewshot.data.tensor import TrainBatches

    datamodule.setup("fit")
    tensors = getattr(datamodule, "_tensors", None)
    if tensors is None:
        raise ValueError(
            f"{datamodule.name}: a pack trains from the decoded tensors (--data-path tensor); "
            "this data set is on the loader path"
        )
    batches = TrainBatches(
        tensors[0], datamodule.train_indices, datamodule.batch_size, datamodule.seed,
        datamodule.augmentation(),
    )  # fmt: skip

    def batch(epoch: int, b: int) -> tuple[Tensor, Tensor]:
        return batches[(epoch, b)]

    return batch, len(batches)


def network_bytes(settings: PackSettings, space: Any, batch: int, image_size: int) -> int:
    """Memory one network of a pack needs on its device: what autograd saves in one training
    step at ``batch`` images of ``image_size`` px (measured on a pack of one, on the CPU,
    without training), plus its parameters, gradients and momentum (3 x 4 bytes each)."""
    template = space.build_supernet(C=settings.C, N=settings.N, num_classes=settings.num_classes,
                                    candidates=space.full_mask())  # fmt: skip
    pack = PackedSupernet(template, 1)
    saved = 0

    def count(t: Tensor) -> Tensor:
        nonlocal saved
        saved += t.numel() * t.element_size()
        return t

    x = torch.zeros(batch, 1, 3, image_size, image_size)
    rng = np.random.default_rng(0)
    most = 0
    for _ in range(8):  # the heaviest of a few archs drawn at random
        saved = 0
        with torch.autograd.graph.saved_tensors_hooks(count, lambda t: t):
            pack(x, [space.sample(None, rng)], update_stats=False)
        most = max(most, saved)
    return most + 3 * 4 * pack.flat.numel()


def auto_pack_size(
    settings: PackSettings, space: Any, batch: int, image_size: int, device: torch.device | str
) -> int:
    """How many networks fit in a pack on ``device``: half its free memory (the CPU's
    available memory, a GPU's free memory) over :func:`network_bytes`, at least 1."""
    device = torch.device(device)
    if device.type == "cuda":
        free = torch.cuda.mem_get_info(device)[0]
    else:
        free = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    return max(1, int(0.5 * free // max(1, network_bytes(settings, space, batch, image_size))))


def chunks(items: Sequence[Any], size: int | None) -> list[list[Any]]:
    """``items`` in packs of at most ``size`` (None: one pack)."""
    size = size or len(items)
    return [list(items[i : i + size]) for i in range(0, len(items), size)]
