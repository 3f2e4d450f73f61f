"""Time fewshot's main jobs on a GPU and on the same machine's CPUs, as one JSON document.

For a lent GPU machine with a short budget: one command, under 8 minutes, nothing installed or
downloaded at run time (``pip install -e .`` first). Phases, each a real fewshot command in a
subprocess with its own time budget (cut to what is left of ``--budget``; a phase that would
get less than :data:`MIN_PHASE_S` is skipped and says so):

- ``split``: the main command, ``python -m fewshot.split --metric snip --depth 3 --branch 2``
  (default recipe, C=16, N=5); the splitting time is the tree's ``timings.total_seconds``;
- ``score``: the six zero-cost-nas proxies at batch 64 through ``python -m fewshot.score``:
  1,000 archs on the GPU, ``--cpu-score-archs`` on the CPU (reported per arch; a phase cut
  short reports the archs it finished, from its CSV, and the time projected for all);
- ``train``: one epoch of the first leaf of that tree (``python -m fewshot.train --leaf ID
  --epochs 1 --no-search``) on the CIFAR-10 subset; on the CPU ``--cpu-train-batches``
  batches of it (reported as images per second of training, from ``metrics.jsonl``);
- ``data`` (GPU side): ``tools/benchmark_training.py --data-paths`` on the accelerator:
  training images/s at C=16, N=5 and C=8, N=1 (32 px) with the old per-image loader
  (``--num-workers`` workers), the decoded-tensor path (data on the device) and random
  tensors, and held-out scoring archs/s (BN recalibration + accuracy per arch);
- ``pack``: packs of K whole supernets trained together (``tools/benchmark_training.py
  --pack-throughput``): images/s summed over the networks beside one alone, at C=16, N=5 and
  C=5, N=5 (32 px) on the GPU, at the ranking study's C=4, N=1, 8 px on the CPU.

The GPU phases run first, then the CPU ones (``--threads``, default every core), then the
ratios CPU/GPU. The JSON is rewritten after every phase (a run cut short keeps what it did).
``--data-root`` names the CIFAR-10 ImageFolder tree; when it is absent the script uses the
synthetic data set (same image count) and says so under ``data``. ``--quick`` runs every
phase at a tiny size (C=4, N=1, depth 2, a few archs and batches) to check the script on a
CPU-only machine.

Example (the GPU machine, the subset carried in as ``runs/cifar10-subset``)::

    python tools/device_check.py --data-root runs/cifar10-subset --out $OUT/device_check.json
"""

from __future__ import annotations

import csv
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fewshot.cli import run_main  # noqa: E402
from fewshot.config import CommonOptions, option, parse_config  # noqa: E402
from fewshot.io import atomic_write_json  # noqa: E402
from fewshot.run_folder import TREE  # noqa: E402

SIX = "grad_norm,snip,grasp,fisher,synflow,jacob_cov"
MIN_PHASE_S = 15.0
# (side, phase) -> share of the budget: GPU first (what the machine is lent for), CPU after.
# A phase gets its share of what is left over the phases still to run, so time a phase does
# not use goes to the next ones. Scoring 1,000 archs dominates: 0.30 s per arch on an H200
# (docs/device), so about 315 s with start-up, which the GPU score phase gets of the default
# 450 s once the split (~25 s) is done; the CPU phases are scaled down to fit the rest.
SHARES = {
    ("gpu", "split"): 0.08, ("gpu", "score"): 0.62, ("gpu", "train"): 0.07,
    ("gpu", "data"): 0.04, ("gpu", "pack"): 0.06,
    ("cpu", "split"): 0.04, ("cpu", "score"): 0.04, ("cpu", "train"): 0.03,
    ("cpu", "pack"): 0.02,
}  # fmt: skip


