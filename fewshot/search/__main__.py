"""``python -m fewshot.search``: zero-cost-guided NAS on a benchmark search space (SPEC 7;
``--space``, default NAS-Bench-201).

Examples::

    # AE with a 3000-arch synflow warmup on CIFAR-100, 32 repeats of 300 trained models
    python -m fewshot.search --algo ae --proxy synflow --warmup 3000 --dataset cifar100 \\
        --benchmark ../shared/data/NATS-tss-v1_0-3ffb9-simple \\
        --proxy-table runs/search/tables/synflow-cifar100/scores.csv --out runs/search/ae-w3000
    # across the leaves of a splitting tree (or --random-split 3)
    python -m fewshot.search --algo ae --tree runs/snip-d3-b2-s0/tree.json --leaf-choice results
    # the proxy-filtered pipeline: keep the top 10 of 1000 by rank-averaged proxies
    python -m fewshot.search --filter --proxy synflow,snip --candidates 1000 --top-k 10

Writes ``summary.json`` (``acc_at_50``, ``models_to_target``, every repeat's curve and trained
archs, the selection accuracy used, the configuration), ``curves.png`` and ``config.yaml``
into ``--out``; the filter mode writes ``filter.json`` (and ``trained/results.json`` with
``--train-epochs``). Proxy values missing from the tables are computed on demand (the same
network, batches and seed as ``python -m fewshot.score`` with its defaults: one
:class:`~fewshot.scoring.ScoringSpec`) and cached in ``--proxy-cache``; a table scored with
another spec (e.g. ``fewshot.score --recipe ly-manson``) is refused, naming both. A data-free
proxy (synflow, params, flops) is scored without reading any image of the data set.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from fewshot.choices import dataset_names, metric_names, space_option
from fewshot.cli import run_main
from fewshot.config import (
    CommonOptions,
    ImageOptions,
    apply_common,
    option,
    parse_config,
    to_dict,
)
from fewshot.errors import UsageError
from fewshot.executor import ExecutorOptions, TasksFailed, open_executor
from fewshot.run_folder import CONFIG, keep_run_config, lock_run
from fewshot.tables import outputs_block

log = logging.getLogger("fewshot")

BENCH_DATASETS = ("cifar10", "cifar100", "ImageNet16-120")


@dataclass(kw_only=True)
class SearchConfig(ExecutorOptions, ImageOptions, CommonOptions):
    """Zero-cost-guided NAS on a benchmark search space (default NAS-Bench-201): RAND, AE, RL,
    BP with proxy warmup and move proposal, search across few-shot leaves, and the
    proxy-filtered pipeline."""

    space: str = space_option()
    algo: Literal["rand", "ae", "rl", "bp"] = option("ae", help="search algorithm")
    proxy: list[str] = option(
        [], help="zero-cost proxy (a comma list in --filter mode)",
        choices=lambda: metric_names("scalar"),
    )  # fmt: skip
    warmup: int = option(0, help="zero-cost warmup: proxy evaluations before search", minimum=0)
    move: int = option(0, help="move proposal ratio R (AE: neighbours scored; RL: proxy "
                       "rewards per accuracy reward)", minimum=0)  # fmt: skip
    move_random: float = option(
        0.0, help="AE move proposal: probability of a random neighbour (notebook: 0.25)",
        minimum=0.0,
    )  # fmt: skip
    dataset: Literal["cifar10", "cifar100", "ImageNet16-120"] = option(
        "cifar100", help="benchmark data set", group="benchmark"
    )
    benchmark: Path | None = option(
        None, help="NATS-Bench tss directory (default: $FEWSHOT_BENCHMARK, then $TORCH_HOME/ "
        "and ~/.cache/fewshot/data/NATS-tss-v1_0-3ffb9-simple)",
        group="benchmark",
    )  # fmt: skip
    select: Literal["auto", "test"] = option(
        "auto",
        help="selection accuracy: auto (validation where the benchmark has it, else test) or test",
        group="benchmark",
    )
    repeats: int = option(32, help="independent repeats", minimum=1, group="protocol")
    budget: int = option(300, help="trained models per repeat", minimum=1, group="protocol")
    seed: int = option(0, help="seeds every repeat", group="protocol")
    target: float | None = option(
        None, help="accuracy for models_to_target (default: cifar100 73, cifar10 94, "
        "ImageNet16-120 46)", group="protocol",
    )  # fmt: skip
    population: int = option(64, help="AE population", minimum=1, group="algorithms")
    tournament: int = option(10, help="AE tournament size", minimum=1, group="algorithms")
    bp_batch: int = option(10, help="BP: archs trained per round", minimum=1, group="algorithms")
    proxy_table: list[Path] = option(
        [], help="fewshot.score CSV(s) with the proxy's values (comma list)", group="proxy"
    )
    proxy_cache: Path | None = option(
        None, help="CSV caching values computed on demand (default: <out>/../proxy-cache/"
        "<proxy>-<dataset>.csv)", group="proxy",
    )  # fmt: skip
    proxy_dataset: str | None = option(
        None, help="data for on-demand scoring (default: the benchmark's data set)",
        choices=dataset_names, group="proxy",
    )  # fmt: skip
    proxy_data_option: dict[str, Any] = option(
        default_factory=dict,
        help="data-set option for on-demand scoring, e.g. num_classes=100 for --proxy-dataset "
        "synthetic (repeatable; default: --data-option)",
        group="proxy",
        metavar="KEY=VALUE",
    )
    data_root: Path | None = option(None, help="data folder for on-demand scoring/training",
                                    group="proxy")  # fmt: skip
    no_scoring: bool = option(False, help="never compute missing proxy values", group="proxy")
    tree: Path | None = option(None, help="tree.json: search across its leaves", group="leaves")
    random_split: int | None = option(
        None, help="search across the leaves of a random split of this depth (new per repeat)",
        minimum=1, group="leaves",
    )  # fmt: skip
    branch: int = option(2, help="--random-split branching factor", minimum=2, group="leaves")
    leaf_choice: Literal["proxy", "results", "uniform"] = option(
        "results", help="which leaf trains next", group="leaves"
    )
    leaf_stat: Literal["median", "mean", "max", "top10"] = option(
        "median", help="--leaf-choice proxy: the leaf statistic", group="leaves"
    )
    filter: bool = option(False, help="the proxy-filtered pipeline instead of a search",
                          group="filter")  # fmt: skip
    candidates: int = option(1000, help="random archs scored", minimum=1, group="filter")
    top_k: int | None = option(None, help="keep the best k", minimum=1, group="filter")
    threshold: float | None = option(None, help="keep percentile >= this (0..1)", group="filter")
    combine: Literal["rank", "vote"] = option("rank", help="combine proxies", group="filter")
    train_epochs: int = option(
        0, help="train the kept archs of the first repeat for real for N epochs (Lightning)",
        minimum=0, group="filter",
    )  # fmt: skip
    train_dataset: str = option("folder", help="data set for real training",
                                choices=dataset_names, group="filter")  # fmt: skip
    train_C: int = option(8, help="channels for real training", minimum=1, group="filter")
    train_N: int = option(1, help="cells per stage for real training", minimum=1, group="filter")
    train_max: int = option(4, help="train at most this many kept archs", minimum=1,
                            group="filter")  # fmt: skip
    out: Path | None = option(None, help="output folder (default: runs/search/<name>)")

    def resolve(self) -> SearchConfig:
        if not self.filter and len(self.proxy) > 1:
            raise UsageError("a search takes one --proxy (several only with --filter)")
        if self.filter and not self.proxy:
            raise UsageError("--filter needs --proxy NAME[,NAME...]")
        if (self.warmup or self.move) and not self.proxy:
            raise UsageError("--warmup and --move need --proxy NAME")
        if self.tree is not None and self.random_split is not None:
            raise UsageError("give one of --tree and --random-split")
        from fewshot.spaces import get_space

        datasets = get_space(self.space).benchmark_datasets
        if self.dataset not in datasets:
            raise UsageError(
                f"--dataset {self.dataset}: the benchmark of search space {self.space!r} has "
                f"no such data set (it has: {', '.join(datasets)})"
            )
        if self.target is None:
            from fewshot.search.experiment import DEFAULT_TARGETS

            self.target = DEFAULT_TARGETS[self.dataset]
        if self.out is None:
            self.out = Path("runs/search") / self.default_name()
        return self

    def default_name(self) -> str:
        if self.filter:
            keep = f"k{self.top_k}" if self.top_k is not None else f"t{self.threshold}"
            name = f"filter-{'+'.join(self.proxy)}-{keep}-{self.combine}-{self.dataset}"
            return "-".join([name] + self._space_suffix())
        parts = [self.algo] + ([self.proxy[0]] if self.proxy else [])
        parts += [f"w{self.warmup}"] if self.warmup else []
        parts += [f"m{self.move}"] if self.move else []
        if self.tree is not None:
            parts += [f"leaves-{self.tree.parent.name}-{self.leaf_choice}"]
        if self.random_split is not None:
            parts += [f"random{self.random_split}-{self.leaf_choice}"]
        parts += ["select-test"] if self.select == "test" else []
        return "-".join(parts + [self.dataset] + self._space_suffix())

    def _space_suffix(self) -> list[str]:
        """The space in a default folder name, for every space but the default one."""
        from fewshot.spaces.base import DEFAULT_SPACE

        return [] if self.space == DEFAULT_SPACE else [self.space]


def _proxies(cfg: SearchConfig, oracle) -> dict[str, Any]:
    from fewshot.search.experiment import load_proxy, proxy_spec

    spec = None
    if not cfg.no_scoring:
        spec = proxy_spec(cfg.proxy_dataset or oracle.dataset,
                          cfg.proxy_data_option or cfg.data_option, space=oracle.space)  # fmt: skip
    device = "cpu" if cfg.device == "auto" else cfg.device
    tables = {}
    for name in cfg.proxy:
        cache = cfg.proxy_cache or cfg.out.parent / "proxy-cache" / f"{name}-{oracle.dataset}.csv"
        tables[name] = load_proxy(name, oracle, tables=cfg.proxy_table, cache=cache, spec=spec,
                                  data_root=cfg.data_root, device=device)  # fmt: skip
    return tables


def _search(cfg: SearchConfig, oracle, proxies: dict[str, Any]) -> None:
    from fewshot.search.algorithms import AlgoSettings
    from fewshot.search.experiment import run_search, summary_dict, write_summary

    settings = AlgoSettings(
        warmup=cfg.warmup, move=cfg.move, move_random=cfg.move_random,
        population=cfg.population, tournament=cfg.tournament, bp_batch=cfg.bp_batch,
    )  # fmt: skip
    proxy = proxies[cfg.proxy[0]] if cfg.proxy else None
    split = (cfg.random_split, cfg.branch) if cfg.random_split is not None else None
    _check_ray_proxy(cfg, proxy)
    with open_executor(cfg) as executor:
        result = run_search(
            cfg.algo, oracle, settings, budget=cfg.budget, repeats=cfg.repeats, seed=cfg.seed,
            proxy=proxy, tree=cfg.tree, random_split=split, leaf_choice=cfg.leaf_choice,
            leaf_stat=cfg.leaf_stat, executor=executor if cfg.executor == "ray" else None,
        )  # fmt: skip
    summary = summary_dict(result, oracle, cfg.target, to_dict(cfg))
    if proxy is not None:
        summary["proxy_values_computed"] = proxy.computed
    write_summary(cfg.out, summary, cfg.out.name)
    at50 = summary["acc_at_50"]
    at50_text = "n/a" if at50 is None else (
        f"{at50['median']:.2f} [{at50['q25']:.2f}, {at50['q75']:.2f}]"
    )  # fmt: skip
    print(
        f"{cfg.out.name}: acc@50 {at50_text} ({summary['selection']} selection), models to "
        f"{cfg.target:g}%: {summary['models_to_target']['median_text']}; "
        f"{cfg.repeats} repeats in {result.seconds:.1f} s -> {cfg.out / 'summary.json'}"
    )
    print(f"benchmark: {cfg.benchmark} ({oracle.dataset})")
    print(outputs_block(_written(cfg, ["summary.json"], proxies), [cfg.out / "curves.png"]), end="")


def _written(cfg: SearchConfig, names: list[str], proxies: dict[str, Any]) -> list[Path]:
    """The files a search or filter run wrote: ``names`` and ``config.yaml`` in ``--out``, and
    the proxy caches that on-demand scoring wrote to."""
    files = [cfg.out / name for name in names] + [cfg.out / "config.yaml"]
    caches = (getattr(p, "cache", None) for p in proxies.values())
    return files + [c for c in caches if c is not None and Path(c).is_file()]


def _check_ray_proxy(cfg: SearchConfig, proxy: Any) -> None:
    """Ray repeats need every proxy value beforehand: a worker must not compute missing
    values into the shared cache file (one writer per file)."""
    if cfg.executor == "ray" and proxy is not None and not proxy.complete:
        raise UsageError(
            f"--executor ray needs the {proxy.name} table for every arch (workers must not "
            "write its cache): give a complete --proxy-table, or run with --executor local"
        )


def _filter(cfg: SearchConfig, oracle, proxies: dict[str, Any]) -> None:
    from fewshot.io import atomic_write_json
    from fewshot.search.pipeline import filter_on_benchmark

    report = filter_on_benchmark(
        oracle, proxies, candidates=cfg.candidates, repeats=cfg.repeats, seed=cfg.seed,
        top_k=cfg.top_k, threshold=cfg.threshold, combine=cfg.combine,
    )  # fmt: skip
    if cfg.train_epochs:
        report["trained"] = _train_kept(cfg, oracle, report["first_repeat_kept"])
    report["config"] = to_dict(cfg)
    atomic_write_json(cfg.out / "filter.json", report)
    kb, rb = report["kept_best"], report["random_same_count_best"]
    print(
        f"filter: kept {report['kept_count']['median']:g} of {cfg.candidates} (median); best "
        f"kept {kb['median']:.2f} vs random same count {rb['median']:.2f} vs best candidate "
        f"{report['candidates_best']['median']:.2f} -> {cfg.out / 'filter.json'}"
        if kb
        else f"filter: nothing kept -> {cfg.out / 'filter.json'}"
    )
    print(f"benchmark: {cfg.benchmark} ({oracle.dataset})")
    names = ["filter.json"] + (["trained/results.json"] if cfg.train_epochs else [])
    print(outputs_block(_written(cfg, names, proxies)), end="")


def _train_kept(cfg: SearchConfig, oracle, kept: list[str]) -> list[dict]:
    """Train the first repeat's kept archs from scratch (``--train-*``) on ``--device`` with
    ``--threads``; each result with the benchmark's test accuracy of the arch."""
    from fewshot.data import make_datamodule
    from fewshot.training.standalone import StandaloneSettings, train_archs
    from fewshot.training.trainer import one_device

    dm = make_datamodule(cfg.train_dataset, data_root=cfg.data_root, seed=cfg.seed,
                         **cfg.data_option)  # fmt: skip
    settings = StandaloneSettings(C=cfg.train_C, N=cfg.train_N, epochs=cfg.train_epochs,
                                  seed=cfg.seed)  # fmt: skip
    archs = [oracle.space.Arch.from_string(a) for a in kept[: cfg.train_max]]
    hardware = one_device(cfg.device, threads=cfg.threads, progress=not cfg.no_progress)
    results = train_archs(archs, dm, settings, cfg.out / "trained", hardware=hardware)
    for r in results:
        r["benchmark_test_acc"] = float(oracle.report_acc[oracle.index(r["arch"])])
    return results


