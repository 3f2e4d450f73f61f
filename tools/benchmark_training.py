"""Training throughput of a sub-supernet (images/s): ``LeafModule`` steps with SGD, no I/O.

Runs the same step the Lightning loop runs (single path sampled inside the mask, forward,
cross-entropy, backward, gradient clipping at 5, SGD Nesterov) on random 32x32 images, after a
few warm-up steps, and prints one JSON line. The path changes every step (as in training), so
the number is an average over paths of the full space; the machine's load average (1 min) before
and after the timing is in the output, since a busy CPU slows it down.

    .venv/bin/python tools/benchmark_training.py                      # C=16, N=5, batch 64
    .venv/bin/python tools/benchmark_training.py --threads 1 --steps 10
    .venv/bin/python tools/benchmark_training.py --device cuda --C 16 --N 5

``--data-paths``: the data path benchmark (issue 20). In one run, interleaved (a repeat times
every mode of every point once, the best repeat kept, so a shared machine's load hits all
modes alike): training images/s end to end with the per-image PIL loader (``loader``), with the
decoded-tensor path (``tensor``), and of the bare step on random tensors (``random``), at each
``--points`` C x N x image size; held-out scoring archs/s (BN recalibration + accuracy per
arch); with ``--train-epoch``, one full epoch of ``fewshot.train`` on the data (wall seconds
and peak RSS, the tensor path from a warm cache, the decode time of a cold one), also with
the code in ``--before-code`` (an older checkout) for a before/after::

    .venv/bin/python tools/benchmark_training.py --data-paths --threads 2 \
        --data-root ../shared/data/cifar10-subset --train-epoch --before-code /path/to/old \
        --out docs/training/data_path_benchmark.json

``--pack``: the pack benchmark (issue 30). Per repeat: ``fewshot.train`` of one leaf of a
depth-``--depth`` tree (the first, then the last), and ``fewshot.train --pack`` of all its
leaves, on the cached tensors, each bracketed by the bare steps on random tensors it is compared
with (its leaf's mask; every leaf's and the full space's), timed just before and just after it,
so that the machine's speed drifting moves both sides of a ratio alike; the pack's images/s
count every network::

    .venv/bin/python tools/benchmark_training.py --pack --C 4 --N 1 --image-size 8 \
        --threads 2 --steps 300 --repeats 3 --epochs 3 --data-root ../shared/data/cifar10-subset \
        --out docs/training/pack_benchmark.json

``--pack-throughput``: training images/s of packs of K whole supernets (summed over the
networks) at each ``--points`` C x N x size on ``--device``, beside one supernet's bare step
alone, on random tensors (issue 30 item 5; ``tools/device_check.py``'s ``pack`` phase)::

    .venv/bin/python tools/benchmark_training.py --pack-throughput --device cuda \
        --points 16x5x32 5x5x32 --pack-sizes 1,4,16,64 --steps 30 --out /tmp/pack_rate.json

``--lean-step``: the lean step benchmark (issue 30). Per repeat, interleaved: the bare step on
random tensors inside leaf 1's mask, then ``fewshot.train`` of that leaf for ``--epochs``
epochs on the cached tensors (no validation, no search; the epochs after the first give the
training images/s), with this code and the ``--before-code`` checkout; the ratios to the bare
step per repeat and their medians::

    .venv/bin/python tools/benchmark_training.py --lean-step --C 4 --N 1 --image-size 8 \
        --threads 2 --steps 300 --repeats 3 --data-root ../shared/data/cifar10-subset \
        --before-code /path/to/old --out docs/training/lean_step_benchmark.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fewshot.io import atomic_write_json  # noqa: E402
from fewshot.models.supernet import Supernet  # noqa: E402
from fewshot.spaces.nb201 import Mask  # noqa: E402
from fewshot.training.module import LeafModule, path_generator  # noqa: E402

Step = Callable[[torch.Tensor, torch.Tensor, int], None]


def make_step(
    C: int, N: int, device: str, seed: int = 0, mask: Mask | None = None
) -> tuple[Supernet, Step]:
    """A supernet of ``mask`` (default: the full space) and the Lightning loop's training step
    on a batch ``(x, y)``: single path drawn for step ``i``, forward, cross-entropy, backward,
    clipping at 5, SGD."""
    net = Supernet(C=C, N=N, num_classes=10, candidates=mask or Mask.full())
    module = LeafModule(net, seed=seed).to(device)
    optimizer = torch.optim.SGD(
        module.parameters(), lr=0.025, momentum=0.9, weight_decay=5e-4, nesterov=True
    )

    def step(x: torch.Tensor, y: torch.Tensor, i: int) -> None:
        arch = net.sample_arch(path_generator(seed, i))
        loss = torch.nn.functional.cross_entropy(net(x, arch), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 5.0)
        optimizer.step()

    module.train()
    return net, step


def measure(
    *, C: int, N: int, batch_size: int, steps: int, warmup: int, device: str, seed: int = 0
) -> dict[str, float | int | str]:
    """Time ``steps`` training steps of the full-space supernet; returns images/s and more."""
    _, train_step = make_step(C, N, device, seed)
    x = torch.randn(batch_size, 3, 32, 32, device=device)
    y = torch.randint(0, 10, (batch_size,), device=device)

    def step(i: int) -> None:
        train_step(x, y, i)

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


# -- the data path benchmark (--data-paths) -----------------------------------------------------

MODES = ("random", "loader", "tensor")


def parse_point(text: str) -> tuple[int, int, int]:
    """``"8x1x32"`` -> (C, N, image size)."""
    try:
        C, N, size = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"a point is CxNxSIZE (8x1x32), got {text!r}") from None
    return C, N, size


def data_module(args: argparse.Namespace, size: int, path: str):
    """The benchmark's data module: the folder at ``--data-root`` (else synthetic images)."""
    from fewshot.data import make_datamodule

    common = {"batch_size": args.batch_size, "image_size": size, "data_path": path}
    common["num_workers"] = args.num_workers if path == "loader" else 0
    if args.data_root is not None:
        return make_datamodule("folder", data_root=args.data_root, **common)
    return make_datamodule("synthetic", num_train=10_000, num_test=2_000, **common)


