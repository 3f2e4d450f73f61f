"""The consistency experiment (the paper's split distance): split with each metric over N
seeds, then the split-distance report of the trees; a library behind ``tools/sweep.py`` (its
thin entry point) and ``python -m fewshot.distance`` (the report alone)::

    python tools/sweep.py --metrics grad_norm,snip,synflow,jacob_cov,ntk,lr,gm --seeds 10 \\
        --jobs 2 --C 8 --N 1 --batch-size 32 --runs runs/sweep --out runs/sweep/split_distance

Each (metric, seed) is one ``fewshot.split ... --out RUNS --name METRIC_sSEED`` run: the split
command by module name (``--split-module``) as a :class:`fewshot.executor.CommandRun` task, so
that its log ``RUNS/logs/NAME.log`` is the command's output; ``--jobs`` at a time, each limited
to ``--threads`` CPU threads. By default each run is a fork of this process, made after it has
imported the split module once (the imports cost ~10 CPU-seconds a run otherwise), one fresh
fork per run, always from the main thread while no other thread exists (a ``multiprocessing``
``Pool`` forks replacement workers from a handler thread, and such forks could deadlock on a
lock held by another thread: seen as a sweep hanging in the test suite); ``--no-fork`` starts
fresh ``python -m fewshot.split`` processes instead, ``--jobs`` at a time (a thread pool waiting
on them). ``--executor ray`` runs each split as a Ray task on :mod:`fewshot.executor` instead,
``--workers`` at a time (default ``--jobs``) on an embedded Ray or the cluster at
``--ray-address``; a Ray worker runs its splits in-process (imports paid once per worker),
output in the same logs, and the trees are the same as with the default executor. Options are
the fields of :class:`SweepConfig` (``--config``/``--print-config`` work as for every command).
Finished runs (``tree.json`` with ``complete: true``) are skipped, unfinished ones resumed with
``--resume``, so an interrupted sweep is continued by running the same command again. Finally
:func:`report_distance` (what ``fewshot.distance`` runs) writes the table, JSON and figures to
``--out`` from the finished trees. Exit code 1 if a run failed (the analysis still uses the
others).
"""

from __future__ import annotations

import contextlib
import importlib
import multiprocessing as mp
import multiprocessing.connection
import os
import shlex
import subprocess
import sys
import time
import traceback
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from fewshot import executor as fx
from fewshot.analysis.split_distance import DistanceReport, analyse_paths, format_table
from fewshot.cli import run_main
from fewshot.config import (
    CommonOptions,
    ImageOptions,
    apply_common,
    make_config,
    option,
    parse_config,
)
from fewshot.errors import UsageError
from fewshot.io import atomic_write_json, atomic_write_text
from fewshot.run_folder import CONFIG, LOGS, SWEEP_CONFIG, run_name, save_run_config, tree_path
from fewshot.splitting.tree import TreeFileError, load_tree

ROOT = Path(__file__).resolve().parents[2]
"""The folder holding the ``fewshot`` package (on a fresh split process's ``PYTHONPATH``)."""

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


@dataclass(kw_only=True)
class SweepConfig(fx.ExecutorOptions, ImageOptions, CommonOptions):
    """The paper's split-distance experiment: split with each metric over N seeds, then analyse.

    ``--threads`` is per split process (default 1); ``--device`` and ``--data-option`` are
    passed to every split run when set. ``--executor ray`` runs each split as a Ray task
    (``--workers`` at a time, default ``--jobs``) instead of forking.
    """

    metrics: list[str] = option(list(PAPER_METRICS), help="comma-separated metrics")
    seeds: int = option(10, help="number of seeds per metric", minimum=1)
    first_seed: int = option(0, help="first seed")
    jobs: int = option(1, help="split processes at a time", minimum=1)
    runs: Path = option(Path("runs/sweep"), help="folder of run folders")
    out: Path | None = option(None, help="analysis folder (default RUNS/split_distance)")
    C: int | None = option(None, help="channels of the first stage (split's default)")
    N: int | None = option(None, help="cells per stage (split's default)")
    batch_size: int | None = option(None, help="scoring batch size (split's default)")
    depth: int = option(3, help="levels of splits", minimum=1)
    branch: int = option(2, help="children per split", minimum=2)
    dataset: str | None = option(None, help="data set (split's default)")
    data_root: Path | None = option(None, help="data folder")
    split_args: str = option("", help="extra flags for every split run (quoted)")
    split_module: str = option("fewshot.split", help="the split command's module")
    no_fork: bool = option(
        False,
        help="start each run as a fresh `python -m` process (default: fork this one after "
        "importing the split module once, which skips ~10 CPU-s of imports per run)",
    )
    dry_run: bool = option(False, help="print the plan and exit")
    no_analysis: bool = option(False, help="run the splits only")

    def resolve(self) -> SweepConfig:
        if not self.metrics:
            raise UsageError("need at least one metric")
        self.threads = self.threads or 1
        self.out = self.out or self.runs / "split_distance"
        return self