def _finished(cfg: SearchConfig) -> bool:
    """A run folder whose result file exists was finished with these settings
    (:func:`fewshot.run_folder.keep_run_config` refused others): say so and list its files."""
    result = cfg.out / ("filter.json" if cfg.filter else "summary.json")
    if not result.is_file():
        return False
    print(f"{cfg.out} is already finished (same settings): nothing to do")
    figures = [] if cfg.filter else [cfg.out / "curves.png"]
    files = [result, cfg.out / CONFIG]
    print(outputs_block(files, [f for f in figures if f.is_file()]), end="")
    return True


def _main(argv: Sequence[str] | None) -> int:
    return execute(parse_config(SearchConfig, argv, prog="python -m fewshot.search"))


def execute(cfg: SearchConfig) -> int:
    """What the command does with a resolved configuration: search (or filter), print, write;
    0 when done, 1 when repeats failed on Ray. :func:`fewshot.api.search` calls it."""
    apply_common(cfg)
    lock_run(cfg.out)  # one writer: before the configuration is kept or compared
    keep_run_config(cfg.out, cfg, hint="use the original flags, or another --out")
    if _finished(cfg):
        return 0
    from fewshot.search.experiment import load_oracle
    from fewshot.spaces import get_space

    space = get_space(cfg.space)
    # found here to be recorded in config.yaml and summary.json; none: the search refuses
    try:
        cfg.benchmark = space.find_benchmark(cfg.benchmark, required=True)
    except NotImplementedError as exc:  # a space without ground truth cannot be searched here
        raise UsageError(f"{exc}: the search looks accuracies up in it") from None
    oracle = load_oracle(cfg.benchmark, cfg.dataset, cfg.select, space=space)
    proxies = _proxies(cfg, oracle)
    try:
        (_filter if cfg.filter else _search)(cfg, oracle, proxies)
    except TasksFailed as exc:  # repeats that failed on Ray: named, no summary written
        print(f"error: {exc}; nothing written, run again", file=sys.stderr)
        return 1
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; user errors (unknown algorithm or proxy, bad benchmark) exit 2."""
    return run_main(_main, argv)


if __name__ == "__main__":
    sys.exit(main())
