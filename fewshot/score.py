"""``python -m fewshot.score``: score a search space's archs (``--space``, default NB201) with
zero-cost metrics; correlate them with the space's benchmark (NB201: NATS-Bench).

Examples::

    python -m fewshot.score --num 300 --seed 0 --metrics all --dataset cifar10 \\
        --benchmark NATS-tss-v1_0-3ffb9-simple --out runs/score
    python -m fewshot.score --archs archs.txt --metrics snip,synflow --out runs/mine

Writes into ``--out``: ``scores.csv`` (``arch, index, <metric>..., seconds, error``; one row per
arch, appended as it is scored), ``config.yaml``, and with a benchmark (``--benchmark``, ``$FEWSHOT_BENCHMARK`` or a default
folder: :func:`fewshot.benchmark.find_benchmark`) also
``correlations.json``, ``correlations.md`` and ``plots/<metric>.png``. Running the same command
again resumes: archs already in the CSV are not scored again. A CSV written with another
configuration (metrics, data, network size, seed) is refused unless ``--overwrite``.
Every default is a field of :class:`ScoreConfig`; ``--print-config`` shows the resolved
configuration (the metrics ``all`` stands for, the data set actually used).

``--executor ray --workers N`` scores shards of archs as Ray tasks (:mod:`fewshot.executor`;
``--ray-address`` for a running cluster); this process alone appends the rows, in shard order,
so the CSV is the one ``--executor local`` writes. A shard that fails is named and its archs
are left out of the CSV (exit code 1): running the command again scores just them.

The scoring itself is :mod:`fewshot.scoring` (from one :class:`~fewshot.scoring.ScoringSpec`,
recorded beside the CSV as ``scores.spec.json``, which also says ``data: none (data-free
metrics)`` when every metric read no image) and the evaluation :mod:`fewshot.analysis.scores`;
this module parses flags and writes files.

From Python: ``fewshot.score(...)`` calls :func:`fewshot.api.score` (this module is callable;
see docs/api.md), which runs this command's code and returns a result object.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from fewshot.analysis.scores import correlate, vote
from fewshot.choices import dataset_names, metric_names, space_option
from fewshot.cli import callable_command, run_main
from fewshot.config import (
    CommonOptions,
    ImageOptions,
    apply_common,
    option,
    parse_config,
    refuse_changed,
    resolve_device,
    to_dict,
)
from fewshot.correlation import Correlation, format_correlations
from fewshot.data.identity import Judging, judging
from fewshot.errors import UsageError
from fewshot.executor import ExecutorOptions, failure_report, open_executor
from fewshot.io import atomic_write_json, atomic_write_text
from fewshot.metrics import data_free
from fewshot.run_folder import (
    CONFIG,
    RESOLVED_DATA_PATH,
    load_run_config,
    lock_run,
    save_run_config,
)
from fewshot.scoring import (
    ScoreFile,
    ScoringSpec,
    ShardContext,
    load_scoring_data,
    resolve_metrics,
    score_shard,
    score_with_executor,
    scoring_data_path,
    select_archs,
    spec_record_path,
    write_spec_record,
)
from fewshot.spaces import SearchSpace, get_space
from fewshot.splitting.recipes import DEFAULT_RECIPE, list_recipes, scoring_spec
from fewshot.tables import outputs_block

log = logging.getLogger("fewshot")

SCORES_NAME = "scores.csv"
CONFIG_NAME = CONFIG
VOTE_JSON = "vote.json"
CORRELATIONS_JSON = "correlations.json"
CORRELATIONS_MD = "correlations.md"
PLOTS_DIR = "plots"

_ARCHS = "archs (one of; default --num 100)"
_NET = "metrics and network"
_DATA = "data"
_OUT = "output and evaluation"
_SPEC = ScoringSpec()
"""The defaults of the scoring flags (one home: :class:`~fewshot.scoring.ScoringSpec`)."""


def _scalar_metric_choices() -> list[str]:
    return ["all", *metric_names(kind="scalar")]


@dataclass(kw_only=True)
class ScoreConfig(ExecutorOptions, ImageOptions, CommonOptions):
    """Score a search space's archs with zero-cost metrics (resumable CSV) and correlate them
    with its benchmark's accuracy (NB201: NATS-Bench).

    Fields marked ``affects_results=False`` (which archs, output, evaluation, the executor)
    may change when the same CSV is continued; every other field must match the CSV's
    ``config.yaml``. With ``--executor ray`` shards of archs are scored by Ray tasks and this
    process alone writes the CSV, in the same order as ``--executor local``.
    """

    num: int | None = option(
        None, help="a random sample of this many archs (by --seed)", minimum=1, group=_ARCHS,
        affects_results=False,
    )  # fmt: skip
    all: bool = option(False, help="every arch of the space", group=_ARCHS, affects_results=False)
    archs: str | None = option(
        None, help="file with one arch string per line, or a comma list", group=_ARCHS,
        affects_results=False,
    )  # fmt: skip
    metrics: list[str] = option(
        ["all"], help="comma list of scalar metrics, or 'all'", choices=_scalar_metric_choices,
        group=_NET,
    )  # fmt: skip
    space: str = space_option(group=_NET)
    C: int | None = option(
        None, help="network width (NB201: channels of the first stage, 16; default: the "
        "space's)", minimum=1, group=_NET,
    )  # fmt: skip
    N: int | None = option(
        None, help="network depth (NB201: cells per stage, 5; default: the space's)", minimum=1,
        group=_NET,
    )  # fmt: skip
    seed: int = option(_SPEC.seed, help="sample, data batches, init and probes", group=_NET)
    recipe: str = option(
        _SPEC.recipe,
        help="how networks are initialised and metrics computed (fewshot/splitting/recipes.py; the "
        "published correlation tables used zero-cost-nas's conventions); batch flags stay "
        "this command's",
        choices=list_recipes,
        group=_NET,
    )
    dataset: str | None = option(
        None, help="data set (default: cifar10 if available, else digits with a warning)",
        choices=dataset_names, group=_DATA,
    )  # fmt: skip
    data_root: Path | None = option(None, help="data folder (data sets that need one)", group=_DATA)
    batch_size: int = option(
        _SPEC.batch_size, help="scoring batch size (papers: 64)", minimum=1, group=_DATA
    )
    batches: int = option(_SPEC.batches, help="batches drawn (zico needs >= 2)", minimum=1,
                          group=_DATA)  # fmt: skip
    out: Path = option(Path("runs/score"), help="output folder", group=_OUT, affects_results=False)
    resume: bool = option(
        False, help="require an existing CSV to continue", group=_OUT, affects_results=False
    )
    overwrite: bool = option(
        False, help="discard an existing CSV", group=_OUT, affects_results=False
    )
    retry_failed: bool = option(
        False, help="score again archs recorded with no value", group=_OUT,
        affects_results=False,
    )  # fmt: skip
    benchmark: Path | None = option(
        None, help="the space's benchmark (NB201: NATS-Bench tss directory): correlate "
        "(default: where the space looks; NB201: $FEWSHOT_BENCHMARK, then the default folders "
        "of fewshot.benchmark.find_benchmark)", group=_OUT, affects_results=False,
    )  # fmt: skip
    benchmark_dataset: str | None = option(
        None, help="benchmark accuracy column (default: the data set's when it is one of the "
        "benchmark's: cifar10, cifar100, ImageNet16-120, or a folder of their classes; else not "
        "correlated; naming a column forces it, with a warning)", group=_OUT,
        affects_results=False,
    )  # fmt: skip
    no_plots: bool = option(False, help="no scatter plots", group=_OUT, affects_results=False)

    def resolve(self) -> ScoreConfig:
        """The metric list ``all`` stands for, the network size the space gives (``C``, ``N``
        left out), the data set actually used and the space's benchmark."""
        from fewshot.data import resolve_dataset

        if sum([self.archs is not None, self.all, self.num is not None]) > 1:
            raise UsageError("choose one of --archs, --all and --num")
        space = self.search_space
        self.C = self.C if self.C is not None else space.model_defaults.get("C")
        self.N = self.N if self.N is not None else space.model_defaults.get("N")
        try:
            space.model_options(self.C, self.N)
        except ValueError as exc:
            raise UsageError(f"search space {space.name}: {exc}") from None
        self.metrics = resolve_metrics(self.metrics)
        self.dataset, _ = resolve_dataset(self.dataset, self.data_root)
        self.benchmark = _find_benchmark(space, self.benchmark)
        if self.benchmark is not None:
            self.benchmark_dataset = self.judging().column
        return self

    @property
    def search_space(self) -> SearchSpace:
        return get_space(self.space)

    def judging(self) -> Judging:
        """Whether the scoring data is the benchmark's (:func:`fewshot.data.identity.judging`)."""
        return judging(self.dataset, self.data_root, self.benchmark_dataset)

    def spec(self) -> ScoringSpec:
        """How this configuration scores an arch."""
        return scoring_spec(to_dict(self))