def plan(args: SweepConfig) -> list[Run]:
    """Every (metric, seed) run with its state, from the tree files already on disk."""
    metrics = args.metrics
    runs = []  # seed-major: a sweep cut short still has the first seeds of every metric
    for seed in range(args.first_seed, args.first_seed + args.seeds):
        for metric in metrics:
            tree = tree_path(args.runs, metric, seed)
            runs.append(Run(metric, seed, run_name(metric, seed), tree, _state(tree)))
    return runs


def _state(tree: Path) -> str:
    if not tree.is_file():
        return "new"
    try:
        return "done" if load_tree(tree).complete else "resume"
    except TreeFileError as exc:
        raise SystemExit(f"error: {exc}; delete that run folder to redo it") from exc


def split_command(args: SweepConfig, run: Run) -> list[str]:
    """The ``python -m fewshot.split`` command line of one run."""
    cmd = [sys.executable, "-m", args.split_module, "--metric", run.metric]
    cmd += ["--seed", str(run.seed), "--out", str(args.runs), "--name", run.name]
    for key in PASS_THROUGH:
        value = getattr(args, key)
        if value is not None:
            cmd += [f"--{key.replace('_', '-')}", str(value)]
    if args.device != "auto":
        cmd += ["--device", args.device]
    for key, value in args.data_option.items():
        cmd += ["--data-option", f"{key}={value}"]
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
PRELOAD = (
    "fewshot.data",
    "fewshot.metrics",
    "fewshot.plotting.tree",
    "fewshot.splitting.tree_table",
)
"""Modules ``fewshot.split`` imports lazily; preloaded once so forked runs skip their import."""


SplitTask = fx.Task[fx.CommandRun]
"""One split run: its name, and the split command (module, flags, log file) to run."""


def can_fork() -> bool:
    return "fork" in mp.get_all_start_methods()


def preload(module: str) -> None:
    """Import the split module (and its lazy imports) in this process, so that each forked run
    inherits them: ~10 CPU-seconds of imports (torch, matplotlib) paid once, not per run."""
    importlib.import_module(module)
    if module == "fewshot.split":
        for name in PRELOAD:
            with contextlib.suppress(ImportError):  # moved: the run imports it itself
                importlib.import_module(name)


def _task(args: SweepConfig, run: Run) -> SplitTask:
    log = args.runs / LOGS / f"{run.name}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    cmd = split_command(args, run)
    with log.open("a", encoding="utf-8") as f:
        f.write(f"$ {shlex.join(cmd)}\n")
    return fx.Task(run.name, fx.CommandRun(args.split_module, tuple(cmd[3:]), log))


def run_forked(task: SplitTask, threads: int) -> tuple[str, int, float]:
    """In a fork of the sweep: stdout/stderr into the log, one thread budget,
    the split module's ``main``; returns (name, exit code, seconds)."""
    start, run = time.perf_counter(), task.item
    with run.log.open("a", encoding="utf-8") as log:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        torch = sys.modules.get("torch")  # preloaded with the split module
        if torch is not None:
            torch.set_num_threads(threads)
        try:
            rc = importlib.import_module(run.module).main(list(run.argv)) or 0
        except SystemExit as exc:  # argparse and sys.exit in the command
            rc = exc.code if isinstance(exc.code, int) else 1
        except Exception:  # a crash of one run must not stop the sweep: log it
            traceback.print_exc()
            rc = 1
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
    return task.name, int(rc), time.perf_counter() - start