def endless(dm) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """The data module's training batches, epoch after epoch."""
    loader, epoch = dm.train_dataloader(), 0
    while True:
        loader.sampler.set_epoch(epoch)
        yield from loader
        epoch += 1


def time_steps(batches: Iterator, step: Step, device: str, steps: int, warmup: int) -> float:
    """Images/s of ``steps`` training steps, each on the next batch (moved to ``device``)."""
    images = 0
    for i in range(warmup + steps):
        if i == warmup:
            _sync(device)
            start = time.perf_counter()
        x, y = next(batches)
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        step(x, y, i)
        images += len(y) if i >= warmup else 0
    _sync(device)
    return images / (time.perf_counter() - start)


def bench_point(args: argparse.Namespace, C: int, N: int, size: int) -> dict[str, Any]:
    """Best-of-``--repeats`` images/s of every mode at one point, interleaved."""
    dms = {m: data_module(args, size, m) for m in ("loader", "tensor")}
    dms["tensor"].to_device(args.device)
    for dm in dms.values():
        dm.setup()
    x = torch.randn(args.batch_size, 3, size, size, device=args.device)
    y = torch.randint(0, 10, (args.batch_size,), device=args.device)
    sources = {"random": iter(lambda: (x, y), None)}
    sources |= {m: endless(dm) for m, dm in dms.items()}
    best: dict[str, float] = {}
    for _ in range(args.repeats):
        for mode in MODES:
            _, step = make_step(C, N, args.device)
            rate = time_steps(sources[mode], step, args.device, args.steps, args.warmup)
            best[mode] = max(best.get(mode, 0.0), rate)
    row: dict[str, Any] = {"C": C, "N": N, "image_size": size}
    row |= {f"{m}_images_per_s": round(best[m], 1) for m in MODES}
    row |= {f"{m}_over_random": round(best[m] / best["random"], 3) for m in MODES[1:]}
    return row