@dataclass(kw_only=True)
class DeviceCheckConfig(CommonOptions):
    """Time the main jobs on a GPU and on the machine's CPUs (JSON on stdout and in --out).

    ``--device`` is the GPU (default: cuda when available, else the GPU phases run on the CPU
    and the JSON says so); ``--threads`` the CPU phases' torch threads (default: every core).
    """

    out: Path = option(Path("runs/device_check.json"), help="JSON file written")
    data_root: Path = option(
        Path("shared/data/cifar10-subset"),
        help="CIFAR-10 ImageFolder tree (train/, test/); synthetic data when absent",
    )
    budget: float = option(450.0, help="seconds for every phase together", minimum=30)
    quick: bool = option(False, help="tiny sizes: check the script itself in a minute on a CPU")
    score_archs: int = option(1000, help="archs scored on the GPU", minimum=1)
    cpu_score_archs: int = option(20, help="archs scored on the CPU", minimum=1)
    cpu_train_batches: int = option(30, help="training batches on the CPU", minimum=1)
    data_score_archs: int = option(50, help="archs scored in the data phase", minimum=1)
    num_workers: int = option(4, help="data loader workers for training", minimum=0)
    work: Path | None = option(None, help="folder for the runs (default: a temporary one)")

    def resolve(self) -> DeviceCheckConfig:
        if self.quick:
            self.score_archs, self.cpu_score_archs = min(self.score_archs, 4), 2
            self.cpu_train_batches, self.num_workers = 2, 0
        return self


@dataclass(frozen=True)
class Size:
    """The model and data sizes of a run (full, or ``--quick``)."""

    C: int
    N: int
    depth: int
    batch_size: int
    train_limit: int | None  # training batches on the GPU (None: the whole epoch)

    @classmethod
    def of(cls, quick: bool) -> Size:
        return cls(4, 1, 2, 8, 2) if quick else cls(16, 5, 3, 64, None)


# -- running one phase --------------------------------------------------------------------------


@dataclass
class Context:
    """What every phase needs: options, sizes, data flags, where to write, the clock."""

    config: DeviceCheckConfig
    size: Size
    data_flags: list[str]
    work: Path
    gpu: str
    cpu_threads: int
    start: float

    def remaining(self) -> float:
        return self.config.budget - (time.monotonic() - self.start)


def run_command(argv: list[str], timeout: float, threads: int | None) -> dict[str, Any]:
    """Run ``python -m <argv>`` with a timeout (its whole process group killed on expiry);
    wall seconds, exit code, the tail of its output, ``timed_out``."""
    env = dict(os.environ)
    if threads is not None:
        env["OMP_NUM_THREADS"] = str(threads)
    start = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-m", *argv], cwd=ROOT, env=env, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True, start_new_session=True,
    )  # fmt: skip
    try:
        out, _ = proc.communicate(timeout=timeout)
        timed_out = False
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        timed_out = True
    return {
        "command": "python -m " + " ".join(argv),
        "wall_s": round(time.monotonic() - start, 3),
        "returncode": proc.returncode,
        "timed_out": timed_out,
        "output_tail": (out or "")[-1500:] if (timed_out or proc.returncode) else "",
    }


def common_flags(ctx: Context, side: str) -> list[str]:
    device = ctx.gpu if side == "gpu" else "cpu"
    return ["--device", device, "--threads", str(ctx.cpu_threads), "--no-progress"]


def split_dir(ctx: Context, side: str) -> Path:
    return ctx.work / f"split-{side}"


def phase_split(ctx: Context, side: str, timeout: float) -> dict[str, Any]:
    """The main command at full size; the splitting time from the tree it writes."""
    s = ctx.size
    argv = ["fewshot.split", "--metric", "snip", "--depth", str(s.depth), "--branch", "2",
            "--C", str(s.C), "--N", str(s.N), *ctx.data_flags, "--out", str(ctx.work),
            "--name", split_dir(ctx, side).name, *common_flags(ctx, side)]  # fmt: skip
    result = run_command(argv, timeout, ctx.cpu_threads)
    tree = split_dir(ctx, side) / TREE
    if tree.is_file():
        doc = json.loads(tree.read_text())
        result["split_s"] = doc.get("timings", {}).get("total_seconds")
        result["complete"] = doc.get("complete")
        result["leaves"] = len(leaf_ids(tree))
    return result