def _find_benchmark(space: SearchSpace, flag: Path | None) -> Path | None:
    """Where ``space``'s benchmark is (``--benchmark``, else where the space looks), or None
    (with a note) when it has none: the scores are then not correlated."""
    try:
        return space.find_benchmark(flag)
    except NotImplementedError:
        if flag is not None:
            raise UsageError(
                f"--benchmark {flag}: search space {space.name} has no benchmark adapter"
            ) from None
        log.warning("search space %s has no benchmark: the scores are not correlated", space.name)
        return None


# -- configuration and resume ---------------------------------------------------------------


def check_resume(out: Path, config: ScoreConfig) -> None:
    """Refuse to mix rows of two configurations in one CSV; clear it with ``--overwrite``."""
    csv_path = out / SCORES_NAME
    if config.overwrite:
        csv_path.unlink(missing_ok=True)
        return
    if not csv_path.is_file():
        if config.resume:
            raise UsageError(f"--resume: {csv_path} does not exist; drop --resume to start")
        return
    old = load_run_config(out, CONFIG_NAME)
    if old is None:
        raise UsageError(f"{csv_path} exists without {CONFIG_NAME}; use --overwrite or --out")
    refuse_changed(
        old,
        config,
        where=csv_path,
        hint="it was written with another configuration; use another --out, or --overwrite "
        "to discard it",
    )
    log.info("resuming %s", csv_path)


