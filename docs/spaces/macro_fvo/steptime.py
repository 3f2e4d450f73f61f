"""Single-path SGD step time of the NAS-Bench-Macro supernet on one CPU thread.

Batch 64 of random images, cross-entropy, Nesterov SGD; a new uniformly drawn path every step
(``single_path`` mode), so the spread is the paths' (an all-identity path to all mb6k5). Per
``CxPIXELS`` argument: mean, min and max over 10 steps after 2 warm-up steps::

    OMP_NUM_THREADS=1 PYTHONPATH=$PWD python docs/spaces/macro_fvo/steptime.py 4x8 4x16 32x32
"""

from __future__ import annotations

import sys
import time

import numpy as np
import torch

from fewshot.models.macro import MacroSupernet


def step_times(C: int, pixels: int, steps: int = 12, warmup: int = 2) -> list[float]:
    """Seconds per training step of the width-``C`` supernet on ``pixels``-px images."""
    torch.manual_seed(0)
    net = MacroSupernet(C=C, N=1, mode="single_path")
    opt = torch.optim.SGD(net.parameters(), lr=0.025, momentum=0.9, nesterov=True)
    x, y = torch.randn(64, 3, pixels, pixels), torch.randint(0, 10, (64,))
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        opt.zero_grad()
        torch.nn.functional.cross_entropy(net(x), y).backward()
        opt.step()
        times.append(time.perf_counter() - start)
    return times[warmup:]


if __name__ == "__main__":
    torch.set_num_threads(1)
    for item in sys.argv[1:]:
        C, pixels = (int(v) for v in item.split("x"))
        ms = 1000 * np.array(step_times(C, pixels))
        print(f"C={C} px={pixels}: mean {ms.mean():.1f} ms, min {ms.min():.1f} max {ms.max():.1f}")
