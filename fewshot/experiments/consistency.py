"""The consistency experiment (the paper's split distance): split with each metric over N
seeds, then the split-distance report of the trees; a library behind ``tools/sweep.py`` (its
thin entry point) and ``python -m fewshot.distance`` (the report alone)::

    python tools/sweep.py --metrics grad_norm,snip,synflow,jacob_cov,ntk,lr,gm --seeds 10 \\
        --jobs 2 --C 8 --N 1 --batch-size 32 --runs runs/sweep --out runs/sweep/split_distance

Each (metric, seed) is one split run ``RUNS/METRIC_sSEED``: a
:class:`~fewshot.splitting.run.SplitConfig` built from the sweep's values (what ``fewshot.split
--metric M --seed S --out RUNS --name M_sS ...`` would parse; ``--split-args`` are parsed as
that command's flags) run by :func:`fewshot.splitting.run.run_split` in a worker, its output in
``RUNS/logs/NAME.log`` (which starts with the equivalent command line), ``--jobs`` at a time,
each limited to ``--threads`` CPU threads. The runs are tasks of :mod:`fewshot.executor`: by
default :class:`~fewshot.executor.ProcessExecutor` forks this process once per run, after it
has imported the split once (the imports cost ~10 CPU-seconds a run otherwise), always from
the main thread while no other thread exists; ``--no-fork`` starts each run in a fresh
interpreter (``spawn``) instead. ``--executor ray`` runs each split as a Ray task,
``--workers`` at a time (default ``--jobs``) on an embedded Ray or the cluster at
``--ray-address``; a Ray worker runs its splits in-process (imports paid once per worker),
output in the same logs. The trees are the same whatever the executor. Another
``--split-module`` (a command module with ``main(argv)``) is run with the flags instead.

Options are the fields of :class:`SweepConfig` (``--config``/``--print-config`` work as for
every command). Finished runs (``tree.json`` with ``complete: true``) are skipped, unfinished
ones resumed with ``--resume``, so an interrupted sweep is continued by running the same
command again. Finally :func:`report_distance` (what ``fewshot.distance`` runs) writes the
table, JSON and figures to ``--out`` from the finished trees. Exit code 1 if a run failed (the
analysis still uses the others).
"""

from __future__ import annotations

import contextlib
import importlib
import multiprocessing as mp
import os
import shlex
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fewshot import executor as fx
from fewshot.analysis.split_distance import DistanceReport, analyse_paths, format_table
from fewshot.choices import space_option
from fewshot.cli import run_main
from fewshot.config import (
    CommonOptions,
    ImageOptions,
    apply_common,
    flag_values,
    make_config,
    option,
    parse_config,
    refuse_changed,
    to_dict,
)
from fewshot.errors import UsageError
from fewshot.io import atomic_write_json, atomic_write_text
from fewshot.run_folder import (
    CONFIG,
    LOGS,
    SWEEP_CONFIG,
    load_run_config,
    lock_run,
    run_name,
    save_run_config,
    tree_path,
)
from fewshot.spaces import get_space
from fewshot.spaces.base import DEFAULT_SPACE
from fewshot.splitting.tree import TreeFileError, load_tree

if TYPE_CHECKING:  # torch: imported by the runs, not by the distance report
    from fewshot.splitting.run import SplitConfig

