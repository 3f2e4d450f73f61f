"""Whole-space evaluation: the predicted accuracy of every arch of a space on trained weights.

The per-arch evaluation of the search and of the ranking study (:func:`~fewshot.training.search.
recalibrate_bn`, then held-out accuracy in eval mode) costs one forward per calibration batch,
and a small network's forward is mostly Python and dispatch, not arithmetic. Here the
recalibration is one forward over all calibration batches concatenated, with every BatchNorm
layer normalising each batch-sized group with that group's own statistics and setting its
running statistics to the mean over groups (:func:`grouped_batch_norm`): what the per-batch
loop with ``momentum=None`` (a cumulative average) computes, equal to float tolerance. The
held-out accuracy runs under ``inference_mode`` on tensors kept on the device.

:func:`score_space` scores a list of archs (a whole space: 15,625 NB201 archs, 6,561 of
NAS-Bench-Macro) in chunks, appending each finished chunk to a CSV atomically (the file is
rewritten with the rows so far), so a killed run continues where it stopped.
"""

from __future__ import annotations

import contextlib
import csv
import io
import logging
import math
import time
from collections.abc import Iterator, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn.modules.batchnorm import _BatchNorm
from tqdm import tqdm

from fewshot.io import atomic_write_text
from fewshot.spaces import Arch

log = logging.getLogger("fewshot")

CSV_FIELDS = ("index", "arch", "predicted")
HELD_OUT_BATCH = 1000
"""Held-out examples per eval forward (the ranking study's ``correctness`` batch)."""


def _grouped_forward(bn: _BatchNorm, group: int, x: Tensor) -> Tensor:
    """``bn`` in train mode on ``x`` as if ``x`` were ``len(x) / group`` batches in a row with
    a cumulative-average (``momentum=None``) update of running statistics from reset."""
    shape = x.shape
    groups = shape[0] // group
    xg = x.reshape(groups, group, shape[1], -1)
    var, mean = torch.var_mean(xg, dim=(1, 3), unbiased=False)  # (groups, C)
    scale = torch.rsqrt(var + bn.eps)
    if bn.weight is not None:
        scale = scale * bn.weight
    shift = -mean * scale
    if bn.bias is not None:
        shift = shift + bn.bias
    y = torch.addcmul(shift[:, None, :, None], xg, scale[:, None, :, None])
    n = group * xg.shape[3]
    with torch.no_grad():
        bn.running_mean.copy_(mean.mean(0))  # type: ignore[union-attr]
        bn.running_var.copy_((var * (n / max(n - 1, 1))).mean(0))  # type: ignore[union-attr]
        bn.num_batches_tracked.add_(groups)  # type: ignore[union-attr]
    return y.reshape(shape)


@contextlib.contextmanager
def grouped_batch_norm(model: nn.Module, group: int) -> Iterator[list[_BatchNorm]]:
    """Inside: every BatchNorm layer of ``model`` that tracks running statistics, reset, treats
    its input as consecutive batches of ``group`` examples (see :func:`_grouped_forward`).
    Each layer must run at most once per forward (true of the supernets here). Yields them."""
    bns = [m for m in model.modules() if isinstance(m, _BatchNorm) and m.track_running_stats]
    for m in bns:
        m.reset_running_stats()
        m.forward = partial(_grouped_forward, m, group)  # type: ignore[method-assign]
    try:
        yield bns
    finally:
        for m in bns:
            del m.forward


@torch.no_grad()
def recalibrate_grouped(model: nn.Module, arch: Arch, calib: Tensor, group: int) -> None:
    """:func:`~fewshot.training.search.recalibrate_bn` on ``calib.split(group)`` in one
    forward (``len(calib)`` a multiple of ``group``)."""
    if len(calib) % group:
        raise ValueError(f"{len(calib)} calibration images are not batches of {group}")
    was_training = model.training
    model.train()
    try:
        with grouped_batch_norm(model, group):
            model(calib, arch)
    finally:
        model.train(was_training)


def held_out_correct(
    model: nn.Module, arch: Arch, x: Tensor, y: Tensor, batch: int = HELD_OUT_BATCH
) -> Tensor:
    """Per held-out image, whether ``model`` on path ``arch`` (eval mode) classifies it right."""
    model.eval()
    with torch.inference_mode():
        hits = [
            model(xb, arch).argmax(1) == yb
            for xb, yb in zip(x.split(batch), y.split(batch), strict=True)
        ]
    return torch.cat(hits)


def score_arch(
    model: nn.Module, arch: Arch, calib: Tensor, group: int, x: Tensor, y: Tensor
) -> float:
    """Held-out accuracy (percent) of ``arch`` after its BatchNorm recalibration on ``calib``."""
    recalibrate_grouped(model, arch, calib, group)
    hits = held_out_correct(model, arch, x, y)
    return 100.0 * (int(hits.sum()) / len(hits))


