"""Benchmark of ``python -m fewshot.split``: wall time, passes, peak memory, machine load.

Runs the main command (snip, depth 3, branch 2, C=16, N=5, batch 64) and its variants with
``gm`` and ``--edge-policy score``, each in its own process, and reports per run:

- wall time of the whole command (imports, data, splits, picture) and of the splits alone
  (``timings.total_seconds`` in ``tree.json``), and the process's CPU time (user + system,
  which a busy machine inflates much less than the wall time);
- forward/backward passes through the supernet and candidates scored (``tree.json``);
- peak resident memory of the process (``ru_maxrss`` of that child, via ``os.wait4``);
  tracemalloc would only see Python objects, not torch's tensor memory, so it is not used;
- the 1-minute load average before and after (``os.getloadavg``, as ``uptime`` prints it),
  since the numbers mean little on a contended machine.

It prints a table and writes ``docs/splitting/benchmark.md``. Examples::

    .venv/bin/python tools/benchmark_split.py                  # the three full runs
    .venv/bin/python tools/benchmark_split.py --quick          # tiny supernet, seconds
    .venv/bin/python tools/benchmark_split.py --cases snip \\
        --real-images ../shared/data/cifar10-subset             # plus real CIFAR-10 images

The target is under 120 s for the main command on 2 CPU cores (``--threads 2``).
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
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MAIN = ["--depth", "3", "--branch", "2", "--C", "16", "--N", "5", "--batch-size", "64"]
QUICK = ["--depth", "2", "--branch", "2", "--C", "4", "--N", "1", "--batch-size", "8"]
CASES: dict[str, list[str]] = {
    "snip": ["--metric", "snip"],
    "gm": ["--metric", "gm"],
    "score": ["--metric", "snip", "--edge-policy", "score"],
}
"""Named runs: extra flags on top of the size flags (``MAIN`` or ``QUICK``)."""

TARGET_SECONDS = 120.0


@dataclass(frozen=True)
class Result:
    """One benchmarked command."""

    name: str
    command: str
    wall_seconds: float
    cpu_seconds: float
    split_seconds: float
    forward: int
    backward: int
    candidates: int
    peak_mib: float
    load_before: float
    load_after: float
    dataset: str
    leaves: int


def build_parser() -> argparse.ArgumentParser:
    """Flags: which runs, at which size, on which data, with how many threads."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="tiny supernet (C=4, N=1, batch 8)")
    p.add_argument("--cases", default="snip,gm,score", help=f"comma list of {', '.join(CASES)}")
    p.add_argument("--dataset", help="--dataset for every case (default: the command's)")
    p.add_argument("--data-root", help="--data-root for every case")
    p.add_argument(
        "--real-images", type=Path, help="also run snip with --dataset folder --data-root DIR"
    )
    p.add_argument("--threads", type=int, default=2, help="torch/OpenMP threads (default 2)")
    p.add_argument("--out", type=Path, help="parent of the run folders (default: a temp dir)")
    p.add_argument(
        "--doc", type=Path, default=REPO / "docs" / "splitting" / "benchmark.md",
        help="markdown report to write ('-' to skip)",
    )  # fmt: skip
    p.add_argument("--timeout", type=float, default=3600.0, help="seconds per run")
    return p


def case_args(args: argparse.Namespace) -> list[tuple[str, list[str]]]:
    """(name, flags) per run asked for."""
    size = QUICK if args.quick else MAIN
    data = []
    if args.dataset:
        data += ["--dataset", args.dataset]
    if args.data_root:
        data += ["--data-root", args.data_root]
    runs = []
    for name in [c.strip() for c in args.cases.split(",") if c.strip()]:
        if name not in CASES:
            raise SystemExit(f"unknown case {name!r}; known: {', '.join(CASES)}")
        runs.append((name, CASES[name] + size + data))
    if args.real_images is not None:
        if not args.real_images.is_dir():
            raise SystemExit(f"--real-images {args.real_images} is not a folder")
        folder = ["--dataset", "folder", "--data-root", str(args.real_images)]
        runs.append(("snip-real-images", CASES["snip"] + size + folder))
    return runs


