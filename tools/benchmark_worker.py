"""A worker process for ``tools/benchmark_metrics.py``: time the proxies, or watch memory.

It imports ``fewshot`` from the source folder given first (the working tree, or an older
revision extracted by ``benchmark_metrics.py proxies --compare-rev REV``), so two versions can
be timed side by side, one process each, arch after arch. It uses only APIs that older
revisions have too (``ProbeCache``, ``get_metric``, ``build_network``, ``initialize``,
``score_archs``).

- ``proxies``: reads arch strings on stdin, one per line; for each writes one JSON line: the
  build time, each metric's time in the order asked (a metric's time includes the shared
  passes it is the first to need), every probe's time, and the values. Times are
  ``[wall, cpu]`` seconds of this process.
- ``memory``: scores ``--num`` sampled archs through :func:`fewshot.scoring.score_archs` (the
  bulk-scoring path, CSV included) and prints the resident set size after every ``--every``
  archs and the peak at the end (``ru_maxrss``), as JSON lines.

Both read the scoring batches from a file ``torch.save``d by the parent (identical data for
both versions).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python tools/benchmark_worker.py")
    p.add_argument("src", type=Path, help="folder holding the fewshot package to import")
    p.add_argument("mode", choices=("proxies", "memory"))
    p.add_argument("data", type=Path, help="torch.save'd {'batches': [(x, y)], 'num_classes'}")
    p.add_argument("--metrics", required=True, help="comma-separated metric names")
    p.add_argument("--C", type=int, default=16)
    p.add_argument("--N", type=int, default=5)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--num", type=int, default=100, help="memory: archs to score")
    p.add_argument("--every", type=int, default=100, help="memory: RSS sample period (archs)")
    p.add_argument("--csv", type=Path, help="memory: the scores CSV to write")
    return p.parse_args(argv)


def clocked(fn: Callable[[], Any]) -> tuple[Any, list[float]]:
    """``(fn(), [wall seconds, CPU seconds of this process])``."""
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn()
    return out, [time.perf_counter() - wall, time.process_time() - cpu]


def time_proxies(args: argparse.Namespace, data: Any, arch: str) -> dict[str, Any]:
    """Build ``arch`` (seeded init) and compute each metric on one shared probe cache."""
    import torch

    from fewshot.metrics import get_metric
    from fewshot.metrics.base import ProbeCache
    from fewshot.models.init import initialize
    from fewshot.models.supernet import build_network

    metrics = args.metrics.split(",")

    def build() -> Any:
        torch.manual_seed(args.seed)
        net = build_network(arch, C=args.C, N=args.N, num_classes=data.num_classes)
        return initialize(net, "pytorch")

    net, build_time = clocked(build)
    cache = ProbeCache(net, data, seed=args.seed, metrics=metrics)
    times, values, errors = {}, {}, {}
    for m in metrics:
        try:
            result, times[m] = clocked(lambda m=m: get_metric(m).fn(cache))
            values[m] = float(getattr(result, "value", result))
        except Exception as exc:  # an undefined metric on this arch: record, go on
            errors[m] = f"{type(exc).__name__}: {exc}"
    return {
        "arch": arch, "build": build_time, "metrics": times,
        "probes": dict(cache.probe_seconds), "values": values, "errors": errors,
    }  # fmt: skip


def rss_mb() -> float:
    """Current resident set size (MiB), from /proc (Linux)."""
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far (MiB; ``ru_maxrss`` is KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def watch_memory(args: argparse.Namespace, data: Any) -> None:
    """Score ``--num`` archs in chunks of ``--every`` into one CSV; one JSON line per chunk."""
    from fewshot.scoring import ScoreFile, ScoringSpec, sample_archs, score_archs

    archs = sample_archs(args.num, args.seed)
    store = ScoreFile(args.csv, args.metrics.split(","))
    spec = ScoringSpec(C=args.C, N=args.N, seed=args.seed)
    start = time.perf_counter()
    for i in range(0, len(archs), args.every):
        score_archs(archs[i : i + args.every], data, store, spec, progress=False)
        done = min(i + args.every, len(archs))
        row = {"archs": done, "rss_mb": rss_mb(), "peak_rss_mb": peak_rss_mb(),
               "seconds": time.perf_counter() - start}  # fmt: skip
        print(json.dumps(row), flush=True)


def load_data(path: Path) -> Any:
    import torch

    from fewshot.metrics import ScoringData

    saved = torch.load(path, weights_only=True)
    return ScoringData(tuple((x, y) for x, y in saved["batches"]), int(saved["num_classes"]))


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    os.environ["OMP_NUM_THREADS"] = str(args.threads)
    sys.path.insert(0, str(args.src.resolve()))
    import torch

    torch.set_num_threads(args.threads)
    import fewshot

    print(json.dumps({"fewshot": fewshot.__file__}), flush=True)  # which version runs
    data = load_data(args.data)
    if args.mode == "memory":
        watch_memory(args, data)
        return 0
    for line in sys.stdin:
        if line.strip():
            print(json.dumps(time_proxies(args, data, line.strip())), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