def phase_score(ctx: Context, side: str, timeout: float) -> dict[str, Any]:
    """The six proxies on ``--score-archs`` (GPU) or ``--cpu-score-archs`` (CPU) archs."""
    num = ctx.config.score_archs if side == "gpu" else ctx.config.cpu_score_archs
    out = ctx.work / f"score-{side}"
    argv = ["fewshot.score", "--num", str(num), "--metrics", SIX, "--batch-size",
            str(ctx.size.batch_size), "--batches", "1", "--C", str(ctx.size.C), "--N",
            str(ctx.size.N), *ctx.data_flags, "--no-plots", "--out", str(out), "--overwrite",
            *common_flags(ctx, side)]  # fmt: skip
    result = run_command(argv, timeout, ctx.cpu_threads) | {"archs_asked": num}
    result |= score_rows(out / "scores.csv")
    if result.get("s_per_arch"):  # what all the asked archs take, when the phase was cut
        result["projected_s_for_asked"] = round(result["s_per_arch"] * num, 1)
    return result


def score_rows(path: Path) -> dict[str, Any]:
    """Archs finished and their mean seconds (the first arch, with one-time set-up such as
    CUDA's, reported apart)."""
    if not path.is_file():
        return {"archs_done": 0}
    with path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    secs = [float(r["seconds"]) for r in rows if r.get("seconds")]
    failed = sum(1 for r in rows if r.get("error"))
    out: dict[str, Any] = {"archs_done": len(secs), "archs_with_error": failed}
    if secs:
        rest = secs[1:] or secs
        out |= {"first_arch_s": secs[0], "s_per_arch": sum(rest) / len(rest),
                "scoring_s": sum(secs)}  # fmt: skip
    return out


def phase_train(ctx: Context, side: str, timeout: float) -> dict[str, Any]:
    """One epoch of the tree's first leaf (the CPU: ``--cpu-train-batches`` batches of it),
    no search. A split cut short leaves a partial tree: its first leaf then (the root when
    nothing was split: single-path training costs the same per step), said in the JSON."""
    tree = split_dir(ctx, "gpu") / TREE
    if not tree.is_file():
        tree = split_dir(ctx, "cpu") / TREE
    if not tree.is_file():
        return {"skipped": "no tree: the split phases did not finish"}
    limit = ctx.size.train_limit if side == "gpu" else ctx.config.cpu_train_batches
    run = ctx.work / f"train-{side}"
    leaf = str(min(leaf_ids(tree)))
    argv = ["fewshot.train", str(run), "--tree", str(tree), "--leaf", leaf, "--epochs", "1",
            "--no-search", "--force", *ctx.data_flags, "--batch-size", str(ctx.size.batch_size),
            "--num-workers", str(ctx.config.num_workers), "--limit-val-batches", "2",
            *common_flags(ctx, side)]  # fmt: skip
    if limit is not None:
        argv += ["--limit-train-batches", str(limit)]
    complete = bool(json.loads(tree.read_text()).get("complete"))
    result = run_command(argv, timeout, ctx.cpu_threads)
    result |= {"leaf": int(leaf), "tree": str(tree), "tree_complete": complete}
    return result | epoch_rows(run / "leaves" / leaf / "metrics.jsonl", ctx.size.batch_size)


def leaf_ids(tree: Path) -> list[int]:
    """The ids of the leaves of a tree file (nodes that are no node's parent)."""
    nodes = json.loads(tree.read_text()).get("nodes", [])
    parents = {n.get("parent") for n in nodes}
    return [int(n["id"]) for n in nodes if n["id"] not in parents]


def epoch_rows(path: Path, batch_size: int) -> dict[str, Any]:
    """The epoch's training seconds and images per second, from ``metrics.jsonl``."""
    if not path.is_file():
        return {}
    row = json.loads(path.read_text().splitlines()[-1])
    images = int(row["step"]) * batch_size
    return {"train_epoch_s": row["seconds"], "train_steps": row["step"],
            "images_per_s": images / row["seconds"] if row["seconds"] else None}  # fmt: skip