PAPER_METRICS = ("grad_norm", "snip", "synflow", "jacob_cov", "ntk", "lr", "gm")
DEFAULT_SPLIT = "fewshot.split"
"""The split command's module: its runs call :data:`SPLIT_LIBRARY` directly, with values."""
SPLIT_LIBRARY = "fewshot.splitting.run"
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

    space: str = space_option()
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
    split_module: str = option(DEFAULT_SPLIT, help="the split command's module")
    no_fork: bool = option(
        False,
        help="start each run in a fresh Python process (default: fork this one after "
        "importing the split once, which skips ~10 CPU-s of imports per run)",
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
    if args.space != DEFAULT_SPACE:  # the split's default is the default space
        cmd += ["--space", args.space]
    if args.device != "auto":
        cmd += ["--device", args.device]
    for key, value in args.data_option.items():
        cmd += ["--data-option", f"{key}={value}"]
    cmd += shlex.split(args.split_args)
    if run.state == "resume":
        cmd.append("--resume")
    return cmd


THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")
PRELOAD = (
    "fewshot.data",
    "fewshot.metrics",
    "fewshot.plotting.tree",
    "fewshot.splitting.tree_table",
)
"""Modules a split run imports lazily; preloaded once so forked runs skip their import."""


@dataclass(frozen=True)
class SplitJob:
    """One split of the sweep as values: the split configuration's values from the sweep, the
    ``--split-args`` flags (parsed as ``fewshot.split``'s, in the worker) and the run's log."""

    values: dict[str, Any]
    flags: tuple[str, ...]
    log: Path

    def config(self) -> SplitConfig:
        """The resolved split configuration (a :class:`UsageError` for a bad value or flag:
        the run's failure, raised where the run is)."""
        from fewshot.splitting.run import SplitConfig

        values = dict(self.values)
        for key, value in flag_values(SplitConfig, self.flags).items():
            if isinstance(value, dict) and isinstance(values.get(key), dict):
                value = {**values[key], **value}  # repeated KEY=VALUE flags add up
            values[key] = value
        return make_config(SplitConfig, values)


SplitTask = fx.Task[SplitJob | fx.CommandRun]
"""One split run: its name, and its split (a :class:`SplitJob` for ``fewshot.split``, else the
``--split-module`` command to run, as a :class:`fewshot.executor.CommandRun`)."""


def can_fork() -> bool:
    return "fork" in mp.get_all_start_methods()


def preload(module: str) -> None:
    """Import the split (and its lazy imports) in this process, so that each forked run
    inherits them: ~10 CPU-seconds of imports (torch, matplotlib) paid once, not per run."""
    importlib.import_module(SPLIT_LIBRARY if module == DEFAULT_SPLIT else module)
    if module == DEFAULT_SPLIT:
        for name in PRELOAD:
            with contextlib.suppress(ImportError):  # moved: the run imports it itself
                importlib.import_module(name)


def split_values(args: SweepConfig, run: Run) -> dict[str, Any]:
    """The split configuration's values of one run: those :func:`split_command` gives as
    flags before ``--split-args``."""
    values: dict[str, Any] = {
        "metric": run.metric, "seed": run.seed, "out": args.runs, "name": run.name,
        "data_option": dict(args.data_option), "resume": run.state == "resume",
    }  # fmt: skip
    given = {key: getattr(args, key) for key in PASS_THROUGH}
    values.update({key: value for key, value in given.items() if value is not None})
    if args.space != DEFAULT_SPACE:
        values["space"] = args.space
    if args.device != "auto":
        values["device"] = args.device
    return values


def _task(args: SweepConfig, run: Run) -> SplitTask:
    """The run as a task; the log starts with the equivalent command line (to redo it by
    hand). A user error in the split's values (an unknown metric) is the run's failure, in
    its log, as the command would have said it."""
    log = args.runs / LOGS / f"{run.name}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    cmd = split_command(args, run)
    with log.open("a", encoding="utf-8") as f:
        f.write(f"$ {shlex.join(cmd)}\n")
    if args.split_module != DEFAULT_SPLIT:  # another split command: only its flags are known
        return fx.Task(run.name, fx.CommandRun(args.split_module, tuple(cmd[3:]), log))
    job = SplitJob(split_values(args, run), tuple(shlex.split(args.split_args)), log)
    return fx.Task(run.name, job)


def run_task(context: Any, item: SplitJob | fx.CommandRun) -> tuple[int, float]:
    """One split run in this (worker) process, its output appended to its log; returns (exit
    code, seconds): 2 for a user error, as the split command exits."""
    start = time.perf_counter()
    if isinstance(item, SplitJob):
        rc = fx.run_in_log(lambda: run_main(lambda _: split_and_report(item.config())), item.log)
    else:
        module = importlib.import_module(item.module)
        rc = fx.run_in_log(lambda: module.main(list(item.argv)), item.log)
    return rc, time.perf_counter() - start


def split_and_report(config: SplitConfig) -> int:
    """What ``python -m fewshot.split`` does with a parsed configuration: split
    (:func:`fewshot.splitting.run.run_split`), draw ``tree.png``, print the summary."""
    from fewshot.plotting.tree import save_tree_figure
    from fewshot.splitting.run import run_split
    from fewshot.splitting.tree_table import print_split_report

    apply_common(config)
    run = run_split(config, on_stop=save_tree_figure)
    if run.already_complete:
        print(f"{run.run_dir} is already finished (same settings): nothing to do\n")
    print_split_report(run.tree, run.run_dir)
    return 0


def _executor(args: SweepConfig) -> contextlib.AbstractContextManager[fx.Executor]:
    """Ray tasks (``--executor ray``, ``--workers`` at a time, default ``--jobs``), or a child
    process per run, ``--jobs`` at a time: a fork of this process after the split's imports,
    or with ``--no-fork`` (or where fork does not exist) a fresh interpreter (``spawn``)."""
    if args.executor == "ray":
        options = fx.ExecutorOptions(
            executor="ray",
            workers=args.workers or args.jobs,
            ray_address=args.ray_address,
            ray_auth_token_path=args.ray_auth_token_path,
        )
        return fx.open_executor(options)
    fork = not args.no_fork and can_fork()
    if fork:
        preload(args.split_module)
    sys.stdout.flush()
    sys.stderr.flush()
    method = "fork" if fork else "spawn"
    return contextlib.nullcontext(fx.ProcessExecutor(args, jobs=args.jobs, start_method=method))


def _results(args: SweepConfig, tasks: list[SplitTask]) -> Iterator[tuple[str, int, float]]:
    """Run ``tasks`` on the executor (see :func:`_executor`); yields (name, exit code,
    seconds) as each finishes. A run whose process failed without an exit code (a crash in a
    Ray worker, a killed child) is exit code 1, its error printed."""
    threads = int(args.threads or 1)
    start = time.perf_counter()
    with _executor(args) as executor:
        for out in executor.map(run_task, tasks, cpus=threads, threads=threads):
            if out.ok and out.value is not None:
                rc, seconds = out.value
            else:
                rc, seconds = 1, time.perf_counter() - start
                print(f"{out.name}: {out.error}", file=sys.stderr, flush=True)
            if out.ok and rc != 0:
                log = args.runs / LOGS / f"{out.name}.log"
                failed = fx.CommandFailed(f"exit code {rc}, see {log}")
                print(f"{out.name}: {type(failed).__name__}: {failed}", file=sys.stderr, flush=True)
            yield out.name, rc, seconds


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
    return run_main(lambda _: _distance(finished, args.out, args.space))


def _distance(paths: list[Path], out: Path, space: str) -> int:
    config = make_config(DistanceConfig, {"paths": paths, "out": out, "space": space})
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
    space: str = space_option()
    out: Path = option(Path("runs/split_distance"), help="output folder")
    same_edge_only: bool = option(
        False, help="compare only splits on the same edge (default: any two splits, as partitions)"
    )
    allow_incomplete: bool = option(False, help="include trees of unfinished runs")
    no_plots: bool = option(False, help="write the JSON and table only", affects_results=False)

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
    """Analyse the trees, print the table, write the outputs and the configuration to ``out``.

    The analysis is recomputed from the trees every time (seconds; trees may have been added),
    so the same command twice writes the same files; other analysis settings on an ``out``
    that holds a report are refused naming the difference."""
    refuse_changed(
        load_run_config(config.out, CONFIG), config, where=config.out,
        hint="use the original flags, or another --out",
    )  # fmt: skip
    report = analyse_paths(
        config.paths,
        same_edge_only=config.same_edge_only,
        allow_incomplete=config.allow_incomplete,
        progress=not config.no_progress,
        space=get_space(config.space),
    )
    print(format_table(report), end="")
    lock_run(config.out)  # the trees are only read; the outputs get one writer
    written = write_outputs(report, config.out, plots=not config.no_plots)
    save_run_config(config.out, config, CONFIG)
    print(f"wrote {', '.join(str(p) for p in written)}", file=sys.stderr)
    return report


SPLIT_SETTINGS = ("C", "N", "batch_size", "depth", "branch", "dataset", "space", "split_args",
                  "split_module", "data_option")  # fmt: skip
"""The sweep's options that its split runs' trees depend on (data folders never do)."""


def _finished(args: SweepConfig, runs: Sequence[Run]) -> bool:
    """Whether the last sweep in ``args.runs`` had these split settings, every run's tree is
    complete and (unless ``--no-analysis``) the report is newer than every tree: says so."""
    saved = load_run_config(args.runs, SWEEP_CONFIG)
    mine = to_dict(args)
    if saved is None or any(saved.get(k) != mine[k] for k in SPLIT_SETTINGS):
        return False
    if any(r.state != "done" for r in runs):
        return False
    report = args.out / JSON_NAME
    if not args.no_analysis and (
        not report.is_file()
        or any(r.tree.stat().st_mtime_ns > report.stat().st_mtime_ns for r in runs)
    ):
        return False
    print(f"{args.runs} is already finished (same settings): nothing to do")
    return True


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
    if _finished(args, runs):
        return 0
    lock_run(args.runs)
    save_run_config(args.runs, args, SWEEP_CONFIG)  # the last sweep's resolved options
    failed = run_all(args, todo)
    rc = 0 if args.no_analysis else analyse(args, runs)
    if failed:
        print(f"{len(failed)} runs failed: {', '.join(r.name for r in failed)}", file=sys.stderr)
    return 1 if failed else rc


if __name__ == "__main__":
    sys.exit(main())