# -- evaluation -----------------------------------------------------------------------------


def write_evaluation(
    store: ScoreFile, rows: list[Correlation], acc: list, keep: list, out: Path, plots: bool
) -> None:
    atomic_write_json(out / CORRELATIONS_JSON, [r.to_dict() for r in rows])
    atomic_write_text(out / CORRELATIONS_MD, format_correlations(rows))
    if plots:
        from fewshot.plotting.correlation import plot_metric_scatter

        for r in rows:
            values = store.column(r.metric)[keep]
            plot_metric_scatter(values, acc, r, out / PLOTS_DIR / f"{r.metric}.png")


def _index_lookup(space: SearchSpace, benchmark: Path | None):
    if benchmark is None:
        return None
    bench = space.open_benchmark(benchmark)

    def index_of(arch):
        try:
            return bench.index(arch)
        except ValueError:
            return None

    return index_of


# -- main -------------------------------------------------------------------------------------


def _prepare(config: ScoreConfig) -> tuple[ScoreFile, ShardContext]:
    """The CSV to append to (resume checked, configuration and spec recorded) and what every
    shard needs."""
    spec = config.spec()
    dataset, data = load_scoring_data(spec, data_root=config.data_root, metrics=config.metrics)
    resolve_device(config.device)  # a device that does not exist: one clear error, now
    lock_run(config.out)
    check_resume(config.out, config)
    store = ScoreFile(config.out / SCORES_NAME, config.metrics)
    data_path = scoring_data_path(spec, dataset, data_root=config.data_root)
    save_run_config(config.out, config, CONFIG_NAME, extra={RESOLVED_DATA_PATH: data_path})
    free = data_free(config.metrics)
    write_spec_record(store.path, spec, data_free=free, data_root=config.data_root)
    return store, ShardContext(data, tuple(config.metrics), spec, config.device)


