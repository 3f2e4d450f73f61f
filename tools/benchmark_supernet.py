"""Forward/backward time of the maskable supernet (the unit of work a split repeats).

Times one cross-entropy forward + backward of the full supernet (every op on every edge,
``mixture`` mode) and of one single-path arch, after warm-up, and prints one JSON line.

    .venv/bin/python tools/benchmark_supernet.py --C 16 --N 5 --batch-size 64
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time

import torch
from torch import nn

from fewshot.models.supernet import Supernet
from fewshot.spaces.nb201 import Arch, Mask


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--C", type=int, default=16)
    parser.add_argument("--N", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(args.threads)
    net = Supernet(C=args.C, N=args.N, num_classes=10, candidates=Mask.full()).train()
    x = torch.randn(args.batch_size, 3, 32, 32)
    y = torch.randint(0, 10, (args.batch_size,))
    arch = Arch.from_string(
        "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"
    )
    result = {
        "C": args.C,
        "N": args.N,
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
