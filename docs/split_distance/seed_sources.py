"""Which part of a seed makes a metric's splits differ: the initial weights or the batch?

A split run's ``--seed`` sets both the supernet's initialisation and the scoring batch. This
script splits edges 0, 1 and 2 of the full supernet (each a first-level-like split of all 5
ops, the way ``fewshot.split`` scores a node) over K seeds in three conditions:

- ``init``: initialisation seed varies, batch fixed (data seed 0);
- ``data``: batch varies, initialisation fixed (init seed 0);
- ``both``: both vary together, as in the sweep.

and reports, per metric and condition, the external split distance (mean ± std over pairs of
seeds, pooled over the three edges) and the share of seed pairs that split identically.

    OMP_NUM_THREADS=1 python docs/split_distance/seed_sources.py --metrics grad_norm,snip \\
        --seeds 6 --C 8 --N 1 --batch-size 16 --data-root ../shared/data/cifar10-subset
"""

from __future__ import annotations

import argparse
import itertools
import sys
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from fewshot.analysis.split_distance import split_distance  # noqa: E402
from fewshot.data import make_datamodule, scoring_data  # noqa: E402
from fewshot.metrics.base import get_metric  # noqa: E402
from fewshot.spaces.nb201 import Mask  # noqa: E402
from fewshot.splitting.candidates import evaluate_edge  # noqa: E402
from fewshot.splitting.engine import initial_supernet  # noqa: E402
from fewshot.splitting.partition import best_partition  # noqa: E402

CONDITIONS = ("init", "data", "both")
EDGES = (0, 1, 2)


def seeds_for(condition: str, k: int) -> list[tuple[int, int]]:
    """(init seed, data seed) pairs of a condition."""
    return {
        "init": [(s, 0) for s in range(k)],
        "data": [(0, s) for s in range(k)],
        "both": [(s, s) for s in range(k)],
    }[condition]


def splits_of(args: argparse.Namespace, metric: str, init: int, data_seed: int) -> list:
    """Partitions (op-name groups) of edges 0-2 of the full supernet for one seed pair."""
    dm = make_datamodule(
        args.dataset, data_root=args.data_root, batch_size=args.batch_size, seed=data_seed
    )
    batches = 2 if get_metric(metric).kind == "pairwise" else 1
    data = scoring_data(dm, num_batches=batches, batch_size=args.batch_size, seed=data_seed)
    net = initial_supernet(C=args.C, N=args.N, num_classes=data.num_classes, seed=init)
    mask = Mask.full()
    out = []
    for edge in EDGES:
        ev = evaluate_edge(net, mask, edge, metric, data, seed=init)
        out.append(best_partition(ev.distance, 2).labelled(ev.ops))
    return out


def summarise(per_seed: list[list]) -> tuple[float, float, float]:
    """(mean, std, share identical) of the distance over seed pairs, pooled over edges."""
    d = [
        split_distance(a[e], b[e])
        for a, b in itertools.combinations(per_seed, 2)
        for e in range(len(EDGES))
    ]
    arr = np.asarray(d, dtype=float)
    return float(arr.mean()), float(arr.std(ddof=1)), float(np.mean(arr == 0.0))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--metrics", default="grad_norm,snip")
    p.add_argument("--conditions", default=",".join(CONDITIONS))
    p.add_argument("--seeds", type=int, default=6)
    p.add_argument("--C", type=int, default=8)
    p.add_argument("--N", type=int, default=1)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--dataset", default="folder")
    p.add_argument("--data-root", type=Path, default=Path("../shared/data/cifar10-subset"))
    args = p.parse_args()
    torch.set_num_threads(1)
    print(f"C={args.C} N={args.N} batch={args.batch_size}, {args.seeds} seeds, edges {EDGES}")
    print("| metric | varies | external distance | identical pairs |\n| --- | --- | --- | --- |")
    for metric in args.metrics.split(","):
        for cond in args.conditions.split(","):
            per_seed = [splits_of(args, metric, i, d) for i, d in seeds_for(cond, args.seeds)]
            mean, std, same = summarise(per_seed)
            print(f"| {metric} | {cond} | {mean:.2f} ± {std:.2f} | {same:.0%} |", flush=True)


if __name__ == "__main__":
    main()
