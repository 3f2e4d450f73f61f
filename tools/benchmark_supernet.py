"""Forward/backward time of the maskable supernet (the unit of work a split repeats).

Times one cross-entropy forward + backward of the full supernet (every op on every edge,
``mixture`` mode) and of one single-path arch, after warm-up, and prints one JSON line.

    .venv/bin/python tools/benchmark_supernet.py --C 16 --N 5 --batch-size 64

``--space NAME`` times another search space's supernet (``--C`` / ``--N`` default to its
size); the single-path arch is ``--arch`` (default: the arch with the most parametric ops,
first in code order; NB201's historical choice was its best CIFAR-10 arch, pass it with
``--arch``).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time

import torch
from torch import nn

from fewshot.spaces import Arch, SearchSpace, get_space, space_names


def time_fwd_bwd(net: nn.Module, x: torch.Tensor, y: torch.Tensor, repeats: int, **kw) -> float:
    """Median seconds of one forward + backward of ``net`` on ``(x, y)``."""
    times = []
    for i in range(repeats + 1):
        start = time.perf_counter()
        loss = nn.functional.cross_entropy(net(x, **kw), y)
        loss.backward()
        net.zero_grad(set_to_none=True)
        if i:  # the first pass warms up allocators and kernels
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def most_parametric_arch(space: SearchSpace) -> Arch:
    """The arch with the most parametric ops (the first in code order among ties)."""
    return max(space.all_archs(), key=space.num_parametric)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--space", default="nb201", choices=space_names())
    parser.add_argument("--C", type=int, default=None, help="default: the space's")
    parser.add_argument("--N", type=int, default=None, help="default: the space's")
    parser.add_argument("--arch", default=None, help="single-path arch (the space's string)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(args.threads)
    space = get_space(args.space)
    net = space.build_supernet(C=args.C, N=args.N, num_classes=10).train()
    x = torch.randn(args.batch_size, 3, 32, 32)
    y = torch.randint(0, 10, (args.batch_size,))
    arch = space.Arch.from_string(args.arch) if args.arch else most_parametric_arch(space)
    size = space.model_options(args.C, args.N)
    result = {
        "space": space.name,
        "C": size.get("C"),
        "N": size.get("N"),
        "arch": arch.to_string(),
        "batch_size": args.batch_size,
        "threads": args.threads,
        "params_M": sum(p.numel() for p in net.parameters()) / 1e6,
        "mixture_fwd_bwd_s": time_fwd_bwd(net, x, y, args.repeats),
        "single_path_fwd_bwd_s": time_fwd_bwd(net, x, y, args.repeats, arch=arch),
        "load_avg_1min": os.getloadavg()[0],
        "torch": torch.__version__,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
