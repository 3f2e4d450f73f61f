"""Check every scalar zero-cost metric against NAS-Bench-201 and the published correlations.

Stages (default: all three, in this order; each can be run alone and resumes):

- ``score``: ``python -m fewshot.score`` on a seeded random sample of standalone archs (C=16,
  N=5, batch 64, CIFAR-10 images) in two groups: the cheap metrics on ``--num`` archs and the
  expensive ones (grasp, ntk, zico) on the first ``--expensive-num`` archs of the same sample.
  Both CSVs resume, so a cut-short run is continued by running the same command again.
- ``speed``: on the first ``--speed-archs`` archs, all metrics in one combined pass vs each
  metric on its own (a fresh probe cache per metric), interleaved arch by arch so both see the
  same machine load; also checks that both give the same values.
- ``report``: Spearman/Kendall vs CIFAR-10 test accuracy next to SPEC 3's published numbers,
  Spearman of our per-arch values vs NAS-Bench-Suite-Zero's table, the speed numbers; writes
  ``--readme`` (Markdown) and ``report.json``.

Two more stages run only when named:

- ``proxies``: the six zero-cost-nas proxies (``--proxy-metrics``) per arch at ``--C``/``--N``,
  batch ``--batch-size``, timed per metric and per probe (phase) in a worker process
  (``tools/benchmark_worker.py``); with ``--compare-rev REV`` also in that revision's code (a
  second worker), the same archs and batch, alternating which goes first: the before/after
  ratio in one run, and whether the values are identical;
- ``memory``: peak RSS of one process scoring ``--memory-archs`` archs (e.g. 100 and 1000)
  through ``fewshot.scoring.score_archs``, one fresh process per count.

Example (the numbers in docs/metrics/README.md)::

    OMP_NUM_THREADS=1 python tools/benchmark_metrics.py --num 300 --expensive-num 100
    python tools/benchmark_metrics.py proxies --speed-archs 10 --compare-rev 1cfa745
    python tools/benchmark_metrics.py memory --C 8 --N 1 --memory-archs 100 --memory-archs 1000
"""

from __future__ import annotations

import csv
import json
import math
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fewshot.cli import run_main  # noqa: E402
from fewshot.config import CommonOptions, option, parse_config  # noqa: E402
from fewshot.correlation import rank_correlation, spearman_interval  # noqa: E402
from fewshot.io import atomic_write_json  # noqa: E402
from fewshot.metrics import compute_metrics, list_metrics  # noqa: E402
from fewshot.metrics.vote import (  # noqa: E402
    VOTE_METRICS,
    finite_rows,
    finite_vote,
    vote_accuracy,
)
from fewshot.models.supernet import build_network  # noqa: E402
from fewshot.scoring import (  # noqa: E402
    ScoreFile,
    ScoringSpec,
    load_scoring_data,
    read_score_metrics,
    sample_archs,
)

EXPENSIVE = ("grasp", "ntk", "zico")
SHARED = Path("../shared/data")

# SPEC section 3, CIFAR-10 column: (value, measure, source).
PUBLISHED = {
    "grad_norm": (0.58, "spearman", "Abdelfattah et al."),
    "snip": (0.58, "spearman", "Abdelfattah et al."),
    "grasp": (0.48, "spearman", "Abdelfattah et al."),
    "fisher": (0.36, "spearman", "Abdelfattah et al."),
    "synflow": (0.74, "spearman", "Abdelfattah et al."),
    "jacob_cov": (0.73, "spearman", "Abdelfattah et al."),
    "zico": (0.61, "kendall", "T-CET paper"),
    "zen": (0.29, "kendall", "T-CET paper"),
    "naswot": (0.58, "kendall", "T-CET paper"),
    "ssnr": (0.68, "kendall", "T-CET paper"),
    "tcet": (0.69, "kendall", "T-CET paper"),
    "tcet_log": (0.69, "kendall", "T-CET paper (official code's log variant)"),
}
PUBLISHED_KENDALL_ALSO = {"synflow": 0.54, "snip": 0.46}  # T-CET paper's Kendall column
TOLERANCE = 0.07