def bench_scoring(args: argparse.Namespace, C: int, N: int, size: int) -> dict[str, Any]:
    """Held-out scoring archs/s: per arch, BN recalibration on ``--calib-batches`` training
    batches and accuracy on ``--held-out`` examples, all from the tensor path on the device."""
    from fewshot.training.search import recalibrate_bn, take_batches
    from fewshot.training.trainer import accuracy

    dm = data_module(args, size, "tensor")
    dm.batch_size = args.score_batch_size
    device = torch.device(args.device)
    calib = take_batches(dm.train_dataloader(), args.calib_batches, device)
    held = take_batches(dm._loader(dm.val_dataset()), None, device)
    held = [(x, y) for x, y in held][: -(-args.held_out // args.score_batch_size)]
    net = Supernet(C=C, N=N, num_classes=dm.num_classes, candidates=Mask.full()).to(device)
    archs = [net.sample_arch(path_generator(1, i)) for i in range(args.score_archs + 1)]
    recalibrate_bn(net, archs[0], calib)  # warm-up
    accuracy(net, held, arch=archs[0])
    _sync(args.device)
    start = time.perf_counter()
    for arch in archs[1:]:
        recalibrate_bn(net, arch, calib)
        accuracy(net, held, arch=arch)
    _sync(args.device)
    seconds = time.perf_counter() - start
    return {"C": C, "N": N, "image_size": size, "archs": args.score_archs,
            "calib_batches": args.calib_batches, "batch_size": args.score_batch_size,
            "held_out": sum(len(y) for _, y in held),
            "archs_per_s": round(args.score_archs / seconds, 2)}  # fmt: skip


# ``python -m MODULE ARGS`` that prints its peak RSS at exit (VmHWM: ``ru_maxrss`` of a
# forked child starts at its parent's RSS, and survives exec).
PEAK_RSS_WRAPPER = """
import atexit, runpy, sys
def peak():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            print("PEAK_RSS_KB", line.split()[1], file=sys.stderr, flush=True)
atexit.register(peak)
sys.argv = sys.argv[1:]
runpy.run_module(sys.argv[0], run_name="__main__", alter_sys=True)
"""


def leaf_tree(run: Path, C: int, N: int) -> Mask:
    """Save a one-split tree (edge 0's ops in two groups) in ``run``; its leaf 1's mask."""
    from fewshot.splitting.tree import Split, SplitTree

    tree = SplitTree(metric="snip", seed=0, dataset="folder", config={"C": C, "N": N})
    full = Mask.full()
    tree.add_root(full)
    ops = full.ops(0)
    distances = tuple(tuple(float(i != j) for j in range(len(ops))) for i in range(len(ops)))
    tree.apply_split(0, Split(0, ops, (ops[:2], ops[2:]), distances, cut=1.0))
    tree.complete = True
    tree.save(run / "tree.json")
    return tree.node(1).mask


def train_epoch(
    args: argparse.Namespace, code: Path, path: str | None, work: Path, *, C: int = 8, N: int = 1,
    epochs: int = 1, image_size: int | None = None, tag: str = "",
) -> dict:  # fmt: skip
    """``epochs`` epochs of ``fewshot.train`` (leaf 1 of a one-split tree, no search) with the
    code in ``code``, in a subprocess: wall seconds, peak RSS, the epochs' images/s."""
    run = work / f"train-{code.name}-{path or 'default'}{tag}"
    leaf_tree(run, C, N)
    data = (["--dataset", "folder", "--data-root", str(args.data_root)] if args.data_root
            else ["--dataset", "synthetic", "--data-option", "num_train=10000"])  # fmt: skip
    if path is not None:
        data += ["--data-option", f"data_path={path}"]
    if image_size is not None:
        data += ["--data-option", f"image_size={image_size}", "--limit-val-batches", "0"]
    argv = [sys.executable, "-c", PEAK_RSS_WRAPPER, "fewshot.train", str(run), "--leaf", "1",
            "--epochs", str(epochs),
            "--no-search", *data, "--C", str(C), "--N", str(N), "--batch-size", str(args.batch_size),
            "--threads", str(args.threads or os.cpu_count()), "--accelerator", "cpu",
            "--no-progress-bar"]  # fmt: skip
    env = dict(os.environ, PYTHONPATH=str(code))
    log = run / "train.log"
    start = time.perf_counter()
    with log.open("w") as f:
        proc = subprocess.Popen(argv, cwd=work, env=env, stdout=f, stderr=subprocess.STDOUT)
        _, status, _ = os.wait4(proc.pid, 0)
    wall, returncode = time.perf_counter() - start, os.waitstatus_to_exitcode(status)
    out = log.read_text()
    peaks = [line.split()[1] for line in out.splitlines() if line.startswith("PEAK_RSS_KB ")]
    metrics = run / "leaves" / "1" / "metrics.jsonl"
    rows = [json.loads(x) for x in metrics.read_text().splitlines()] if metrics.is_file() else []
    row = rows[-1] if rows else {}
    steps = [b["step"] - a["step"] for a, b in zip([{"step": 0}, *rows], rows, strict=False)]
    rates = [n * args.batch_size / r["seconds"] for n, r in zip(steps, rows, strict=True)]
    return {"code": str(code), "data_path": path or "(default)", "returncode": returncode,
            "wall_s": round(wall, 2), "epoch_s": row.get("seconds"),
            "images_per_s": round(row["step"] * args.batch_size / row["seconds"], 1)
            if row.get("seconds") and len(rows) == 1 else None,
            "epoch_images_per_s": [round(r, 1) for r in rates],
            "peak_rss_mb": round(int(peaks[-1]) / 1024, 1) if peaks else None,
            "output_tail": out[-800:] if returncode else ""}  # fmt: skip


def decode_time(args: argparse.Namespace, cache: Path) -> dict[str, Any]:
    """Seconds to decode the data set into the tensor cache from cold, and to load it warm."""
    os.environ["FEWSHOT_CACHE"] = str(cache)
    out: dict[str, Any] = {}
    for when in ("cold", "warm"):
        start = time.perf_counter()
        data_module(args, 32, "tensor").setup()
        out[f"{when}_s"] = round(time.perf_counter() - start, 2)
    return out


def data_paths(args: argparse.Namespace) -> dict[str, Any]:
    """The whole data path benchmark; the JSON (``--out``) rewritten after every part."""
    report: dict[str, Any] = {
        "format": "fewshot.data-path-benchmark", "device": args.device,
        "batch_size": args.batch_size, "threads": torch.get_num_threads(),
        "data_root": str(args.data_root), "steps": args.steps, "repeats": args.repeats,
        "cpus": os.cpu_count(), "load_1min_before": _load(), "torch": torch.__version__,
        "when": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()), "points": [],
    }  # fmt: skip
    save = (lambda: atomic_write_json(args.out, report)) if args.out else (lambda: None)
    with tempfile.TemporaryDirectory(prefix="bench_data_") as tmp:
        os.environ.setdefault("FEWSHOT_CACHE", str(Path(tmp) / "cache"))
        if args.data_root is not None:
            report["decode"] = decode_time(args, Path(tmp) / "cold-cache")
            save()
        for C, N, size in args.points:
            report["points"].append(bench_point(args, C, N, size))
            print_table(report["points"][-1:], header=len(report["points"]) == 1)
            save()
        if args.score_archs:
            report["scoring"] = [bench_scoring(args, C, N, 32) for C, N, _ in args.points[:1]]
            save()
        if args.train_epoch:
            report["train_epoch"] = train_epochs(args, Path(tmp))
            save()
    report["load_1min_after"] = _load()
    save()
    return report


def train_epochs(args: argparse.Namespace, work: Path) -> list[dict[str, Any]]:
    """Interleaved: the code before (its default path) and this code on both paths."""
    runs: list[tuple[Path, str | None]] = [(ROOT, "tensor"), (ROOT, "loader")]
    if args.before_code is not None:
        runs.insert(0, (args.before_code, None))
    return [train_epoch(args, code, path, work) for code, path in runs]


# -- the lean step benchmark (--lean-step, issue 30) -----------------------------------------------


def bare_rate(args: argparse.Namespace, mask: Mask, size: int) -> float:
    """Images/s of the bare single-path step on random tensors of ``size`` px inside ``mask``."""
    _, step = make_step(args.C, args.N, args.device, mask=mask)
    x = torch.randn(args.batch_size, 3, size, size, device=args.device)
    y = torch.randint(0, 10, (args.batch_size,), device=args.device)
    return time_steps(iter(lambda: (x, y), None), step, args.device, args.steps, args.warmup)


def lean_step(args: argparse.Namespace) -> dict[str, Any]:
    """Per repeat, interleaved: the bare step, then ``fewshot.train`` of one leaf (this code,
    and ``--before-code`` when given) for ``--epochs`` epochs on the cached tensors; the
    epochs after the first are the training rate. Ratios per repeat, medians reported."""
    import statistics

    report: dict[str, Any] = {
        "format": "fewshot.lean-step-benchmark", "C": args.C, "N": args.N,
        "image_size": args.image_size, "batch_size": args.batch_size, "threads": args.threads,
        "epochs": args.epochs, "bare_steps": args.steps, "repeats": args.repeats,
        "data_root": str(args.data_root), "cpus": os.cpu_count(), "torch": torch.__version__,
        "when": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()), "runs": [],
    }  # fmt: skip
    codes = {"this": ROOT} | ({"before": args.before_code} if args.before_code else {})
    with tempfile.TemporaryDirectory(prefix="bench_lean_") as tmp:
        os.environ.setdefault("FEWSHOT_CACHE", str(Path(tmp) / "cache"))
        mask = leaf_tree(Path(tmp) / "mask", args.C, args.N)
        for r in range(args.repeats):
            row: dict[str, Any] = {"repeat": r, "load_1min": _load()}
            row["bare_images_per_s"] = round(bare_rate(args, mask, args.image_size), 1)
            for name, code in codes.items():
                run = train_epoch(args, code, "tensor", Path(tmp), C=args.C, N=args.N,
                                  epochs=args.epochs, image_size=args.image_size, tag=f"-{r}")  # fmt: skip
                rate = row[f"{name}_images_per_s"] = training_rate(run)
                row[f"{name}_over_bare"] = (round(rate / row["bare_images_per_s"], 3)
                                            if rate is not None else None)  # fmt: skip
                if run["returncode"]:
                    row[f"{name}_error"] = run["output_tail"]
            report["runs"].append(row)
            print(json.dumps(row), flush=True)
            if args.out:
                atomic_write_json(args.out, report)
    for name in codes:
        ratios = [r[f"{name}_over_bare"] for r in report["runs"] if r.get(f"{name}_over_bare")]
        report[f"{name}_over_bare_median"] = statistics.median(ratios) if ratios else None
    report["load_1min_after"] = _load()
    if args.out:
        atomic_write_json(args.out, report)
    return report