def phase_data(ctx: Context, side: str, timeout: float) -> dict[str, Any]:
    """The data path benchmark on this side's device (see the module docstring)."""
    out = ctx.work / f"data-{side}.json"
    points, steps, archs = (["4x1x16"], 2, 2) if ctx.config.quick else (
        ["16x5x32", "8x1x32"], 30, ctx.config.data_score_archs)  # fmt: skip
    argv = ["tools.benchmark_training", "--data-paths", "--device",
            ctx.gpu if side == "gpu" else "cpu", "--threads", str(ctx.cpu_threads),
            "--points", *points, "--steps", str(steps), "--warmup", "3", "--repeats", "1",
            "--batch-size", str(ctx.size.batch_size), "--score-archs", str(archs),
            "--num-workers", str(ctx.config.num_workers), "--out", str(out)]  # fmt: skip
    if "--data-root" in ctx.data_flags:
        argv += ["--data-root", ctx.data_flags[ctx.data_flags.index("--data-root") + 1]]
    result = run_command(argv, timeout, ctx.cpu_threads)
    if out.is_file():
        report = json.loads(out.read_text())
        result |= {k: report[k] for k in ("points", "scoring", "decode") if k in report}
    return result


def phase_pack(ctx: Context, side: str, timeout: float) -> dict[str, Any]:
    """Packs of whole supernets on this side's device (issue 30 item 5): training images/s of
    K networks trained together, summed, beside one supernet's bare step alone
    (``tools/benchmark_training.py --pack-throughput``, random tensors): on the GPU at C=16,
    N=5 and EFS-NAS's C=5, N=5 (32 px), K up to 64 or what the memory holds; on the CPU the
    ranking study's C=4, N=1, 8 px regime with K = 1 and 8."""
    out = ctx.work / f"pack-{side}.json"
    if ctx.config.quick:
        points, sizes, steps = ["4x1x8"], "1,2", 2
    elif side == "gpu":
        points, sizes, steps = ["16x5x32", "5x5x32"], "1,4,16,64", 20
    else:
        points, sizes, steps = ["4x1x8"], "1,8", 50
    argv = ["tools.benchmark_training", "--pack-throughput", "--device",
            ctx.gpu if side == "gpu" else "cpu", "--threads", str(ctx.cpu_threads),
            "--points", *points, "--pack-sizes", sizes, "--steps", str(steps), "--warmup", "3",
            "--batch-size", str(ctx.size.batch_size), "--out", str(out)]  # fmt: skip
    result = run_command(argv, timeout, ctx.cpu_threads)
    if out.is_file():
        result["points"] = json.loads(out.read_text())["points"]
    return result


PHASES: dict[str, Callable[[Context, str, float], dict[str, Any]]] = {
    "split": phase_split,
    "score": phase_score,
    "train": phase_train,
    "data": phase_data,
    "pack": phase_pack,
}


# -- the whole check ----------------------------------------------------------------------------


def data_flags(config: DeviceCheckConfig) -> tuple[list[str], dict[str, Any]]:
    """The data-set flags for every command, and what the JSON says about the data."""
    root = config.data_root
    if (root / "train").is_dir() and (root / "test").is_dir():
        return ["--dataset", "folder", "--data-root", str(root.resolve())], {
            "dataset": "folder", "root": str(root)}  # fmt: skip
    size = 16 if config.quick else 32
    num = 256 if config.quick else 10000
    flags = ["--dataset", "synthetic", "--data-option", f"image_size={size}",
             "--data-option", f"num_train={num}", "--data-option", f"num_test={num // 5}"]  # fmt: skip
    note = (f"{root} has no train/ and test/: synthetic images instead (same count), so the "
            "timings hold but no accuracy means anything")  # fmt: skip
    return flags, {"dataset": "synthetic", "root": str(root), "note": note}