# Our metric -> NAS-Bench-Suite-Zero column (reference/nb201_zc_proxies_cifar10.csv).
REFERENCE_COLUMNS = {
    "fisher": "fisher",
    "flops": "flops",
    "grad_norm": "grad_norm",
    "grasp": "grasp",
    "jacob_cov": "jacov",
    "naswot": "nwot",
    "params": "params",
    "snip": "snip",
    "synflow": "synflow",
    "zen": "zen",
}


STAGES = ("score", "speed", "report")
EXTRA_STAGES = ("proxies", "memory")  # run only when named
SIX = ("grad_norm", "snip", "grasp", "fisher", "synflow", "jacob_cov")  # zero-cost-nas's proxies


@dataclass(kw_only=True)
class BenchmarkConfig(CommonOptions):
    """Check every scalar zero-cost metric against NAS-Bench-201 and the published numbers.

    ``--threads`` defaults to 1 here (a shared machine); scoring runs on ``--device cpu``.
    """

    stages: list[str] = option(
        list(STAGES), positional=True, choices=STAGES + EXTRA_STAGES,
        help="stages to run, in this order (proxies, memory: only when named)",
    )  # fmt: skip
    num: int = option(300, help="archs for the cheap metrics", minimum=1)
    expensive_num: int = option(100, help="archs for grasp, ntk, zico", minimum=1)
    speed_archs: int = option(10, help="archs timed (combined/separate)", minimum=1)
    seed: int = option(0, help="sample seed")
    data: Path = option(SHARED, help="the offline data folder")
    out: Path = option(Path("runs/benchmark_metrics"), help="output folder")
    readme: Path = option(Path("docs/metrics/README.md"), help="Markdown report to update")
    compare_rev: str | None = option(
        None, help="proxies: also time this git revision, interleaved arch by arch"
    )
    proxy_metrics: str = option(",".join(SIX), help="proxies, memory: the metrics timed")
    C: int = option(16, help="proxies, memory: channels of the first stage", minimum=1)
    N: int = option(5, help="proxies, memory: cells per stage", minimum=1)
    batch_size: int = option(64, help="proxies, memory: scoring batch", minimum=1)
    memory_archs: list[int] = option(
        [100, 1000], help="memory: arch counts, one process each (repeatable)", repeat=True
    )

    def resolve(self) -> BenchmarkConfig:
        self.threads = self.threads or 1
        self.stages = self.stages or list(STAGES)
        return self


def groups() -> dict[str, list[str]]:
    scalar = list_metrics(kind="scalar")
    return {
        "main": [m for m in scalar if m not in EXPENSIVE],
        "expensive": [m for m in scalar if m in EXPENSIVE],
    }


def score_argv(args: BenchmarkConfig, group: str, metrics: list[str]) -> list[str]:
    """The ``python -m fewshot.score`` arguments of one group (resumable: same every time)."""
    num = args.num if group == "main" else args.expensive_num
    return [
        "--num", str(num), "--seed", str(args.seed), "--metrics", ",".join(metrics),
        "--dataset", "folder", "--data-root", str(args.data / "cifar10-subset"),
        "--batch-size", "64", "--batches", "2", "--C", "16", "--N", "5",
        "--threads", str(args.threads), "--device", "cpu", "--no-plots",
        "--benchmark", str(args.data / "NATS-tss-v1_0-3ffb9-simple"),
        "--out", str(args.out / group), "--retry-failed",
    ]  # fmt: skip


# -- stages -----------------------------------------------------------------------------------


def stage_score(args: BenchmarkConfig) -> None:
    from fewshot.score import main as score_main

    for group, metrics in groups().items():
        code = score_main(score_argv(args, group, metrics))
        if code:
            raise SystemExit(f"fewshot.score failed for group {group} (exit {code})")