# -- the pack benchmark (--pack, issue 30) ---------------------------------------------------------


def depth_tree(run: Path, C: int, N: int, depth: int) -> list[Mask]:
    """Save a tree of ``depth`` binary splits (edge ``d``'s ops in two groups at depth ``d``)
    in ``run``; its ``2**depth`` leaves' masks."""
    from fewshot.splitting.tree import Split, SplitTree

    tree = SplitTree(metric="snip", seed=0, dataset="folder", config={"C": C, "N": N})
    tree.add_root(Mask.full())
    for d in range(depth):
        for leaf in list(tree.leaves()):
            ops = leaf.mask.ops(d)
            distances = tuple(
                tuple(float(i != j) for j in range(len(ops))) for i in range(len(ops))
            )
            tree.apply_split(leaf.id, Split(d, ops, (ops[:2], ops[2:]), distances, cut=1.0))
    tree.complete = True
    tree.save(run / "tree.json")
    return [leaf.mask for leaf in tree.leaves()]


def train_run(args: argparse.Namespace, run: Path, extra: list[str], jobs: list[str]) -> dict:
    """``fewshot.train RUN`` (this code, no search) on the cached tensors at ``--image-size``;
    the training images/s of each epoch after the first, summed over ``jobs``' networks."""
    data = ["--dataset", "folder", "--data-root", str(args.data_root), "--data-option",
            f"image_size={args.image_size}", "--data-option", "data_path=tensor",
            "--limit-val-batches", "0"] if args.data_root else \
        ["--dataset", "synthetic", "--data-option", "num_train=10000",
         "--data-option", f"image_size={args.image_size}"]  # fmt: skip
    argv = [sys.executable, "-m", "fewshot.train", str(run), "--epochs", str(args.epochs),
            "--no-search", *data, "--C", str(args.C), "--N", str(args.N),
            "--batch-size", str(args.batch_size), "--threads", str(args.threads or os.cpu_count()),
            "--accelerator", "cpu", "--no-progress-bar", *extra]  # fmt: skip
    if getattr(args, "steps_per_call", None):
        argv += ["--steps-per-call", str(args.steps_per_call)]
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    start = time.perf_counter()
    proc = subprocess.run(argv, cwd=run.parent, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    rows = [json.loads(x) for x in (run / jobs[0] / "metrics.jsonl").read_text().splitlines()] \
        if (run / jobs[0] / "metrics.jsonl").is_file() else []  # fmt: skip
    steps = [b["step"] - a["step"] for a, b in zip([{"step": 0}, *rows], rows, strict=False)]
    rates = [
        n * args.batch_size * len(jobs) / r["seconds"] for n, r in zip(steps, rows, strict=True)
    ]
    return {"returncode": proc.returncode, "wall_s": round(wall, 2),
            "epoch_images_per_s": [round(r, 1) for r in rates],
            "output_tail": (proc.stdout + proc.stderr)[-800:] if proc.returncode else ""}  # fmt: skip


def pack_benchmark(args: argparse.Namespace) -> dict[str, Any]:
    """Per repeat, interleaved, on one depth-``--depth`` tree (``2**depth`` leaves):

    - the bare single-path step on random tensors, just before and just after each run it is
      compared with (their mean the reference): of every leaf (their sequential rate: the
      images/s of training them one after another, the pack's fair reference) and of the full
      space (the issue's "single bare step");
    - ``fewshot.train`` of the first and of the last leaf alone (the lean step: its rate over
      that leaf's bare rate), and ``fewshot.train --pack`` of all leaves (images/s summed over
      the networks), each for ``--epochs`` epochs on the cached tensors (the epochs after the
      first give the rate). Ratios per repeat, medians over repeats."""
    import statistics

    report: dict[str, Any] = {
        "format": "fewshot.pack-benchmark", "C": args.C, "N": args.N, "depth": args.depth,
        "image_size": args.image_size, "batch_size": args.batch_size, "threads": args.threads,
        "epochs": args.epochs, "bare_steps": args.steps, "repeats": args.repeats,
        "data_root": str(args.data_root), "cpus": os.cpu_count(), "torch": torch.__version__,
        "steps_per_call": args.steps_per_call,
        "when": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()), "runs": [],
    }  # fmt: skip
    keys = ("one_first_over_bare", "one_last_over_bare", "pack_over_bare_leaves",
            "pack_over_bare_full")  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="bench_pack_") as tmp:
        os.environ.setdefault("FEWSHOT_CACHE", str(Path(tmp) / "cache"))
        for r in range(args.repeats):
            row = _pack_repeat(args, Path(tmp) / f"r{r}", r)
            report["runs"].append(row)
            print(json.dumps(row), flush=True)
            if args.out:
                atomic_write_json(args.out, report)
    for key in keys:
        values = [row[key] for row in report["runs"] if row.get(key)]
        report[f"{key}_median"] = statistics.median(values) if values else None
    report["load_1min_after"] = _load()
    if args.out:
        atomic_write_json(args.out, report)
    return report