def run_process(task: SplitTask, threads: int) -> tuple[str, int, float]:
    """``python -m MODULE ...`` with its output in the log; returns (name, exit code, seconds)."""
    start, run = time.perf_counter(), task.item
    cmd = [sys.executable, "-m", run.module, *run.argv]
    with run.log.open("a", encoding="utf-8") as log:
        rc = subprocess.call(cmd, stdout=log, stderr=subprocess.STDOUT, env=_env(threads))
    return task.name, rc, time.perf_counter() - start


def _results(args: SweepConfig, tasks: list[SplitTask]) -> Iterator[tuple[str, int, float]]:
    """Run ``tasks`` ``--jobs`` at a time; yields each result as it finishes."""
    threads = int(args.threads or 1)
    if args.executor == "ray":
        yield from _ray_results(args, tasks)
        return
    if args.no_fork or not can_fork():
        with ThreadPoolExecutor(args.jobs) as pool:
            yield from pool.map(lambda t: run_process(t, threads), tasks)
        return
    preload(args.split_module)
    sys.stdout.flush()
    sys.stderr.flush()
    yield from _forked_results(tasks, args.jobs, threads)


def _forked_results(
    tasks: list[SplitTask], jobs: int, threads: int
) -> Iterator[tuple[str, int, float]]:
    """One fork per task, ``jobs`` at a time, each made from this (single-threaded) process;
    waits on their sentinels (``multiprocessing.connection.wait``); yields as each finishes."""
    ctx = mp.get_context("fork")
    queue = list(tasks)
    running: dict[int, tuple[SplitTask, mp.process.BaseProcess, float]] = {}
    while queue or running:
        while queue and len(running) < jobs:
            task = queue.pop(0)
            proc = ctx.Process(target=_forked_child, args=(task, threads), name=task.name)
            proc.start()
            running[proc.sentinel] = (task, proc, time.perf_counter())
        for sentinel in mp.connection.wait(list(running)):
            task, proc, start = running.pop(sentinel)
            proc.join()
            yield task.name, int(proc.exitcode or 0), time.perf_counter() - start


def _ray_results(args: SweepConfig, tasks: list[SplitTask]) -> Iterator[tuple[str, int, float]]:
    """Each task a Ray task running the split in a Ray worker (:func:`fewshot.executor.
    run_command`, ``--workers`` at a time, default ``--jobs``); yields (name, exit code,
    seconds) as each finishes."""
    options = fx.ExecutorOptions(
        executor="ray", workers=args.workers or args.jobs, ray_address=args.ray_address
    )
    start = time.perf_counter()
    with fx.open_executor(options) as executor:
        for out in executor.map(fx.run_command, tasks, cpus=args.threads, threads=args.threads):
            if not out.ok:
                print(f"{out.name}: {out.error}", file=sys.stderr, flush=True)
            seconds = out.value if out.ok else time.perf_counter() - start
            yield out.name, 0 if out.ok else 1, float(seconds or 0.0)


def _forked_child(task: SplitTask, threads: int) -> None:
    """Body of a forked run: its exit code is the split's."""
    sys.exit(run_forked(task, threads)[1])


def run_all(args: SweepConfig, todo: Sequence[Run]) -> list[Run]:
    """Run ``todo`` (see :func:`_results`); returns the runs that failed."""
    if not todo:
        return []
    os.environ.update({var: str(args.threads) for var in THREAD_VARS})  # before torch starts
    by_name = {r.name: r for r in todo}
    failed = []
    tasks = [_task(args, r) for r in todo]
    for done, (name, rc, secs) in enumerate(_results(args, tasks), start=1):
        status = "ok" if rc == 0 else f"FAILED (exit {rc}, see {args.runs}/{LOGS}/{name}.log)"
        print(f"[{done}/{len(todo)}] {name} {status} ({secs:.1f} s)", flush=True)
        if rc != 0:
            failed.append(by_name[name])
    return failed


