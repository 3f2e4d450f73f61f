"""Reproduce SPEC 7 (Abdelfattah et al., ICLR 2021, section 5) with fewshot.search.

Runs the library directly (no subprocess per row) and writes, under ``--out``:
``results/<part>.json`` (every statistic and the configuration), ``tables.md`` (the markdown
tables quoted in README.md) and the figures. Parts:

- ``table3``: Table 3 (NB201 CIFAR-100, synflow): acc after 50 trained models and models to
  73%, every published row, 32 repeats (BP: budget 100, the others 1000).
- ``stats``: top-64 count and move-proposal match rate per data set with a complete table.
- ``leaves``: AE across few-shot leaves vs whole-space AE (equal budget 300, 32 repeats).
- ``filter``: the proxy-filtered pipeline (top 10 of 1000 random archs, 32 repeats).

    python docs/search/reproduce.py --benchmark ../shared/data/NATS-tss-v1_0-3ffb9-simple \\
        --tables runs/search/tables --parts table3,stats,leaves,filter
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

from fewshot.io import atomic_write_json, atomic_write_text
from fewshot.plotting.search import plot_search_curves
from fewshot.search.algorithms import AlgoSettings
from fewshot.search.analysis import leaf_profile, move_match_rate, top_k_in_top_fraction
from fewshot.search.experiment import load_oracle, run_search
from fewshot.search.leaves import leaf_masks
from fewshot.search.pipeline import filter_on_benchmark
from fewshot.search.proxy import ProxyTable
from fewshot.search.run import curve_bands, summarise

DATASETS = {"cifar10": "cifar10", "cifar100": "cifar100", "ImageNet16-120": "imagenet16-120"}
TARGET = 73.0

# (label, algo, warmup, move, published acc@50, published models to 73%)
TABLE3 = [
    ("RAND", "rand", 0, 0, 71.02, "1000+"),
    ("RAND + W1000", "rand", 1000, 0, 72.79, "1000+"),
    ("RAND + W3000", "rand", 3000, 0, 73.00, "49"),
    ("RAND + W15k", "rand", 15000, 0, 73.09, "14"),
    ("RL", "rl", 0, 0, 71.00, "722"),
    ("RL + W1000", "rl", 1000, 0, 72.55, "134"),
    ("RL + W3000", "rl", 3000, 0, 72.88, "64"),
    ("RL + W15k", "rl", 15000, 0, 72.52, "137"),
    ("RL + M10", "rl", 0, 10, 71.39, "309"),
    ("RL + M100", "rl", 0, 100, 72.72, "141"),
    ("AE", "ae", 0, 0, 71.05, "171"),
    ("AE + W1000", "ae", 1000, 0, 72.63, "93"),
    ("AE + W3000", "ae", 3000, 0, 72.89, "68"),
    ("AE + W15k", "ae", 15000, 0, 73.12, "33"),
    ("AE + M10", "ae", 0, 10, 71.10, "76"),
    ("AE + M24 (all neighbours)", "ae", 0, 24, None, None),
    ("BP", "bp", 0, 0, 72.72, "65"),
    ("BP + W256", "bp", 256, 0, 73.02, "48"),
    ("BP + W512", "bp", 512, 0, 73.19, "44"),
]
PUBLISHED_STATS = {"cifar10": (44, 0.32), "cifar100": (54, 0.35), "ImageNet16-120": (56, 0.33)}


def table_path(tables: Path, dataset: str) -> Path:
    return tables / f"synflow-{DATASETS[dataset]}" / "scores.csv"


def load_table(tables: Path, oracle) -> ProxyTable | None:
    path = table_path(tables, oracle.dataset)
    if not path.is_file():
        return None
    table = ProxyTable("synflow", oracle)
    table.load_csv(path)
    return table


def fmt_q(q: dict | None) -> str:
    return "-" if q is None else f"{q['median']:.2f} [{q['q25']:.2f}, {q['q75']:.2f}]"


def fmt_steps(m: dict) -> str:
    spread = f"[{m['q25']:g}, {m['q75']:g}]"
    return f"{m['median_text']} {spread} ({m['reached']}/{m['repeats']})"


def part_table3(args, out: Path) -> str:
    oracle = load_oracle(args.benchmark, "cifar100")
    table = load_table(args.tables, oracle)
    complete = table is not None and table.complete
    rows, bands, lines = [], {}, []
    lines.append(f"selection accuracy: {oracle.selection}; proxy table complete: {complete}")
    lines.append("")
    lines.append(
        "| search | acc@50: ours, median [q25, q75] | paper | models to 73%: ours, "
        "median [q25, q75] (repeats reaching) | paper | seconds |"
    )
    lines.append("|---|---|---|---|---|---|")
    for label, algo, warmup, move, pub_acc, pub_steps in TABLE3:
        needs_proxy = warmup or move
        if needs_proxy and not complete:
            lines.append(
                f"| {label} | not computed (no complete synflow table) | {pub_acc} | "
                f"- | {pub_steps} | - |"
            )
            continue
        budget = args.bp_budget if algo == "bp" else args.budget
        settings = AlgoSettings(warmup=warmup, move=move)
        res = run_search(
            algo,
            oracle,
            settings,
            budget=budget,
            repeats=args.repeats,
            seed=args.seed,
            proxy=table if needs_proxy else None,
        )
        s = summarise(res.curves, TARGET)
        rows.append(
            {
                "label": label,
                "algo": algo,
                "warmup": warmup,
                "move": move,
                "budget": budget,
                "paper_acc_at_50": pub_acc,
                "paper_models_to_target": pub_steps,
                "seconds": res.seconds,
                **s,
            }
        )
        bands[label] = curve_bands(res.curves[:, : min(300, budget)])
        pub = "-" if pub_acc is None else f"{pub_acc:.2f}"
        lines.append(
            f"| {label} | {fmt_q(s['acc_at_50'])} | {pub} | "
            f"{fmt_steps(s['models_to_target'])} | {pub_steps or '-'} | "
            f"{res.seconds:.1f} |"
        )
        print(lines[-1], flush=True)
    atomic_write_json(
        out / "results" / "table3.json", {"selection": oracle.selection, "rows": rows}
    )
    for group in ("RAND", "RL", "AE", "BP"):
        chosen = {k: v for k, v in bands.items() if k.split(" ")[0] == group}
        if chosen:
            plot_search_curves(
                chosen,
                out / f"fig4_{group.lower()}.png",
                target=TARGET,
                title=f"NB201 CIFAR-100, synflow: {group} ({args.repeats} repeats)",
                ylim=(69.0, 74.0),
            )
    return "\n".join(lines)


def part_stats(args, out: Path) -> str:
    lines = [
        "| data set | top-64 in top 5%: ours | paper | move match rate: ours | paper | "
        "random pick |",
        "|---|---|---|---|---|---|",
    ]
    result = {}
    for dataset in DATASETS:
        oracle = load_oracle(args.benchmark, dataset)
        table = load_table(args.tables, oracle)
        pub_top, pub_match = PUBLISHED_STATS[dataset]
        if table is None or not table.complete:
            known = 0 if table is None else int(table.known.sum())
            lines.append(
                f"| {dataset} | not computed (synflow table: {known} of 15625 archs) | "
                f"{pub_top} | - | {pub_match:.0%} | - |"
            )
            continue
        acc = oracle.report_acc
        top = top_k_in_top_fraction(table.values, acc, k=64, fraction=0.05)
        match = move_match_rate(oracle, table.values, acc, samples=1000, seed=args.seed)
        result[dataset] = {"top64_in_top5pct": top, **match}
        lines.append(
            f"| {dataset} | {top} | {pub_top} | {match['match_rate']:.1%} | "
            f"{pub_match:.0%} | {match['random_rate']:.1%} |"
        )
    atomic_write_json(out / "results" / "stats.json", result)
    return "\n".join(lines)


def part_leaves(args, out: Path) -> str:
    oracle = load_oracle(args.benchmark, args.leaf_dataset)
    table = load_table(args.tables, oracle)
    complete = table is not None and table.complete
    target = {"cifar100": 73.0, "cifar10": 94.0, "ImageNet16-120": 46.0}[oracle.dataset]
    runs = [("whole space", None, None, "results", "median")]
    for metric in args.trees.split(","):
        tree = Path(args.tree_dir) / f"{metric}-d3-b2-s0" / "tree.json"
        for choice, stat in [
            ("results", "median"),
            ("uniform", "median"),
            ("proxy", "median"),
            ("proxy", "top10"),
        ]:
            runs.append(
                (
                    f"{metric} tree, {choice}" + (f" ({stat})" if choice == "proxy" else ""),
                    tree,
                    None,
                    choice,
                    stat,
                )
            )
    for choice in ("results", "uniform"):
        runs.append((f"random split (new per repeat), {choice}", None, (3, 2), choice, "median"))
    lines = [
        f"{oracle.dataset}, selection on {oracle.selection} accuracy, budget "
        f"{args.leaf_budget}, {args.repeats} repeats, target {target:g}%",
        "",
        "| search | acc@50 median [q25, q75] | final acc | models to target | seconds |",
        "|---|---|---|---|---|",
    ]
    rows, bands = [], {}
    for label, tree, split, choice, stat in runs:
        if choice == "proxy" and not complete:
            lines.append(f"| {label} | not computed (no complete synflow table) | - | - | - |")
            continue
        res = run_search(
            "ae",
            oracle,
            AlgoSettings(),
            budget=args.leaf_budget,
            repeats=args.repeats,
            seed=args.seed,
            proxy=table,
            tree=tree,
            random_split=split,
            leaf_choice=choice,
            leaf_stat=stat,
        )
        s = summarise(res.curves, target)
        rows.append(
            {
                "label": label,
                "tree": str(tree) if tree else None,
                "choice": choice,
                "stat": stat,
                "seconds": res.seconds,
                **s,
            }
        )
        bands[label] = curve_bands(res.curves)
        lines.append(
            f"| {label} | {fmt_q(s['acc_at_50'])} | {fmt_q(s['final'])} | "
            f"{fmt_steps(s['models_to_target'])} | {res.seconds:.1f} |"
        )
        print(lines[-1], flush=True)
    lines += ["", "Leaves of each tree (archs / best accuracy / archs in the top 5%), by leaf:", ""]
    profiles = {}
    for metric in args.trees.split(","):
        tree = Path(args.tree_dir) / f"{metric}-d3-b2-s0" / "tree.json"
        prof = leaf_profile(oracle, leaf_masks(tree))
        profiles[metric] = prof
        cells = ", ".join(f"{r['archs']}/{r['best']:.2f}/{r['top']}" for r in prof)
        lines.append(f"- {metric}: {cells}")
    atomic_write_json(
        out / "results" / "leaves.json",
        {
            "dataset": oracle.dataset,
            "selection": oracle.selection,
            "rows": rows,
            "leaf_profiles": profiles,
        },
    )
    chosen = {k: v for k, v in bands.items() if "uniform" not in k and "top10" not in k}
    plot_search_curves(
        chosen,
        out / "leaves.png",
        target=target,
        title=f"AE across few-shot leaves vs whole space ({oracle.dataset})",
        ylim=(target - 4.0, target + 1.0),
    )
    return "\n".join(lines)


def part_filter(args, out: Path) -> str:
    oracle = load_oracle(args.benchmark, "cifar100")
    table = load_table(args.tables, oracle)
    if table is None or not table.complete:
        return "not computed (no complete synflow table for cifar100)"
    report = filter_on_benchmark(
        oracle, {"synflow": table}, candidates=1000, repeats=args.repeats, seed=args.seed, top_k=10
    )
    atomic_write_json(out / "results" / "filter.json", report)
    return (
        "| kept (synflow top 10 of 1000) | random 10 of the same 1000 | best of the 1000 |\n"
        "|---|---|---|\n"
        f"| {fmt_q(report['kept_best'])} | {fmt_q(report['random_same_count_best'])} | "
        f"{fmt_q(report['candidates_best'])} |"
    )


def part_extras(args, out: Path) -> str:
    """AE's move proposal with the notebook's random neighbour (probability 0.25)."""
    oracle = load_oracle(args.benchmark, "cifar100")
    table = load_table(args.tables, oracle)
    if table is None or not table.complete:
        return "not computed (no complete synflow table for cifar100)"
    lines = ["| search | acc@50 | models to 73% |", "|---|---|---|"]
    rows = []
    for label, move in [("AE + M10, random 0.25", 10), ("AE + M24, random 0.25", 24)]:
        cfg = AlgoSettings(move=move, move_random=0.25)
        res = run_search("ae", oracle, cfg, budget=args.budget, repeats=args.repeats,
                         seed=args.seed, proxy=table)  # fmt: skip
        s = summarise(res.curves, TARGET)
        rows.append({"label": label, **s})
        lines.append(f"| {label} | {fmt_q(s['acc_at_50'])} | {fmt_steps(s['models_to_target'])} |")
    atomic_write_json(out / "results" / "extras.json", rows)
    return "\n".join(lines)


def part_selection(args, out: Path) -> str:
    """What selecting on test instead of validation changes (CIFAR-10: the only data set with
    validation accuracy in the shared benchmark): unguided searches, and RAND / AE + W3000 when
    the CIFAR-10 synflow table is complete; budget 1000."""
    lines = ["| search | selection | acc@50 | models to 94% |", "|---|---|---|---|"]
    result = []
    table = load_table(args.tables, load_oracle(args.benchmark, "cifar10"))
    runs = [(algo, 0) for algo in ("rand", "ae", "rl")]
    if table is not None and table.complete:  # warmup rows need the CIFAR-10 synflow table
        runs += [("rand", 3000), ("ae", 3000)]
    for algo, warmup in runs:
        for select in ("auto", "test"):
            oracle = load_oracle(args.benchmark, "cifar10", select)
            proxy = None
            if warmup:
                proxy = ProxyTable("synflow", oracle)
                proxy.load_csv(table_path(args.tables, "cifar10"))
            res = run_search(algo, oracle, AlgoSettings(warmup=warmup), budget=args.budget,
                             repeats=args.repeats, seed=args.seed, proxy=proxy)  # fmt: skip
            s = summarise(res.curves, 94.0)
            label = algo.upper() + (f" + W{warmup}" if warmup else "")
            result.append({"search": label, "selection": oracle.selection, **s})
            lines.append(f"| {label} | {oracle.selection} | {fmt_q(s['acc_at_50'])} | "
                         f"{fmt_steps(s['models_to_target'])} |")  # fmt: skip
    atomic_write_json(out / "results" / "selection.json", result)
    return "\n".join(lines)


def part_speed(args, out: Path) -> str:
    """Seconds for 32 repeats x 300 trained models with the table loaded (one thread)."""
    oracle = load_oracle(args.benchmark, "cifar100")
    table = load_table(args.tables, oracle)
    if table is None or not table.complete:
        return "not measured (no complete synflow table for cifar100)"
    lines = ["| search | wall s for 32 x 300 | CPU s (process time) |", "|---|---|---|"]
    result = {}
    for label, algo, warmup, move in [
        ("RAND", "rand", 0, 0),
        ("RAND + W15k", "rand", 15000, 0),
        ("AE", "ae", 0, 0),
        ("AE + W3000", "ae", 3000, 0),
        ("AE + M24", "ae", 0, 24),
        ("RL", "rl", 0, 0),
        ("RL + W3000", "rl", 3000, 0),
        ("RL + M10", "rl", 0, 10),
        ("RL + M100", "rl", 0, 100),
    ]:  # fmt: skip (BP's time: table3, 32 x 100)
        start, cpu = time.perf_counter(), time.process_time()
        run_search(algo, oracle, AlgoSettings(warmup=warmup, move=move), budget=300,
                   repeats=32, seed=args.seed, proxy=table)  # fmt: skip
        wall, cpu = time.perf_counter() - start, time.process_time() - cpu
        result[label] = {"wall_s": wall, "cpu_s": cpu}
        lines.append(f"| {label} | {wall:.1f} | {cpu:.1f} |")
        print(lines[-1], flush=True)
    atomic_write_json(out / "results" / "speed.json", result)
    return "\n".join(lines)


PARTS = {
    "table3": part_table3,
    "stats": part_stats,
    "leaves": part_leaves,
    "filter": part_filter,
    "speed": part_speed,
    "selection": part_selection,
    "extras": part_extras,
}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--benchmark", type=Path, required=True)
    p.add_argument("--tables", type=Path, default=Path("runs/search/tables"))
    p.add_argument("--tree-dir", type=Path, default=Path("runs/search/trees"))
    p.add_argument("--trees", default="synflow,snip,jacob_cov")
    p.add_argument("--leaf-dataset", default="cifar100")
    p.add_argument("--leaf-budget", type=int, default=300)
    p.add_argument("--parts", default="table3,stats,leaves,filter")
    p.add_argument("--repeats", type=int, default=32)
    p.add_argument("--budget", type=int, default=1000)
    p.add_argument("--bp-budget", type=int, default=100)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=Path("docs/search"))
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    md_path = args.out / "tables.md"
    sections = {}
    if md_path.is_file():  # keep the parts not re-run
        for block in md_path.read_text().split("\n## ")[1:]:
            name, _, body = block.partition("\n")
            sections[name.strip()] = body.strip()
    for part in args.parts.split(","):
        start = time.perf_counter()
        sections[part] = PARTS[part](args, args.out)
        print(f"{part}: {time.perf_counter() - start:.0f} s", file=sys.stderr, flush=True)
        text = "# Tables (written by docs/search/reproduce.py)\n"
        for name in PARTS:
            if name in sections:
                text += f"\n## {name}\n\n{sections[name]}\n"
        atomic_write_text(md_path, text)  # after every part: a long run keeps what it did
    print(json.dumps({"written": str(md_path)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