def _main(argv: Sequence[str] | None) -> int:
    return execute(parse_config(ScoreConfig, argv, prog="python -m fewshot.score"))


def execute(config: ScoreConfig) -> int:
    """What the command does with a resolved configuration: score, correlate, print, write;
    0 when done, 1 when some archs failed on the executor. :func:`fewshot.api.score` calls it."""
    apply_common(config)
    archs = select_archs(
        num=config.num, seed=config.seed, every=config.all, archs=config.archs, space=config.space
    )
    store, context = _prepare(config)
    if config.retry_failed:
        log.info("retrying %d archs recorded with no value", len(store.drop_failed()))
    with open_executor(config) as executor:
        summary, failed = score_with_executor(
            archs, store, context, executor,
            index_of=_index_lookup(config.search_space, config.benchmark),
            progress=not config.no_progress,
            threads=config.threads, shard_fn=score_shard,
        )  # fmt: skip
    rate = summary.scored / summary.seconds if summary.seconds else float("nan")
    if summary.scored == 0 and not summary.failed and not failed:
        print(f"{config.out} is already finished (same settings): every arch is in {store.path}")
    print(
        f"scored {summary.scored} archs ({rate:.3f} archs/s), {summary.skipped} already in "
        f"{store.path}, {len(summary.failed)} with errors (see the 'error' column)",
        file=sys.stderr,
    )
    if failed:
        print(f"error: {failure_report(failed)}; run the command again to score them",
              file=sys.stderr)  # fmt: skip
        return 1
    print(_recipe_note(config.recipe))
    files = [store.path, spec_record_path(store.path), config.out / CONFIG_NAME]
    figures: list[Path] = []
    judged = config.judging()
    if config.benchmark is not None and judged.column is not None:
        if judged.forced:
            log.warning("%s", judged.why)
        files, figures = _evaluate(config, store, files)
    elif config.benchmark is not None:
        print(judged.why)
    else:
        print(f"not correlated: no benchmark of search space {config.space} found (see the note "
              "above)")  # fmt: skip
    print(outputs_block(files, figures), end="")
    return 0


def _recipe_note(recipe: str) -> str:
    """Which recipe computed the metrics, and where it differs from ``fewshot.split``'s default
    (the difference bites when scores and splits of one metric are compared)."""
    if recipe == DEFAULT_RECIPE:
        return f"metrics computed with recipe {recipe} (fewshot.split's default too)"
    return (
        f"metrics computed with recipe {recipe}; fewshot.split defaults to {DEFAULT_RECIPE}, "
        f"which computes them differently (pass --recipe {recipe} to split, or --recipe "
        f"{DEFAULT_RECIPE} here, to compare like with like)"
    )


def _evaluate(
    config: ScoreConfig, store: ScoreFile, files: list[Path]
) -> tuple[list[Path], list[Path]]:
    """Correlations, plots and the vote against the benchmark, printed and written; the files
    and figures written, after ``files``."""
    rows, acc, keep = correlate(
        store, config.benchmark, config.benchmark_dataset, space=config.search_space
    )
    print(f"judged by {config.benchmark} ({config.benchmark_dataset} accuracy)")
    print(format_correlations(rows, truth=f"{config.benchmark_dataset} accuracy"), end="")
    write_evaluation(store, rows, acc, keep, config.out, plots=not config.no_plots)
    files = [*files, config.out / CORRELATIONS_JSON, config.out / CORRELATIONS_MD]
    figures = [] if config.no_plots else [config.out / PLOTS_DIR / f"{r.metric}.png" for r in rows]
    voted = vote(store, acc, keep)
    if voted is not None:
        print(f"vote (synflow, jacob_cov, snip): {voted:.3f} of arch pairs ordered correctly")
        atomic_write_json(config.out / VOTE_JSON, {"vote": voted})
        files.append(config.out / VOTE_JSON)
    return files, figures


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; user errors (unknown metric, bad arch, missing data) exit 2 with one line."""
    return run_main(_main, argv)


callable_command(__name__, "score")  # fewshot.score(...) is fewshot.api.score


if __name__ == "__main__":
    sys.exit(main())