def _pack_repeat(args: argparse.Namespace, work: Path, r: int) -> dict[str, Any]:
    """One repeat: each ``fewshot.train`` run bracketed by the bare steps it is compared with,
    measured just before and just after it (their mean is its reference), so that the
    machine's speed drifting between the bare windows and the run (seen at 10-40% within
    minutes on a shared 2-core machine) moves both sides of a ratio alike; the bare rate's
    drift over the run (after / before) is recorded, to show how steady the machine was."""
    masks = depth_tree(work / "pack", args.C, args.N, args.depth)
    ids = [str(n.id) for n in _tree_leaves(work / "pack")]
    row: dict[str, Any] = {"repeat": r, "load_1min": _load()}
    for name, leaf in (("one_first", 0), ("one_last", len(ids) - 1)):
        depth_tree(work / name, args.C, args.N, args.depth)
        run, bare = _bracketed(
            args, [masks[leaf]],
            lambda name=name, leaf=leaf: train_run(
                args, work / name, ["--leaf", ids[leaf]], [f"leaves/{ids[leaf]}"]),
        )  # fmt: skip
        _record_run(row, name, run)
        row[f"{name}_bare_images_per_s"] = bare["mean"][0]
        row[f"{name}_bare_drift"] = bare["drift"]
        value = row[f"{name}_images_per_s"]
        row[f"{name}_over_bare"] = round(value / bare["mean"][0], 3) if value else None
    run, bare = _bracketed(
        args, [*masks, Mask.full()],
        lambda: train_run(args, work / "pack", ["--pack"], [f"leaves/{i}" for i in ids]),
    )  # fmt: skip
    _record_run(row, "pack", run)
    leaves, full = bare["mean"][:-1], bare["mean"][-1]
    row["bare_leaf_images_per_s"] = leaves
    row["bare_leaves_sequential_images_per_s"] = round(len(leaves) / sum(1 / b for b in leaves), 1)
    row["bare_full_images_per_s"] = full
    row["pack_bare_drift"] = bare["drift"]
    value = row["pack_images_per_s"]
    for ref, base in (("leaves", row["bare_leaves_sequential_images_per_s"]), ("full", full)):
        row[f"pack_over_bare_{ref}"] = round(value / base, 3) if value else None
    return row