def run_case(name: str, flags: list[str], out: Path, threads: int, timeout: float) -> Result:
    """Run one split command in a child process; measure it."""
    cmd = [sys.executable, "-m", "fewshot.split", *flags, "--out", str(out), "--name", name]
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    load_before = os.getloadavg()[0]
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.DEVNULL)
    _, status, usage = _wait(proc, timeout)
    wall = time.perf_counter() - start
    if status != 0:
        raise SystemExit(f"{name}: the command failed (exit status {status}): {' '.join(cmd)}")
    tree = json.loads((out / name / "tree.json").read_text())
    t = tree["timings"]
    parents = {n["parent"] for n in tree["nodes"]}
    return Result(
        name=name,
        command="python -m fewshot.split " + " ".join(flags),
        wall_seconds=wall,
        cpu_seconds=usage.ru_utime + usage.ru_stime,
        split_seconds=float(t.get("total_seconds", 0.0)),
        forward=int(t.get("forward_passes", 0)),
        backward=int(t.get("backward_passes", 0)),
        candidates=int(t.get("candidates_scored", 0)),
        peak_mib=usage.ru_maxrss / 1024,  # KiB on Linux
        load_before=load_before,
        load_after=os.getloadavg()[0],
        dataset=str(tree["dataset"]),
        leaves=sum(1 for n in tree["nodes"] if n["id"] not in parents),
    )


def _wait(proc: subprocess.Popen, timeout: float):
    """``os.wait4`` the child (its own rusage), killing it after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            proc.returncode = os.waitstatus_to_exitcode(status)
            return pid, proc.returncode, usage
        if time.monotonic() > deadline:
            proc.kill()
            raise SystemExit(f"timed out after {timeout:.0f} s: {proc.args}")
        time.sleep(0.2)


def format_table(results: list[Result]) -> str:
    """A markdown table of the results."""
    head = (
        "| run | wall (s) | CPU (s) | splits (s) | fwd | bwd | candidates | peak RSS (MiB) "
        "| load 1-min before/after | data | leaves |"
    )
    lines = [head, "|" + "---|" * 11]
    for r in results:
        lines.append(
            f"| {r.name} | {r.wall_seconds:.1f} | {r.cpu_seconds:.1f} | {r.split_seconds:.1f} "
            f"| {r.forward} "
            f"| {r.backward} | {r.candidates} | {r.peak_mib:.0f} "
            f"| {r.load_before:.2f} / {r.load_after:.2f} | {r.dataset} | {r.leaves} |"
        )
    return "\n".join(lines)


def machine() -> str:
    """Host, CPU count, Python and torch versions (for the report)."""
    import torch

    return (
        f"{platform.node()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"torch {torch.__version__}"
    )


def write_doc(path: Path, results: list[Result], args: argparse.Namespace) -> None:
    """The markdown report: commands, table, machine, target."""
    main = next((r for r in results if r.name == "snip"), None)
    verdict = ""
    if main is not None and not args.quick:
        ok = main.wall_seconds < TARGET_SECONDS
        verdict = (
            f"Main command: {main.wall_seconds:.0f} s wall "
            f"({'within' if ok else 'over'} the {TARGET_SECONDS:.0f} s target) at a load "
            f"average of {main.load_before:.1f} when it started.\n\n"
        )
    commands = "\n".join(f"    {r.command}" for r in results)
    text = (
        "# Benchmark of `python -m fewshot.split`\n\n"
        f"Written by `tools/benchmark_split.py{' --quick' if args.quick else ''}` on "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; {machine()}; "
        f"{args.threads} torch threads.\n\n{verdict}{format_table(results)}\n\n"
        f"Commands (each in its own process):\n\n{commands}\n\n"
        "wall: the whole command (imports, data, splits, picture); CPU: user + system time "
        "of the process (with one thread, close to the wall time on an idle machine); "
        "splits: the engine alone "
        "(`timings.total_seconds`). fwd/bwd: passes through the supernet and its copies "
        "(`tree.json` timings). Peak RSS: `ru_maxrss` of the child process. The load is "
        "`os.getloadavg()[0]` (what `uptime` prints first): on a shared machine it explains "
        "most of the spread.\n"
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    """Run the cases one after the other, print the table, write the report."""
    args = build_parser().parse_args(argv)
    if args.threads < 1:
        raise SystemExit("--threads must be >= 1")
    runs = case_args(args)
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
    out = Path(tempfile.mkdtemp(prefix="bench-split-", dir=args.out))
    results = []
    for name, flags in runs:
        print(f"running {name} (load {os.getloadavg()[0]:.2f}) ...", flush=True)
        results.append(run_case(name, flags, out, args.threads, args.timeout))
        print(format_table(results[-1:]).splitlines()[-1], flush=True)
    print("\n" + format_table(results))
    if str(args.doc) != "-":
        write_doc(args.doc, results, args)
        print(f"\nwrote {args.doc}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