def environment(gpu: str, threads: int) -> dict[str, Any]:
    import torch

    env: dict[str, Any] = {
        "python": platform.python_version(), "torch": torch.__version__,
        "cpu_count": os.cpu_count(), "cpu_threads": threads, "gpu_device": gpu,
        "machine": platform.machine(), "host": platform.node(),
    }  # fmt: skip
    if gpu.startswith("cuda"):
        env |= {"gpu": torch.cuda.get_device_name(), "cuda": torch.version.cuda}
    return env


def missing_modules() -> list[str]:
    """The modules the commands need that do not import here (a note, before any phase)."""
    import importlib

    missing = []
    for name in ("torchvision", "pytorch_lightning", "fewshot.split", "fewshot.score",
                 "fewshot.train"):  # fmt: skip
        try:
            importlib.import_module(name)
        except Exception as exc:  # an incomplete install: every phase would fail alike
            missing.append(f"{name}: {type(exc).__name__}: {exc}")
    return missing


def resolve_gpu(device: str) -> tuple[str, str | None]:
    """The accelerator's ``--device`` and a note when there is none (phases then run on cpu)."""
    import torch

    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        return "cpu", "CUDA is not available here: the 'gpu' phases ran on the CPU"
    note = "no GPU asked for: the 'gpu' phases ran on the CPU" if device == "cpu" else None
    return device, note


def ratios(phases: dict[str, dict[str, Any]]) -> dict[str, float]:
    """CPU time over GPU time for each phase that finished on both sides."""
    gpu, cpu = phases.get("gpu", {}), phases.get("cpu", {})
    out = {}
    pairs = [("split", "split_s", False), ("score", "s_per_arch", False),
             ("train", "images_per_s", True)]  # fmt: skip
    for phase, key, inverse in pairs:
        g, c = gpu.get(phase, {}).get(key), cpu.get(phase, {}).get(key)
        if g and c:
            out[f"{phase}_cpu_over_gpu"] = round(g / c if inverse else c / g, 3)
    return out


def phase_budget(remaining: float, shares: list[float]) -> float:
    """The next phase's seconds: its share (``shares[0]``) of what is left over the phases
    still to run (``shares``)."""
    return max(0.0, remaining) * shares[0] / sum(shares)


def run_phases(ctx: Context, report: dict[str, Any]) -> None:
    """Every phase in order within its budget; the report rewritten after each."""
    order = list(SHARES)
    for i, (side, phase) in enumerate(order):
        budget = phase_budget(ctx.remaining(), [SHARES[k] for k in order[i:]])
        if budget < MIN_PHASE_S and not ctx.config.quick:
            result = {"skipped": f"only {ctx.remaining():.0f} s of the budget left"}
        else:
            print(f"[{time.monotonic() - ctx.start:6.1f} s] {side} {phase} (<= {budget:.0f} s)",
                  file=sys.stderr, flush=True)  # fmt: skip
            result = PHASES[phase](ctx, side, max(budget, 1.0)) | {"budget_s": round(budget, 1)}
        report["phases"].setdefault(side, {})[phase] = result
        report["ratios"] = ratios(report["phases"])
        report["total_s"] = round(time.monotonic() - ctx.start, 1)
        atomic_write_json(ctx.config.out, report)


def main(argv: list[str] | None = None) -> int:
    return run_main(_main, argv)


def _main(argv: list[str] | None) -> int:
    config = parse_config(DeviceCheckConfig, argv, prog="python tools/device_check.py")
    threads = config.threads or os.cpu_count() or 1
    gpu, gpu_note = resolve_gpu(config.device)
    flags, data = data_flags(config)
    size = Size.of(config.quick)
    report: dict[str, Any] = {
        "format": "fewshot.device-check", "quick": config.quick, "budget_s": config.budget,
        "environment": environment(gpu, threads), "data": data, "size": size.__dict__,
        "notes": [n for n in [gpu_note, *missing_modules()] if n], "phases": {}, "ratios": {},
        "when": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
    }  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="device_check_") as tmp:
        work = config.work or Path(tmp)
        ctx = Context(config, size, flags, work, gpu, threads, time.monotonic())
        run_phases(ctx, report)
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