def _timed(fn, clock=time.perf_counter):
    start = clock()
    out = fn()
    return out, clock() - start


def _cpu_timed(fn):
    """(result, (wall seconds, CPU seconds of this process)): with 1 thread on a shared
    machine, the CPU time is the work done, the wall time also counts waiting for a core."""
    (out, cpu), wall = _timed(lambda: _timed(fn, time.process_time))
    return out, (wall, cpu)


def stage_speed(args: BenchmarkConfig) -> None:
    spec = ScoringSpec(dataset="folder", seed=args.seed)
    _, data = load_scoring_data(spec, data_root=args.data / "cifar10-subset")
    metrics = list_metrics(kind="scalar")
    rows = []
    for arch in sample_archs(args.speed_archs, args.seed):
        torch.manual_seed(args.seed)
        net, build = _cpu_timed(lambda a=arch: build_network(a, C=16, N=5, num_classes=10))
        combined, comb = _cpu_timed(lambda n=net: compute_metrics(n, data, metrics, errors={}))
        separate, sep = {}, {}
        for m in metrics:
            res, sep[m] = _cpu_timed(lambda n=net, m=m: compute_metrics(n, data, [m], errors={}))
            separate.update(res)
        same = all(separate[m].value == combined[m].value for m in combined)
        rows.append(
            {"arch": arch.to_string(), "build": build, "combined": comb,
             "separate": [sum(t[0] for t in sep.values()), sum(t[1] for t in sep.values())],
             "separate_by_metric": sep, "same": same, "failed": sorted(set(metrics) - set(combined))}
        )  # fmt: skip
        print(f"{arch}: combined {comb}, separate {rows[-1]['separate']} (wall, cpu s)", flush=True)
    atomic_write_json(
        args.out / "speed.json",
        {"rows": rows, "load": _load(), "when": _now(), "threads": torch.get_num_threads()},
    )


def _load() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def _now() -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())


# -- proxies: the six zero-cost-nas proxies, this tree vs another revision, per probe -----------

WORKER = ROOT / "tools" / "benchmark_worker.py"


def save_scoring_batch(args: BenchmarkConfig, path: Path) -> str:
    """One batch of ``--batch-size`` CIFAR-10-subset images (random images when the subset is
    absent) saved for the workers; returns what it is."""
    from fewshot.metrics import ScoringData

    root = args.data / "cifar10-subset"
    if root.is_dir():
        spec = ScoringSpec(dataset="folder", seed=args.seed, batches=1, batch_size=args.batch_size)
        _, data = load_scoring_data(spec, data_root=root)
        what = f"CIFAR-10 subset ({root})"
    else:
        data = ScoringData.random(batch_size=args.batch_size, num_batches=1, seed=args.seed)
        what = "random images (no CIFAR-10 subset found)"
    torch.save({"batches": list(data.batches), "num_classes": data.num_classes}, path)
    return what


def extract_revision(rev: str, into: Path) -> Path:
    """The ``fewshot`` package of git revision ``rev``, extracted under ``into``."""
    into.mkdir(parents=True, exist_ok=True)
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", rev, "fewshot"], check=True, capture_output=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into


class Worker:
    """A ``benchmark_worker.py proxies`` process: send an arch, read its JSON line."""

    def __init__(self, name: str, src: Path, data: Path, args: BenchmarkConfig) -> None:
        cmd = [sys.executable, str(WORKER), str(src), "proxies", str(data),
               "--metrics", args.proxy_metrics, "--C", str(args.C), "--N", str(args.N),
               "--seed", str(args.seed), "--threads", str(args.threads)]  # fmt: skip
        self.name = name
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.module = json.loads(self._line())["fewshot"]

    def _line(self) -> str:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise SystemExit(f"benchmark worker {self.name} died (exit {self.proc.wait()})")
        return line

    def score(self, arch: str) -> dict:
        assert self.proc.stdin is not None
        self.proc.stdin.write(arch + "\n")
        self.proc.stdin.flush()
        return json.loads(self._line())

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        self.proc.wait()