def live_ops(arch: Arch) -> tuple[str, ...]:
    """``arch``'s ops with those whose output cannot reach the cell's output set to the space's
    zero op (cell spaces with one; other archs: their ops). Archs with equal live ops compute
    the same predictions bit for bit (the dead ops' outputs are never added to a live node), so
    :func:`score_space` scores one of them: 12,205 of NB201's 15,625 archs."""
    space = arch.space
    edges, zero = getattr(space, "edges", None), space.zero_op
    if edges is None or zero is None:
        return tuple(arch.ops)
    live = {space.num_nodes - 1}
    grown = True
    while grown:
        grown = False
        for op, (dst, src) in zip(arch.ops, edges, strict=True):
            if dst in live and op != zero and src not in live:
                live.add(src)
                grown = True
    return tuple(op if dst in live else zero for op, (dst, _) in zip(arch.ops, edges, strict=True))


def stack_calibration(batches: Sequence[tuple[Tensor, Tensor]]) -> tuple[Tensor, int]:
    """The calibration batches as one tensor and their common size (they must be equal-sized:
    BatchNorm statistics averaged over batches depend on the batch size)."""
    sizes = {len(x) for x, _ in batches}
    if len(sizes) != 1:
        raise ValueError(f"calibration batches of several sizes {sorted(sizes)}")
    return torch.cat([x for x, _ in batches]), sizes.pop()


def read_scores(path: Path) -> dict[int, tuple[str, float]]:
    """The rows of a whole-space CSV: ``index -> (arch, predicted)`` (none when absent)."""
    if not path.is_file():
        return {}
    with path.open(newline="", encoding="utf-8") as f:
        return {int(r["index"]): (r["arch"], float(r["predicted"])) for r in csv.DictReader(f)}


def _write_scores(path: Path, rows: dict[int, tuple[str, float]]) -> None:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_FIELDS)
    for i in sorted(rows):
        writer.writerow((i, rows[i][0], repr(rows[i][1])))
    atomic_write_text(path, out.getvalue())


def score_space(
    model: nn.Module,
    archs: Sequence[Arch],
    calib_batches: Sequence[tuple[Tensor, Tensor]],
    held_x: Tensor,
    held_y: Tensor,
    out: Path,
    *,
    chunk: int = 500,
    progress: bool = True,
) -> list[float]:
    """Predicted held-out accuracy (percent) of every arch of ``archs`` (in order), with a
    per-arch BatchNorm recalibration on ``calib_batches``; ``out`` (a CSV: index, arch,
    predicted) gets each finished chunk of ``chunk`` archs, and archs already in it are not
    scored again (a re-run continues). ``model`` is not changed (its BN statistics are
    restored), and must be on the device of the data."""
    done = read_scores(out)
    for i, (text, _) in done.items():
        if i >= len(archs) or archs[i].to_string() != text:
            raise ValueError(f"{out}: row {i} is {text}, not an arch of this list; remove it")
    calib, group = stack_calibration(calib_batches)
    saved = {k: v.clone() for k, v in model.state_dict().items()}
    todo = [i for i in range(len(archs)) if i not in done]
    first_alike: dict[tuple[str, ...], int] = {}
    for i, arch in enumerate(archs):
        first_alike.setdefault(live_ops(arch), i)
    scored: dict[tuple[str, ...], float] = {live_ops(archs[i]): p for i, (_, p) in done.items()}
    bar = tqdm(total=len(archs), initial=len(done), unit="arch", disable=not progress,
               desc="whole space")  # fmt: skip
    start = time.perf_counter()
    try:
        for first in range(0, len(todo), chunk):
            for i in todo[first : first + chunk]:
                key = live_ops(archs[i])
                if key not in scored:
                    arch = archs[first_alike[key]]
                    scored[key] = score_arch(model, arch, calib, group, held_x, held_y)
                if not math.isfinite(scored[key]):
                    raise ValueError(f"arch {archs[i]} got a non-finite accuracy")
                done[i] = (archs[i].to_string(), scored[key])
                bar.update(1)
            _write_scores(out, done)
            log.info("whole space: %d / %d archs scored (%.0f s)", len(done), len(archs),
                     time.perf_counter() - start)  # fmt: skip
    finally:
        bar.close()
        model.load_state_dict(saved)
    return [done[i][1] for i in range(len(archs))]


def space_tau(predicted: Sequence[float], true: Sequence[float], valid: Sequence[bool]) -> Any:
    """Kendall tau (tau-b) of ``predicted`` against ``true`` over the ``valid`` archs."""
    from fewshot.correlation import kendall_tau

    keep = [i for i, v in enumerate(valid) if v]
    return kendall_tau([predicted[i] for i in keep], [true[i] for i in keep])


__all__ = [
    "CSV_FIELDS",
    "grouped_batch_norm",
    "held_out_correct",
    "live_ops",
    "read_scores",
    "recalibrate_grouped",
    "score_arch",
    "score_space",
    "space_tau",
    "stack_calibration",
]
