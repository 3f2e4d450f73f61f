"""The paper's split-distance experiment in one command: split with each metric over N seeds,
then analyse.

    python tools/sweep.py --metrics grad_norm,snip,synflow,jacob_cov,ntk,lr,gm --seeds 10 \\
        --jobs 2 --C 8 --N 1 --batch-size 32 --runs runs/sweep --out runs/sweep/split_distance

Each (metric, seed) is one ``fewshot.split ... --out RUNS --name METRIC_sSEED`` process
(``--jobs`` at a time, each limited to ``--threads`` CPU threads, its output in
``RUNS/logs/NAME.log``). By default each run is a fork of this process after it has imported
the split module once (the imports cost ~10 CPU-seconds a run otherwise); ``--no-fork`` starts
fresh ``python -m fewshot.split`` processes instead. Finished runs (``tree.json`` with
``complete: true``) are skipped, unfinished ones resumed with ``--resume``, so an interrupted
sweep is continued by running the
same command again. Finally ``fewshot.distance`` writes the table, JSON and figures to ``--out``
from the finished trees. Exit code 1 if a run failed (the analysis still uses the others).
"""

from __future__ import annotations

import argparse
import importlib
import multiprocessing as mp
import os
import shlex
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from fewshot.tree import TreeFileError, load_tree  # noqa: E402

PAPER_METRICS = ("grad_norm", "snip", "synflow", "jacob_cov", "ntk", "lr", "gm")
PASS_THROUGH = ("C", "N", "batch_size", "depth", "branch", "dataset", "data_root")


@dataclass(frozen=True)
class Run:
    """One planned split run and what to do about it: ``new``, ``resume`` or ``done``."""

    metric: str
    seed: int
    name: str
    tree: Path
    state: str


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--metrics", default=",".join(PAPER_METRICS), help="comma-separated metrics")
    p.add_argument("--seeds", type=int, default=10, help="number of seeds per metric")
    p.add_argument("--first-seed", type=int, default=0)
    p.add_argument("--jobs", type=int, default=1, help="split processes at a time")
    p.add_argument("--threads", type=int, default=1, help="CPU threads per split process")
    p.add_argument("--runs", type=Path, default=Path("runs/sweep"), help="folder of run folders")
    p.add_argument("--out", type=Path, help="analysis folder (default RUNS/split_distance)")
    p.add_argument("--C", type=int)
    p.add_argument("--N", type=int)
    p.add_argument("--batch-size", type=int)
    p.add_argument("--depth", type=int, default=3)
    p.add_argument("--branch", type=int, default=2)
    p.add_argument("--dataset")
    p.add_argument("--data-root")
    p.add_argument("--split-args", default="", help="extra flags for every split run (quoted)")
    p.add_argument("--split-module", default="fewshot.split", help=argparse.SUPPRESS)
    p.add_argument(
        "--no-fork",
        action="store_true",
        help="start each run as a fresh `python -m` process (default: fork this one after "
        "importing the split module once, which skips ~10 CPU-s of imports per run)",
    )
    p.add_argument("--dry-run", action="store_true", help="print the plan and exit")
    p.add_argument("--no-analysis", action="store_true")
    return p


def plan(args: argparse.Namespace) -> list[Run]:
    """Every (metric, seed) run with its state, from the tree files already on disk."""
    metrics = [m.strip() for m in args.metrics.split(",") if m.strip()]
    if not metrics or args.seeds < 1 or args.jobs < 1:
        raise SystemExit("error: need at least one metric, one seed and one job")
    runs = []  # seed-major: a sweep cut short still has the first seeds of every metric
    for seed in range(args.first_seed, args.first_seed + args.seeds):
        for metric in metrics:
            name = f"{metric}_s{seed}"
            tree = args.runs / name / "tree.json"
            runs.append(Run(metric, seed, name, tree, _state(tree)))
    return runs


def _state(tree: Path) -> str:
    if not tree.is_file():
        return "new"
    try:
        return "done" if load_tree(tree).complete else "resume"
    except TreeFileError as exc:
        raise SystemExit(f"error: {exc}; delete that run folder to redo it") from exc


def split_command(args: argparse.Namespace, run: Run) -> list[str]:
    """The ``python -m fewshot.split`` command line of one run."""
    cmd = [sys.executable, "-m", args.split_module, "--metric", run.metric]
    cmd += ["--seed", str(run.seed), "--out", str(args.runs), "--name", run.name]
    for key in PASS_THROUGH:
        value = getattr(args, key)
        if value is not None:
            cmd += [f"--{key.replace('_', '-')}", str(value)]
    cmd += shlex.split(args.split_args)
    if run.state == "resume":
        cmd.append("--resume")
    return cmd


def _env(threads: int) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    for var in THREAD_VARS:
        env[var] = str(threads)
    return env


THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")
PRELOAD = ("fewshot.data", "fewshot.metrics", "fewshot.splitting.plot", "fewshot.splitting.summary")
"""Modules ``fewshot.split`` imports lazily; preloaded once so forked runs skip their import."""


class Job:
    """A started run: its process, log file and start time; ``poll()`` is its exit code or None."""

    def __init__(self, run: Run, proc: Any, log: Any) -> None:
        self.run, self.proc, self.log, self.start = run, proc, log, time.perf_counter()

    def poll(self) -> int | None:
        if isinstance(self.proc, subprocess.Popen):
            return self.proc.poll()
        return None if self.proc.is_alive() else self.proc.exitcode

    def close(self) -> float:
        self.log.close()
        return time.perf_counter() - self.start


def preload(module: str) -> Callable[[Sequence[str]], int] | None:
    """Import the split module's ``main`` (and its lazy imports) in this process, so each run
    can be a fork of it: ~10 CPU-seconds of imports (torch, Lightning, matplotlib) paid once
    instead of once per run. ``None`` where ``fork`` is unavailable."""
    if "fork" not in mp.get_all_start_methods():
        return None
    mod = importlib.import_module(module)
    if module == "fewshot.split":
        for name in PRELOAD:
            importlib.import_module(name)
    return getattr(mod, "main", None)


def _forked_run(
    main: Callable[[Sequence[str]], int], argv: list[str], fd: int, threads: int
) -> None:
    """Child of a fork: stdout/stderr into the log, one thread budget, run, exit with its code."""
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    torch = sys.modules.get("torch")  # preloaded with the split module; not imported for others
    if torch is not None:
        torch.set_num_threads(threads)
    try:
        rc = main(argv)
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
    os._exit(rc or 0)


def start(args: argparse.Namespace, run: Run, main: Callable | None) -> Job:
    """Start one split run, its output into ``RUNS/logs/NAME.log``: a fork of this process
    calling ``main`` when preloaded, else ``python -m MODULE`` (same arguments either way)."""
    log_path = args.runs / "logs" / f"{run.name}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log = log_path.open("a", encoding="utf-8")
    cmd = split_command(args, run)
    log.write(f"$ {shlex.join(cmd)}\n")
    log.flush()
    if main is None:
        proc: Any = subprocess.Popen(
            cmd, stdout=log, stderr=subprocess.STDOUT, env=_env(args.threads)
        )
    else:
        sys.stdout.flush()
        sys.stderr.flush()
        target_args = (main, cmd[3:], log.fileno(), args.threads)
        proc = mp.get_context("fork").Process(target=_forked_run, args=target_args)
        proc.start()
    return Job(run, proc, log)


def run_all(args: argparse.Namespace, todo: Sequence[Run]) -> list[Run]:
    """Run ``todo``, ``--jobs`` at a time (one thread, no pool: forks stay safe); returns the
    runs that failed."""
    if not todo:
        return []
    os.environ.update({var: str(args.threads) for var in THREAD_VARS})  # before torch starts
    main = None if args.no_fork else preload(args.split_module)
    queue, running, failed, done = list(todo), [], [], 0
    while queue or running:
        while queue and len(running) < args.jobs:
            running.append(start(args, queue.pop(0), main))
        time.sleep(0.2)
        for job in [j for j in running if j.poll() is not None]:
            running.remove(job)
            rc, secs, done = job.poll(), job.close(), done + 1
            name = job.run.name
            status = "ok" if rc == 0 else f"FAILED (exit {rc}, see {args.runs}/logs/{name}.log)"
            print(f"[{done}/{len(todo)}] {name} {status} ({secs:.1f} s)", flush=True)
            if rc != 0:
                failed.append(job.run)
    return failed


def analyse(args: argparse.Namespace, runs: Sequence[Run]) -> int:
    """``fewshot.distance`` over the finished trees of this sweep."""
    from fewshot.distance import main as distance_main

    finished = [r.tree for r in runs if _state(r.tree) == "done"]
    if not finished:
        print("error: no finished tree to analyse", file=sys.stderr)
        return 2
    out = args.out or args.runs / "split_distance"
    return distance_main([*map(str, finished), "--out", str(out)])


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    runs = plan(args)
    todo = [r for r in runs if r.state != "done"]
    print(f"{len(runs)} runs: {len(runs) - len(todo)} finished, {len(todo)} to run", flush=True)
    if args.dry_run:
        for r in todo:
            print(shlex.join(split_command(args, r)))
        return 0
    failed = run_all(args, todo)
    rc = 0 if args.no_analysis else analyse(args, runs)
    if failed:
        print(f"{len(failed)} runs failed: {', '.join(r.name for r in failed)}", file=sys.stderr)
    return 1 if failed else rc


if __name__ == "__main__":
    sys.exit(main())