def stage_proxies(args: BenchmarkConfig) -> None:
    """Time the proxies per arch (and per metric) in this tree and, with ``--compare-rev``,
    in that revision: one worker process each, the same archs and batch, alternating which
    goes first, one warm-up arch each; values compared bitwise."""
    import tempfile

    archs = [a.to_string() for a in sample_archs(args.speed_archs, args.seed)]
    with tempfile.TemporaryDirectory() as tmp:
        data_path = Path(tmp) / "batch.pt"
        data_what = save_scoring_batch(args, data_path)
        workers = [Worker("current", ROOT, data_path, args)]
        if args.compare_rev:
            old = extract_revision(args.compare_rev, Path(tmp) / "old")
            workers.append(Worker(args.compare_rev, old, data_path, args))
        for w in workers:
            w.score(archs[0])  # warm-up: first-call allocations and library set-up
        rows: dict[str, list[dict]] = {w.name: [] for w in workers}
        for i, arch in enumerate(archs):
            for w in workers[::-1] if i % 2 else workers:
                rows[w.name].append(w.score(arch))
            print(f"{arch}: " + ", ".join(
                f"{w.name} {sum(r[1] for r in rows[w.name][-1]['metrics'].values()):.2f}"
                for w in workers) + " s (cpu)", flush=True)  # fmt: skip
        for w in workers:
            w.close()
    summary = proxy_summary(rows, [w.name for w in workers])
    summary |= {"archs": archs, "data": data_what, "C": args.C, "N": args.N,
                "batch_size": args.batch_size, "threads": args.threads,
                "modules": {w.name: w.module for w in workers}, "load": _load(), "when": _now()}  # fmt: skip
    atomic_write_json(args.out / "proxies.json", {"summary": summary, "rows": rows})
    print(proxy_table(summary))


def _mean_pair(rows: list[dict], get) -> list[float]:
    """Mean over ``rows`` of ``get(row)``, a ``[wall, cpu]`` pair."""
    return [sum(get(r)[k] for r in rows) / len(rows) for k in (0, 1)]


def _arch_seconds(row: dict) -> list[float]:
    return [row["build"][k] + sum(t[k] for t in row["metrics"].values()) for k in (0, 1)]


def version_summary(rs: list[dict]) -> dict:
    """One version's mean seconds per arch ([wall, cpu]): total, build, per metric; and
    each probe's mean wall seconds (inclusive of the probes it calls)."""
    metrics = list(rs[0]["metrics"])
    probes = sorted({p for r in rs for p in r["probes"]})
    return {
        "seconds_per_arch": _mean_pair(rs, _arch_seconds),
        "build": _mean_pair(rs, lambda r: r["build"]),
        "by_metric": {
            m: _mean_pair(rs, lambda r, m=m: r["metrics"].get(m, [0.0, 0.0])) for m in metrics
        },
        "probes_wall": {p: sum(r["probes"].get(p, 0.0) for r in rs) / len(rs) for p in probes},
    }


def proxy_summary(rows: dict[str, list[dict]], names: list[str]) -> dict:
    """Each version's :func:`version_summary`; with two, the ratio other/first (old/new) and
    how many archs got identical values."""
    out: dict = {"versions": {name: version_summary(rows[name]) for name in names}}
    if len(names) == 2:
        new, old = (out["versions"][n]["seconds_per_arch"] for n in names)
        out["ratio_old_over_new"] = [old[k] / new[k] for k in (0, 1)]
        out["time_saved"] = [1 - new[k] / old[k] for k in (0, 1)]
        pairs = zip(rows[names[0]], rows[names[1]], strict=True)
        same = [a["values"] == b["values"] for a, b in pairs]
        out["identical_values"] = f"{sum(same)}/{len(same)} archs"
    return out