def _bracketed(
    args: argparse.Namespace, masks: list[Mask], run: Callable[[], dict]
) -> tuple[dict, dict[str, Any]]:
    """``run()`` between two bare windows of every mask in ``masks``: its result, and the bare
    images/s per mask (``mean`` of before and after) with ``drift`` (after / before, summed
    over the masks)."""
    before = [bare_rate(args, m, args.image_size) for m in masks]
    result = run()
    after = [bare_rate(args, m, args.image_size) for m in masks]
    mean = [round((a + b) / 2, 1) for a, b in zip(before, after, strict=True)]
    return result, {"mean": mean, "drift": round(sum(after) / sum(before), 3)}


def training_rate(run: dict[str, Any]) -> float | None:
    """A ``fewshot.train`` run's training images/s: the median of its epochs after the first
    (which pays for start-up), or of its only epoch; ``None`` when no epoch finished."""
    import statistics

    rates = run["epoch_images_per_s"][1:] or run["epoch_images_per_s"]
    return round(statistics.median(rates), 1) if rates else None


def _record_run(row: dict[str, Any], name: str, run: dict) -> None:
    """A run's training images/s (:func:`training_rate`), wall time, error."""
    row[f"{name}_images_per_s"] = training_rate(run)
    row[f"{name}_wall_s"] = run["wall_s"]
    if run["returncode"]:
        row[f"{name}_error"] = run["output_tail"]


