"""Whole-space evaluation time (issue 30): every arch of a space scored on a supernet.

Per arch: BatchNorm recalibrated on ``--calib-batches`` training batches of the cached tensors,
then accuracy on ``--held-out`` held-out images. Measured in one run, interleaved per repeat
on the same ``--archs`` sample: today's per-arch evaluation (the ranking study's:
``recalibrate_bn``'s per-batch loop, then ``correctness``) and
:func:`fewshot.training.whole_space.score_arch` (one grouped recalibration forward,
``inference_mode``); their predictions are compared. The whole-space time is projected from
the new per-arch time and the archs :func:`~fewshot.training.whole_space.score_space`
actually scores (one per set of equal live ops: 12,205 of NB201's 15,625); ``--full`` also
scores the whole space for real (resumable CSV in a temporary folder) and times it::

    python tools/benchmark_whole_space.py --threads 2 --data-root ../shared/data/cifar10-subset \\
        --archs 100 --repeats 3 --out docs/training/whole_space_benchmark.json

The supernet is freshly initialised (``--seed``), or ``--weights`` (a ``weights.pt`` of a
full-space supernet of the same C and N): timing does not depend on the weights.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fewshot.data import make_datamodule  # noqa: E402
from fewshot.io import atomic_write_json  # noqa: E402
from fewshot.spaces import get_space  # noqa: E402
from fewshot.training.module import reinitialise  # noqa: E402
from fewshot.training.search import recalibrate_bn, take_batches  # noqa: E402
from fewshot.training.whole_space import (  # noqa: E402
    live_ops,
    score_arch,
    score_space,
    stack_calibration,
)


def _load() -> float | None:
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:
        return None


def today(model: Any, arch: Any, calib: list, x: torch.Tensor, y: torch.Tensor) -> float:
    """The ranking study's per-arch evaluation (``score_grid`` at one setting)."""
    from fewshot.experiments.ranking_budget import correctness

    recalibrate_bn(model, arch, calib)
    return 100.0 * float(correctness(model, arch, x, y).mean())


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--space", default="nb201")
    p.add_argument("--C", type=int, default=4)
    p.add_argument("--N", type=int, default=1)
    p.add_argument("--image-size", type=int, default=8)
    p.add_argument("--batch-size", type=int, default=64, help="calibration batch size")
    p.add_argument("--calib-batches", type=int, default=16)
    p.add_argument("--held-out", type=int, default=2000)
    p.add_argument("--archs", type=int, default=100, help="timed sample (both paths)")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data-root", type=Path, help="ImageFolder tree (default: synthetic)")
    p.add_argument("--weights", type=Path, help="a full-space supernet's weights.pt")
    p.add_argument("--full", action="store_true", help="also score the whole space, timed")
    p.add_argument("--out", type=Path)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    os.environ.setdefault("FEWSHOT_CACHE", str(Path(tempfile.gettempdir()) / "fewshot-bench"))
    opts = {"batch_size": args.batch_size, "image_size": args.image_size, "val_fraction": 0.2,
            "data_path": "tensor"}  # fmt: skip
    dm = (make_datamodule("folder", data_root=args.data_root, **opts) if args.data_root
          else make_datamodule("synthetic", num_train=10_000, num_test=2_000, **opts))  # fmt: skip
    dm.setup("fit")
    calib = take_batches(dm.train_dataloader(), args.calib_batches, torch.device("cpu"))
    held = take_batches(dm.val_dataloader(), None, torch.device("cpu"))
    x = torch.cat([b[0] for b in held])[: args.held_out]
    y = torch.cat([b[1] for b in held])[: args.held_out]
    space = get_space(args.space)
    net = space.build_supernet(C=args.C, N=args.N, num_classes=dm.num_classes,
                               candidates=space.full_mask())  # fmt: skip
    net.mode = "single_path"
    if args.weights:
        net.load_state_dict(torch.load(args.weights, map_location="cpu", weights_only=True))
    else:
        reinitialise(net, args.seed)
    archs = list(space.all_archs())
    sample = random.Random(args.seed).sample(archs, args.archs)
    stacked, group = stack_calibration(calib)
    report: dict[str, Any] = {
        "format": "fewshot.whole-space-benchmark", "space": space.name, "C": args.C, "N": args.N,
        "image_size": args.image_size, "calib_batches": args.calib_batches,
        "calib_batch_size": group, "held_out": len(y), "archs_timed": args.archs,
        "threads": args.threads, "cpus": os.cpu_count(), "torch": torch.__version__,
        "data_root": str(args.data_root), "weights": str(args.weights) if args.weights else None,
        "when": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()), "runs": [],
    }  # fmt: skip
    work = copy.deepcopy(net)
    today(work, sample[0], calib, x, y), score_arch(work, sample[0], stacked, group, x, y)
    for r in range(args.repeats):
        row: dict[str, Any] = {"repeat": r, "load_1min": _load()}
        results = {}
        for name, fn in (("today", lambda a: today(work, a, calib, x, y)),
                         ("grouped", lambda a: score_arch(work, a, stacked, group, x, y))):  # fmt: skip
            start = time.perf_counter()
            results[name] = [fn(a) for a in sample]
            row[f"{name}_ms_per_arch"] = round(
                1000 * (time.perf_counter() - start) / len(sample), 2
            )
        diffs = [abs(a - b) for a, b in zip(results["today"], results["grouped"], strict=True)]
        row["max_abs_diff_percent"] = max(diffs)
        row["archs_differing"] = sum(d > 0 for d in diffs)
        row["speedup"] = round(row["today_ms_per_arch"] / row["grouped_ms_per_arch"], 3)
        report["runs"].append(row)
        print(json.dumps(row), flush=True)
    unique = len({live_ops(a) for a in archs})
    per_arch = statistics.median(r["grouped_ms_per_arch"] for r in report["runs"]) / 1000
    per_arch_today = statistics.median(r["today_ms_per_arch"] for r in report["runs"]) / 1000
    report |= {"space_archs": len(archs), "scored_archs": unique,
               "today_whole_space_s_projected": round(per_arch_today * len(archs), 1),
               "whole_space_s_projected": round(per_arch * unique, 1),
               "speedup_median": round(per_arch_today * len(archs) / (per_arch * unique), 2)}  # fmt: skip
    if args.full:
        with tempfile.TemporaryDirectory() as tmp:
            start = time.perf_counter()
            score_space(net, archs, calib, x, y, Path(tmp) / "whole.csv", progress=False)
            report["whole_space_s"] = round(time.perf_counter() - start, 1)
    report["load_1min_after"] = _load()
    print(json.dumps({k: v for k, v in report.items() if k != "runs"}, indent=1))
    if args.out:
        atomic_write_json(args.out, report)


if __name__ == "__main__":
    main()