def proxy_table(summary: dict) -> str:
    """Markdown: CPU seconds per arch by metric (in the order computed: a metric's time holds
    the shared passes it is the first to need), then wall seconds per probe and per phase of
    the shared pass, one column per version."""
    vs = summary["versions"]
    names = list(vs)
    head = [f"| {{}} | {' | '.join(names)} |", "|---|" + "---:|" * len(names)]
    lines = [head[0].format("CPU s per arch, by metric"), head[1]]
    rows = [("build network", {n: vs[n]["build"][1] for n in names})]
    rows += [(m, {n: vs[n]["by_metric"].get(m, [0, 0])[1] for n in names})
             for m in vs[names[0]]["by_metric"]]  # fmt: skip
    rows += [("**total**", {n: vs[n]["seconds_per_arch"][1] for n in names})]
    lines += [f"| {label} | " + " | ".join(f"{v[n]:.3f}" for n in names) + " |"
              for label, v in rows]  # fmt: skip
    probes = sorted({p for n in names for p in vs[n]["probes_wall"]})
    lines += ["", head[0].format("wall s per arch, by probe (phase)"), head[1]]
    lines += [f"| {p} | " + " | ".join(f"{vs[n]['probes_wall'].get(p, 0.0):.3f}" for n in names)
              + " |" for p in probes]  # fmt: skip
    if "ratio_old_over_new" in summary:
        r, saved = summary["ratio_old_over_new"], summary["time_saved"]
        lines.append(f"\n{names[1]}/{names[0]}: {r[1]:.2f}x CPU, {r[0]:.2f}x wall ({saved[1]:.0%} "
                     f"less CPU time per arch); identical values: {summary['identical_values']}")  # fmt: skip
    return "\n".join(lines)


# -- memory: peak RSS of one process scoring many archs -----------------------------------------


