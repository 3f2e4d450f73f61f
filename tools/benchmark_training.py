"""Training throughput of a sub-supernet (images/s): ``LeafModule`` steps with SGD, no I/O.

Runs the same step the Lightning loop runs (single path sampled inside the mask, forward,
cross-entropy, backward, gradient clipping at 5, SGD Nesterov) on random 32x32 images, after a
few warm-up steps, and prints one JSON line. The path changes every step (as in training), so
the number is an average over paths of the full space; the machine's load average (1 min) before
and after the timing is in the output, since a busy CPU slows it down.

    .venv/bin/python tools/benchmark_training.py                      # C=16, N=5, batch 64
    .venv/bin/python tools/benchmark_training.py --threads 1 --steps 10
    .venv/bin/python tools/benchmark_training.py --device cuda --C 16 --N 5
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

import torch

from fewshot.models.supernet import Supernet
from fewshot.space import Mask
from fewshot.training.module import LeafModule, path_generator


def measure(
    *, C: int, N: int, batch_size: int, steps: int, warmup: int, device: str, seed: int = 0
) -> dict[str, float | int | str]:
    """Time ``steps`` training steps of the full-space supernet; returns images/s and more."""
    net = Supernet(C=C, N=N, num_classes=10, candidates=Mask.full())
    module = LeafModule(net, seed=seed).to(device)
    optimizer = torch.optim.SGD(
        module.parameters(), lr=0.025, momentum=0.9, weight_decay=5e-4, nesterov=True
    )
    x = torch.randn(batch_size, 3, 32, 32, device=device)
    y = torch.randint(0, 10, (batch_size,), device=device)

    def step(i: int) -> None:
        arch = net.sample_arch(path_generator(seed, i))
        loss = torch.nn.functional.cross_entropy(net(x, arch), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 5.0)
        optimizer.step()

    module.train()
    for i in range(warmup):
        step(i)
    _sync(device)
    load_before = _load()
    start = time.perf_counter()
    for i in range(warmup, warmup + steps):
        step(i)
    _sync(device)
    seconds = time.perf_counter() - start
    return {
        "C": C,
        "N": N,
        "batch_size": batch_size,
        "steps": steps,
        "seconds": round(seconds, 3),
        "images_per_s": round(steps * batch_size / seconds, 1),
        "device": device,
        "torch_threads": torch.get_num_threads(),
        "load_1min": [load_before, _load()],
        "cpus": os.cpu_count(),
        "cpu": platform.processor() or platform.machine(),
        "torch": torch.__version__,
    }


def _load() -> float | None:
    """The 1-minute load average (None where the OS has none)."""
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:
        return None


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--C", type=int, default=16)
    p.add_argument("--N", type=int, default=5)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = p.parse_args()
    if min(args.C, args.N, args.batch_size, args.steps) < 1 or args.warmup < 0:
        p.error("--C, --N, --batch-size and --steps must be positive, --warmup >= 0")
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        p.error(f"--device {args.device}: no CUDA device here; use --device cpu")
    if args.threads:
        torch.set_num_threads(args.threads)
    result = measure(
        C=args.C,
        N=args.N,
        batch_size=args.batch_size,
        steps=args.steps,
        warmup=args.warmup,
        device=args.device,
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