def analyse(args: SweepConfig, runs: Sequence[Run]) -> int:
    """The split-distance report (:func:`report_distance`) of this sweep's finished trees."""
    finished = [r.tree for r in runs if _state(r.tree) == "done"]
    if not finished:
        print("error: no finished tree to analyse", file=sys.stderr)
        return 2
    return run_main(lambda _: _distance(finished, args.out))


def _distance(paths: list[Path], out: Path) -> int:
    config = make_config(DistanceConfig, {"paths": paths, "out": out})
    apply_common(config)
    report_distance(config)
    return 0


# -- the split-distance report (fewshot.distance) ------------------------------------------------

JSON_NAME = "split_distance.json"
TABLE_NAME = "table.md"
FIG1_NAME = "internal_external.png"
FIG2_NAME = "by_level.png"


@dataclass(kw_only=True)
class DistanceConfig(CommonOptions):
    """Internal/external split distance of splitting trees across seeds.

    The common ``--device``/``--data-option`` are accepted for a uniform vocabulary; the
    analysis reads tree files only and uses neither.
    """

    paths: list[Path] = option(
        [], positional=True, help="tree.json files, run folders, or parents", metavar="PATH"
    )
    out: Path = option(Path("runs/split_distance"), help="output folder")
    same_edge_only: bool = option(
        False, help="compare only splits on the same edge (default: any two splits, as partitions)"
    )
    allow_incomplete: bool = option(False, help="include trees of unfinished runs")
    no_plots: bool = option(False, help="write the JSON and table only")

    def resolve(self) -> DistanceConfig:
        if not self.paths:
            raise UsageError("give at least one tree file or run folder (see --help)")
        return self


def write_outputs(report: DistanceReport, out: Path, *, plots: bool = True) -> list[Path]:
    """Write the JSON report, the Markdown table and (unless ``plots`` is off) both figures."""
    written = [
        atomic_write_json(out / JSON_NAME, report.to_dict()),
        atomic_write_text(out / TABLE_NAME, format_table(report)),
    ]
    if plots:
        from fewshot.plotting.split_distance import plot_by_level, plot_internal_external

        written.append(plot_internal_external(report, out / FIG1_NAME))
        written.append(plot_by_level(report, out / FIG2_NAME))
    return written


def report_distance(config: DistanceConfig) -> DistanceReport:
    """Analyse the trees, print the table, write the outputs and the configuration to ``out``."""
    report = analyse_paths(
        config.paths,
        same_edge_only=config.same_edge_only,
        allow_incomplete=config.allow_incomplete,
        progress=not config.no_progress,
    )
    print(format_table(report), end="")
    written = write_outputs(report, config.out, plots=not config.no_plots)
    save_run_config(config.out, config, CONFIG)
    print(f"wrote {', '.join(str(p) for p in written)}", file=sys.stderr)
    return report


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point (``tools/sweep.py``); user errors exit 2 with one line."""
    return run_main(_main, argv)


def _main(argv: Sequence[str] | None) -> int:
    args = parse_config(SweepConfig, argv, prog="python tools/sweep.py")
    runs = plan(args)
    todo = [r for r in runs if r.state != "done"]
    print(f"{len(runs)} runs: {len(runs) - len(todo)} finished, {len(todo)} to run", flush=True)
    if args.dry_run:
        for r in todo:
            print(shlex.join(split_command(args, r)))
        return 0
    save_run_config(args.runs, args, SWEEP_CONFIG)  # the last sweep's resolved options
    failed = run_all(args, todo)
    rc = 0 if args.no_analysis else analyse(args, runs)
    if failed:
        print(f"{len(failed)} runs failed: {', '.join(r.name for r in failed)}", file=sys.stderr)
    return 1 if failed else rc


if __name__ == "__main__":
    sys.exit(main())
