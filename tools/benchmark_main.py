"""The main command's splitting time as a multiple of one full-supernet forward+backward.

Issue #10's yardstick: ``python -m fewshot.split --metric snip --depth 3 --branch 2`` (default
recipe) must split in at most 10x the time of one forward+backward of the full supernet at
batch 64 (``tools/benchmark_supernet.py``), both measured in one run on the same machine.
This script does both in one process, in the same thread setting: the supernet pass (median
of ``--repeats``, before and after the split, averaged), then the main command in-process
(its splitting time is ``tree.json``'s ``total_seconds``, i.e. without start-up and data
loading). It reports wall seconds and, because a shared machine inflates wall time, CPU
seconds of this process too (``time.process_time``), and one JSON line.

    .venv/bin/python tools/benchmark_main.py --threads 2

``--space NAME`` times another search space's supernet (its default size) and splits it.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch import nn

from fewshot.spaces import SearchSpace, get_space, space_names


def fwd_bwd_seconds(space: SearchSpace, batch: int, repeats: int) -> tuple[float, float]:
    """(median wall, median CPU) seconds of one CE forward+backward of the space's full
    supernet at its default size (NB201: C=16, N=5)."""
    torch.manual_seed(0)
    net = space.build_supernet(num_classes=10).train()
    x, y = torch.randn(batch, 3, 32, 32), torch.randint(0, 10, (batch,))
    walls, cpus = [], []
    for i in range(repeats + 1):
        w, c = time.perf_counter(), time.process_time()
        nn.functional.cross_entropy(net(x), y).backward()
        net.zero_grad(set_to_none=True)
        if i:  # the first pass warms up allocators
            walls.append(time.perf_counter() - w)
            cpus.append(time.process_time() - c)
    return statistics.median(walls), statistics.median(cpus)


def split_seconds(flags: list[str], out: Path) -> tuple[float, float, dict]:
    """(wall, CPU) seconds of the main command's splitting, and its tree's timings."""
    from fewshot.split import main as split_main
    from fewshot.splitting.tree import load_tree

    cpu0 = time.process_time()
    code = split_main([*flags, "--out", str(out), "--name", "bench", "--no-progress"])
    cpu = time.process_time() - cpu0
    if code:
        raise SystemExit(f"fewshot.split exited {code}")
    tree = load_tree(out / "bench")
    return float(tree.timings["total_seconds"]), cpu, dict(tree.timings)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=torch.get_num_threads())
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--metric", default="snip")
    p.add_argument("--space", default="nb201", choices=space_names())
    p.add_argument("--extra", default="", help="more fewshot.split flags, space separated")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    space = get_space(args.space)
    before = fwd_bwd_seconds(space, 64, args.repeats)
    flags = ["--metric", args.metric, "--depth", "3", "--branch", "2", "--threads",
             str(args.threads), *args.extra.split()]  # fmt: skip
    if args.space != "nb201":
        flags += ["--space", args.space]
    with tempfile.TemporaryDirectory() as tmp:
        split_wall, split_cpu_all, timings = split_seconds(flags, Path(tmp))
    after = fwd_bwd_seconds(space, 64, args.repeats)
    unit_wall = (before[0] + after[0]) / 2
    unit_cpu = (before[1] + after[1]) / 2
    result = {
        "command": "python -m fewshot.split " + " ".join(flags),
        "threads": args.threads,
        "fwd_bwd_b64_wall_s": round(unit_wall, 3),
        "fwd_bwd_b64_cpu_s": round(unit_cpu, 3),
        "split_wall_s": split_wall,
        "ratio_wall": round(split_wall / unit_wall, 2),
        "command_cpu_s_incl_data_loading": round(split_cpu_all, 2),
        "ratio_cpu_upper_bound": round(split_cpu_all / unit_cpu, 2),
        "passes": {k: timings.get(k) for k in ("forward_passes", "backward_passes")},
        "load_avg_1min": os.getloadavg()[0],
        "torch": torch.__version__,
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