# -- pack throughput (--pack-throughput, issue 30 item 5) ---------------------------------------


def pack_throughput(args: argparse.Namespace) -> dict[str, Any]:
    """Training images/s of ``K`` whole supernets trained as one pack (summed over the
    networks) at each ``--points`` C x N x size and each ``--pack-sizes`` K, on random tensors
    on ``--device``: :class:`~fewshot.training.pack.PackTrainer`'s own step (K single paths,
    one forward and backward of the stacked networks, the per-network clipped SGD), after
    ``--warmup`` steps, timed over ``--steps``. Beside it the bare step of one supernet alone
    (:func:`make_step`). A K that does not fit the device's memory is recorded as such and
    ends that point's sizes. Rewritten to ``--out`` after every measurement."""
    report: dict[str, Any] = {
        "format": "fewshot.pack-throughput", "device": args.device, "threads": args.threads,
        "batch_size": args.batch_size, "steps": args.steps, "warmup": args.warmup,
        "torch": torch.__version__, "cpus": os.cpu_count(),
        "when": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()), "points": [],
    }  # fmt: skip
    if args.device.startswith("cuda"):
        report["gpu"] = torch.cuda.get_device_name(args.device)
    for C, N, size in args.points:
        row: dict[str, Any] = {"C": C, "N": N, "image_size": size, "packs": {}}
        alone = argparse.Namespace(**{**vars(args), "C": C, "N": N})
        row["bare_alone_images_per_s"] = round(bare_rate(alone, Mask.full(), size), 1)
        for K in args.pack_sizes:
            try:
                rate = round(_pack_rate(args, C, N, size, K), 1)  # the ratio of the values shown
            except torch.OutOfMemoryError:
                row["packs"][str(K)] = "out of memory"
                torch.cuda.empty_cache()
                break
            row["packs"][str(K)] = {
                "images_per_s": rate,
                "over_alone": round(rate / row["bare_alone_images_per_s"], 3),
            }
            print(json.dumps({"C": C, "N": N, "image_size": size, "K": K,
                              **row["packs"][str(K)]}), flush=True)  # fmt: skip
        report["points"].append(row)
        if args.out:
            atomic_write_json(args.out, report)
    return report


def _pack_rate(args: argparse.Namespace, C: int, N: int, size: int, K: int) -> float:
    """Images/s (summed over the ``K`` networks) of a pack of ``K`` whole supernets."""
    from fewshot.training.pack import PackMember, PackSettings, PackTrainer

    x = torch.randn(args.batch_size, 3, size, size, device=args.device)
    y = torch.randint(0, 10, (args.batch_size,), device=args.device)
    with tempfile.TemporaryDirectory(prefix="bench_pack_rate_") as tmp:
        members = [PackMember(f"n{k}", Mask.full(), k, lambda e, b: (x, y), 1_000_000,
                              Path(tmp) / f"n{k}") for k in range(K)]  # fmt: skip
        settings = PackSettings(C=C, N=N, num_classes=10, epochs=1)
        trainer = PackTrainer(members, settings, Path(tmp) / "pack", device=args.device)
        for _ in range(args.warmup):
            trainer.train_step()
        _sync(args.device)
        start = time.perf_counter()
        for _ in range(args.steps):
            trainer.train_step()
        _sync(args.device)
        return K * args.batch_size * args.steps / (time.perf_counter() - start)