def stage_memory(args: BenchmarkConfig) -> None:
    """Score ``--memory-archs`` archs (each count in a fresh process, the bulk-scoring path
    with its CSV) and record the RSS along the way and the peak; the last count's peak over
    the first's is the growth."""
    import tempfile

    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        data_path = Path(tmp) / "batch.pt"
        data_what = save_scoring_batch(args, data_path)
        for num in args.memory_archs:
            cmd = [sys.executable, str(WORKER), str(ROOT), "memory", str(data_path),
                   "--metrics", args.proxy_metrics, "--C", str(args.C), "--N", str(args.N),
                   "--seed", str(args.seed), "--threads", str(args.threads), "--num", str(num),
                   "--every", str(max(1, min(100, num // 10))),
                   "--csv", str(Path(tmp) / f"scores{num}.csv")]  # fmt: skip
            out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
            samples = [json.loads(line) for line in out.splitlines()[1:] if line.strip()]
            results[str(num)] = samples
            last = samples[-1]
            print(f"{num} archs: peak RSS {last['peak_rss_mb']:.1f} MiB, "
                  f"{last['seconds'] / num:.3f} s per arch", flush=True)  # fmt: skip
    peaks = [results[str(n)][-1]["peak_rss_mb"] for n in args.memory_archs]
    summary = {"archs": args.memory_archs, "peak_rss_mb": peaks,
               "growth": peaks[-1] / peaks[0] - 1, "metrics": args.proxy_metrics,
               "C": args.C, "N": args.N, "batch_size": args.batch_size, "data": data_what,
               "threads": args.threads, "load": _load(), "when": _now()}  # fmt: skip
    atomic_write_json(args.out / "memory.json", {"summary": summary, "samples": results})
    print(f"peak RSS growth {args.memory_archs[0]} -> {args.memory_archs[-1]} archs: "
          f"{summary['growth']:+.1%}")  # fmt: skip


# -- report -----------------------------------------------------------------------------------


def merged_scores(args: BenchmarkConfig) -> dict[str, dict[str, float]]:
    """arch string -> metric -> value, over both groups' CSVs."""
    merged: dict[str, dict[str, float]] = {}
    for group in groups():
        path = args.out / group / "scores.csv"
        if not path.is_file():
            continue
        store = ScoreFile(path, read_score_metrics(path))
        for m in store.metrics:
            for arch, v in zip(store.archs(), store.column(m), strict=True):
                merged.setdefault(arch, {})[m] = float(v)
    return merged


def accuracies(args: BenchmarkConfig, archs: list[str]) -> dict[str, float]:
    from fewshot.benchmark import Benchmark

    bench = Benchmark(args.data / "NATS-tss-v1_0-3ffb9-simple")
    return {a: bench.accuracy(a, "cifar10") for a in archs}


def reference_table(args: BenchmarkConfig) -> dict[str, dict[str, float]]:
    path = args.data / "reference" / "nb201_zc_proxies_cifar10.csv"
    with path.open(newline="") as f:
        return {r["net_str"]: {k: _float(v) for k, v in r.items()} for r in csv.DictReader(f)}


def _float(cell: str) -> float:
    try:
        return float(cell)
    except ValueError:
        return math.nan


def correlation_rows(scores, acc) -> list[dict]:
    """One row per metric: Spearman (+ bootstrap CI), Kendall, published value and difference.

    A metric is correlated over the archs its group scored; archs where it failed count as
    dropped.
    """
    metrics = sorted({m for row in scores.values() for m in row})
    rows = []
    for m in metrics:
        archs = sorted(a for a in scores if m in scores[a])
        vals, truth = [scores[a][m] for a in archs], [acc[a] for a in archs]
        c = rank_correlation(vals, truth, m)
        lo, hi = spearman_interval(vals, truth, seed=0)
        row = {"metric": m, "n": c.n, "dropped": c.dropped, "spearman": c.spearman,
               "kendall": c.kendall, "spearman_ci": [lo, hi]}  # fmt: skip
        if m in PUBLISHED:
            value, measure, source = PUBLISHED[m]
            ours = row[measure]
            row |= {"published": value, "measure": measure, "source": source}
            row["diff"] = None if ours is None else ours - value
        if m in PUBLISHED_KENDALL_ALSO and c.kendall is not None:
            row["kendall_published"] = PUBLISHED_KENDALL_ALSO[m]
            row["kendall_diff"] = c.kendall - PUBLISHED_KENDALL_ALSO[m]
        rows.append(row)
    return rows


def reference_accuracies(args: BenchmarkConfig) -> dict[str, float]:
    """CIFAR-10 test accuracy of every arch from reference/nb201_accuracies.csv."""
    path = args.data / "reference" / "nb201_accuracies.csv"
    with path.open(newline="") as f:
        return {r["arch_str"]: float(r["cifar10_test"]) for r in csv.DictReader(f)}


def reference_rows(scores, ref, ref_acc) -> list[dict]:
    """Per metric: Spearman of ours vs the reference's values on the common archs, and both
    implementations' Spearman with accuracy on those archs and (reference) on all its archs."""
    rows = []
    for ours, theirs in REFERENCE_COLUMNS.items():
        common = sorted(a for a, v in scores.items() if a in ref and ours in v)
        if not common:
            continue
        mine, their = [scores[a][ours] for a in common], [ref[a][theirs] for a in common]
        acc = [ref_acc[a] for a in common]
        everyone = sorted(ref)
        rows.append(
            {
                "metric": ours,
                "reference": theirs,
                "n": rank_correlation(mine, their, ours).n,
                "spearman": rank_correlation(mine, their, ours).spearman,
                "ours_vs_acc": rank_correlation(mine, acc, ours).spearman,
                "ref_vs_acc": rank_correlation(their, acc, theirs).spearman,
                "ref_vs_acc_all": rank_correlation(
                    [ref[a][theirs] for a in everyone], [ref_acc[a] for a in everyone], theirs
                ).spearman,
                "ref_archs": len(everyone),
            }
        )
    return rows


def vote_row(scores, acc) -> dict:
    """Abdelfattah et al.'s vote (and each voter alone) over the archs with all three finite."""
    archs = sorted(scores)
    table = {m: np.array([scores[a].get(m, math.nan) for a in archs]) for m in VOTE_METRICS}
    truth = np.array([acc[a] for a in archs])
    n, voted = finite_vote(table, truth)
    keep = finite_rows(table)
    singles = {m: vote_accuracy({m: table[m][keep]}, truth[keep]) for m in VOTE_METRICS}
    return {"n": n, "vote": voted} | singles


def speed_summary(args: BenchmarkConfig) -> dict | None:
    """archs/s and the separate/combined ratio, in wall and in CPU seconds (index 0, 1)."""
    path = args.out / "speed.json"
    if not path.is_file():
        return None
    data = json.loads(path.read_text())
    rows = data["rows"]
    out = {"archs": len(rows), "same_values": all(r["same"] for r in rows)}
    for k, clock in enumerate(("wall", "cpu")):
        comb = sum(r["combined"][k] + r["build"][k] for r in rows)
        sep = sum(r["separate"][k] + r["build"][k] for r in rows)
        out[clock] = {"archs_per_s": len(rows) / comb, "seconds_per_arch": comb / len(rows),
                      "ratio": sep / comb}  # fmt: skip
    by_metric: dict[str, float] = {}
    for r in rows:
        for m, t in r["separate_by_metric"].items():
            by_metric[m] = by_metric.get(m, 0.0) + t[1] / len(rows)
    return out | {
        "cpu_by_metric_s": by_metric,
        "load": data["load"],
        "when": data["when"],
        "threads": data.get("threads", 1),
    }


def stage_report(args: BenchmarkConfig) -> None:
    from tools.metrics_report import render

    scores = merged_scores(args)
    if not scores:
        raise SystemExit(f"no scores under {args.out}: run the score stage first")
    acc = accuracies(args, sorted(scores))
    report = {
        "archs": len(scores),
        "correlations": correlation_rows(scores, acc),
        "reference": reference_rows(scores, reference_table(args), reference_accuracies(args)),
        "vote": vote_row(scores, acc),
        "speed": speed_summary(args),
        "csv_seconds_per_arch": _csv_seconds(args),
        "commands": [
            "python -m fewshot.score " + " ".join(score_argv(args, g, m))
            for g, m in groups().items()
        ],
        "load": _load(),
        "when": _now(),
    }
    atomic_write_json(args.out / "report.json", report)
    render(report, args.readme)
    print(f"wrote {args.readme} and {args.out / 'report.json'}")


def _csv_seconds(args: BenchmarkConfig) -> dict[str, float]:
    """Mean seconds per arch recorded by each group's scoring run (from the CSV)."""
    out = {}
    for group in groups():
        path = args.out / group / "scores.csv"
        if path.is_file():
            with path.open(newline="") as f:
                secs = [float(r["seconds"]) for r in csv.DictReader(f)]
            out[group] = sum(secs) / len(secs) if secs else math.nan
    return out


def main(argv: list[str] | None = None) -> int:
    return run_main(_main, argv)


def _main(argv: list[str] | None) -> int:
    args = parse_config(BenchmarkConfig, argv, prog="python tools/benchmark_metrics.py")
    torch.set_num_threads(int(args.threads or 1))
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    run = {"score": stage_score, "speed": stage_speed, "report": stage_report,
           "proxies": stage_proxies, "memory": stage_memory}  # fmt: skip
    for stage in STAGES + EXTRA_STAGES:
        if stage in args.stages:
            run[stage](args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