def _tree_leaves(run: Path) -> list:
    from fewshot.splitting.tree import load_tree

    return list(load_tree(run / "tree.json").leaves())


def print_table(rows: list[dict[str, Any]], *, header: bool) -> None:
    if header:
        print(f"{'C':>3} {'N':>2} {'px':>3} | {'random':>8} {'loader':>8} {'tensor':>8} img/s"
              f" | {'loader/rnd':>10} {'tensor/rnd':>10}", flush=True)  # fmt: skip
    for r in rows:
        print(f"{r['C']:>3} {r['N']:>2} {r['image_size']:>3} | "
              f"{r['random_images_per_s']:>8.0f} {r['loader_images_per_s']:>8.0f} "
              f"{r['tensor_images_per_s']:>8.0f}       | {r['loader_over_random']:>10.2f} "
              f"{r['tensor_over_random']:>10.2f}", flush=True)  # fmt: skip


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--C", type=int, default=16)
    p.add_argument("--N", type=int, default=5)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    d = p.add_argument_group("data path benchmark")
    d.add_argument("--data-paths", action="store_true", help="run the data path benchmark")
    d.add_argument(
        "--points",
        type=parse_point,
        nargs="+",
        default=[(8, 1, 32), (8, 1, 16), (16, 5, 32)],
        help="CxNxSIZE ...",
    )
    d.add_argument("--repeats", type=int, default=3, help="interleaved repeats (best kept)")
    d.add_argument("--num-workers", type=int, default=0, help="the loader's worker processes")
    d.add_argument("--data-root", type=Path, help="ImageFolder tree (default: synthetic)")
    d.add_argument("--score-archs", type=int, default=10, help="archs for scoring (0: none)")
    d.add_argument("--score-batch-size", type=int, default=256)
    d.add_argument("--calib-batches", type=int, default=4)
    d.add_argument("--held-out", type=int, default=500, help="held-out examples per arch")
    d.add_argument("--train-epoch", action="store_true", help="time a fewshot.train epoch")
    d.add_argument("--before-code", type=Path, help="an older checkout for the epoch")
    d.add_argument("--out", type=Path, help="JSON file (rewritten after every part)")
    lean = p.add_argument_group("lean step benchmark (issue 30)")
    lean.add_argument("--lean-step", action="store_true",
                      help="fewshot.train of one leaf against the bare step, in one run")  # fmt: skip
    lean.add_argument("--image-size", type=int, default=8)
    lean.add_argument("--epochs", type=int, default=3, help="epochs per fewshot.train run")
    lean.add_argument("--pack", action="store_true",
                      help="fewshot.train --pack of a tree's leaves against the bare step")  # fmt: skip
    lean.add_argument("--depth", type=int, default=3, help="--pack: the tree's depth (2**d leaves)")
    lean.add_argument("--pack-throughput", action="store_true",
                      help="images/s of packs of K whole supernets at each --points, on --device")  # fmt: skip
    lean.add_argument("--pack-sizes", type=lambda t: [int(v) for v in t.split(",")],
                      default=[1, 4, 16], help="--pack-throughput: the K to time (e.g. 1,4,16)")  # fmt: skip
    lean.add_argument("--steps-per-call", type=int, default=None,
                      help="--pack: fewshot.train's --steps-per-call for the one-leaf runs "
                      "(default: fewshot.train's own; 1: Lightning's loop, as before fused steps)")  # fmt: skip
    args = p.parse_args()
    if min(args.C, args.N, args.batch_size, args.steps) < 1 or args.warmup < 0:
        p.error("--C, --N, --batch-size and --steps must be positive, --warmup >= 0")
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        p.error(f"--device {args.device}: no CUDA device here; use --device cpu")
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.pack_throughput:
        if min(args.pack_sizes) < 1:
            p.error("--pack-sizes must be positive, e.g. 1,4,16")
        report = pack_throughput(args)
        print(json.dumps(report, indent=2) if not args.out else f"wrote {args.out}")
        return
    if args.lean_step or args.pack:
        report = pack_benchmark(args) if args.pack else lean_step(args)
        summary = {k: v for k, v in report.items() if k.endswith("_median")}
        print(json.dumps(summary) if args.out else json.dumps(report, indent=2))
        return
    if args.data_paths:
        report = data_paths(args)
        print(json.dumps(report, indent=2) if not args.out else f"wrote {args.out}")
        return
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
