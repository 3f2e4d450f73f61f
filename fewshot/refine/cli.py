"""``python -m fewshot.refine``: refine a design space with a zero-cost predictor.

Examples::

    python -m fewshot.refine --space anynet --predictor synflow --samples 500 \\
        --initial-samples 5000 --iterations 10 --seed 0 --out runs/refine/synflow
    python -m fewshot.refine --space nb201 --predictor synflow --samples 100 \\
        --scores-table ../shared/data/reference/nb201_zc_proxies_cifar10.csv \\
        --benchmark ../shared/data/NATS-tss-v1_0-3ffb9-simple --out runs/refine/nb201-synflow

Writes ``refinement.json`` (per iteration: the ranges sampled, the subspace size, score
statistics, each hyperparameter's 95% interval and median, the best net), the scored nets in
``samples/iter<k>.jsonl``, ``config.yaml`` and ``figures/``. Running the same command again
resumes (a larger ``--iterations`` continues a finished run); other settings are refused.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from fewshot.choices import dataset_names
from fewshot.cli import run_main
from fewshot.config import (
    CommonOptions,
    ImageOptions,
    apply_common,
    option,
    parse_config,
    resolve_device,
)
from fewshot.errors import UsageError
from fewshot.executor import ExecutorOptions, TasksFailed, open_executor
from fewshot.run_folder import (
    CONFIG,
    RUNTIME_OPTIONS,
    keep_run_config,
    load_run_config,
    lock_run,
    remove_outputs,
)
from fewshot.scoring.spec import ScoringSpec
from fewshot.tables import outputs_block

log = logging.getLogger("fewshot")

_RUN = "refinement"
_DATA = "data (scoring batches)"
_NB = "split spaces only (nb201, ...)"
_SPEC = ScoringSpec()
"""The defaults of the scoring flags (one home: :class:`~fewshot.scoring.ScoringSpec`)."""
_OUT = "output"


def space_choices() -> list[str]:
    """``anynet`` (the design space of da Silva et al.) and every registered split space."""
    from fewshot.choices import space_names

    return ["anynet", *space_names()]


def predictor_choices() -> list[str]:
    """Predictor names and the paper's aliases (for ``--help`` and value checks)."""
    from fewshot.refine.predictors import ALIASES, PREDICTORS

    return [*PREDICTORS, *ALIASES]


@dataclass(kw_only=True)
class RefineConfig(ExecutorOptions, ImageOptions, CommonOptions):
    """Refine a design space (AnyNet, or a split space's per-position op sets, e.g. NB201's
    per-edge ones) by a zero-cost predictor's bootstrap intervals (da Silva et al.)."""

    space: str = option(
        "anynet", help="design space: anynet, or a split space (per-position op sets)",
        choices=space_choices, group=_RUN,
    )  # fmt: skip
    predictor: str = option(
        "synflow", help="zero-cost predictor", choices=predictor_choices, group=_RUN
    )
    samples: int = option(500, help="nets per iteration (paper: 500)", minimum=2, group=_RUN)
    initial_samples: int | None = option(
        None, help="nets in iteration 0 (paper: 5000; default: --samples)", minimum=2, group=_RUN
    )
    iterations: int = option(
        10, help="most iterations (stops early when the intervals stop changing)",
        group=_RUN, affects_results=False,
    )  # fmt: skip
    seed: int = option(0, help="sampling, bootstrap, network init and data batches", group=_RUN)
    flops_range: list[float] = option(
        [10e6, 50e6], help="accepted multiply-adds at 32x32, LOW,HIGH (anynet)", group=_RUN
    )
    draws: int = option(10_000, help="bootstrap draws", minimum=1, group=_RUN)
    fraction: float = option(0.25, help="bootstrap sample fraction", group=_RUN)
    level: float = option(0.95, help="interval level", group=_RUN)
    dataset: str | None = option(
        None, help="data set (default: cifar10 if available, else digits with a warning)",
        choices=dataset_names, group=_DATA,
    )  # fmt: skip
    data_root: Path | None = option(None, help="data folder (data sets that need one)", group=_DATA)
    batch_size: int = option(
        _SPEC.batch_size, help="scoring batch size (papers: 64)", minimum=1, group=_DATA
    )
    scores_table: Path | None = option(
        None, help="per-arch CSV of predictor values (e.g. NAS-Bench-Suite-Zero) instead of "
        "computing them", group=_NB,
    )  # fmt: skip
    C: int = option(_SPEC.C, help="channels when computing predictors", minimum=1, group=_NB)
    N: int = option(
        _SPEC.N, help="cells (layers) per stage when computing predictors", minimum=1, group=_NB
    )
    benchmark: Path | None = option(
        None, help="the space's benchmark (NB201: NATS-Bench tss directory): accuracy of each "
        "iteration's mask", group=_NB,
        affects_results=False,
    )  # fmt: skip
    benchmark_dataset: str | None = option(
        None, help="benchmark accuracy column (NB201 default: the data's, when it is one of the "
        "benchmark's data sets or a folder of their classes; else a --benchmark given is refused "
        "and one found is not used; naming a column forces it, with a warning)", group=_NB,
        affects_results=False,
    )  # fmt: skip
    tree: Path | None = option(
        None, help="tree.json of `python -m fewshot.split`: compare its leaves with the refined "
        "mask", group=_NB, affects_results=False,
    )  # fmt: skip
    initial_from: Path | None = option(
        None, help="run folder of `python -m fewshot.refine.analyse` with the same seed, data "
        "and sample size: iteration 0 reuses its scored nets (anynet)", group=_OUT,
        affects_results=False,
    )  # fmt: skip
    out: Path | None = option(
        None, help="run folder (default: runs/refine/<space>-<predictor>-s<seed>)", group=_OUT,
        affects_results=False,
    )  # fmt: skip
    overwrite: bool = option(
        False, help="discard an existing run folder", group=_OUT, affects_results=False
    )
    no_plots: bool = option(False, help="no figures", group=_OUT, affects_results=False)

    def resolve(self) -> RefineConfig:
        """Canonical predictor, the iteration-0 size, the FLOPs range and the run folder."""
        from fewshot.refine.predictors import resolve_predictors

        (self.predictor,) = resolve_predictors([self.predictor])
        if self.iterations < 1:
            raise UsageError(f"--iterations must be at least 1, got {self.iterations}")
        if len(self.flops_range) != 2 or not 0 <= self.flops_range[0] <= self.flops_range[1]:
            raise UsageError(
                f"--flops-range {self.flops_range}: need LOW,HIGH with 0 <= LOW <= HIGH "
                "(an empty range accepts no net)"
            )
        if not 0 < self.fraction <= 1 or not 0 < self.level < 1:
            raise UsageError("need 0 < --fraction <= 1 and 0 < --level < 1")
        if self.executor == "ray" and self.space != "anynet":
            raise UsageError(
                f"--executor ray scores AnyNet samples; --space {self.space} runs locally"
            )
        self.initial_samples = self.initial_samples or self.samples
        if self.out is None:
            self.out = Path("runs/refine") / f"{self.space}-{self.predictor}-s{self.seed}"
        given = self.benchmark is not None
        if self.space != "anynet":
            from fewshot.spaces import get_space

            try:
                self.benchmark = get_space(self.space).find_benchmark(self.benchmark)
            except NotImplementedError as exc:  # a space without a benchmark
                if self.benchmark is not None:
                    raise UsageError(f"--benchmark: {exc}") from None
        if self.space == "anynet" or self.scores_table is None:
            from fewshot.data import resolve_dataset

            self.dataset, _ = resolve_dataset(self.dataset, self.data_root)
        self._judge(given)
        return self

    def _judge(self, given: bool) -> None:
        """NB201's benchmark judges the masks only on its own data (computed predictors): a
        ``--benchmark`` given for other data exits 2, one found is left unused (a log line)."""
        if self.space != "nb201" or self.benchmark is None or self.scores_table is not None:
            self.benchmark_dataset = self.benchmark_dataset or "cifar10"
            return
        from fewshot.data.identity import judging, required_column

        judged = judging(self.dataset, self.data_root, self.benchmark_dataset)
        if judged.column is None and not given:
            log.info("%s: the benchmark found is not used", judged.why)
            self.benchmark = None
            return
        self.benchmark_dataset = required_column(
            self.dataset, self.data_root, self.benchmark_dataset, what="refine --space nb201"
        )


def load_data(config: RefineConfig):
    """The fixed scoring batch (one batch of ``--batch-size`` from the training split)."""
    from fewshot.data import make_datamodule, scoring_data

    dm = make_datamodule(
        config.dataset,
        data_root=config.data_root,
        batch_size=config.batch_size,
        seed=config.seed,
        **config.data_option,
    )
    return scoring_data(dm, num_batches=1, batch_size=config.batch_size, seed=config.seed)


def data_info(config: RefineConfig) -> dict:
    return {
        "dataset": config.dataset,
        "data_root": str(config.data_root) if config.data_root else None,
        "batch_size": config.batch_size,
        "data_option": dict(config.data_option),
    }


def _prepare_out(config: RefineConfig) -> tuple[Path, bool]:
    """The run folder (locked, kept or started) and whether it is a finished run of exactly
    these settings (:func:`_finished`)."""
    out = Path(config.out)
    lock_run(out)
    if config.overwrite and out.exists():
        remove_outputs(out)
    before = keep_run_config(out, config, hint="use --overwrite")
    return out, _finished(out, before)


FINISHED = ("converged", "max_iterations")
"""A refinement's terminal statuses: another run with the same settings has nothing to do."""


def _finished(out: Path, before: dict | None) -> bool:
    """Whether ``out``'s refinement ended (:data:`FINISHED`) with the configuration saved
    now equal to the one saved before, all but the runtime options (benchmark, tree and figure
    options included, since they change what is written): says so."""
    try:
        status = json.loads((out / "refinement.json").read_text()).get("status")
    except (OSError, ValueError, AttributeError):
        return False
    now = load_run_config(out, CONFIG)
    if status not in FINISHED or before is None or now is None:
        return False
    if {k: v for k, v in before.items() if k not in RUNTIME_OPTIONS} != {
        k: v for k, v in now.items() if k not in RUNTIME_OPTIONS
    }:
        return False
    print(f"{out} is already finished (same settings, {status}): nothing to do; "
          f"results in {out / 'refinement.json'}")  # fmt: skip
    return True


def run_anynet(config: RefineConfig, out: Path) -> dict:
    from fewshot.refine.engine import RefineSettings, refine
    from fewshot.refine.samples import SampleFile

    settings = RefineSettings(
        predictor=config.predictor,
        samples=config.samples,
        initial_samples=config.initial_samples,
        iterations=config.iterations,
        seed=config.seed,
        flops_range=(int(config.flops_range[0]), int(config.flops_range[1])),
        draws=config.draws,
        fraction=config.fraction,
        level=config.level,
    )
    initial = None
    if config.initial_from is not None:
        path = config.initial_from / "samples" / "iter0.jsonl"
        if not path.is_file():
            raise UsageError(f"--initial-from {config.initial_from}: no {path}")
        _check_initial(config, load_run_config(config.initial_from, CONFIG) or {})
        initial = SampleFile(path).rows
    with open_executor(config) as executor:
        return refine(
            out,
            settings,
            load_data(config),
            data_info=data_info(config),
            initial_rows=initial,
            device=str(resolve_device(config.device)),
            progress=not config.no_progress,
            executor=executor if config.executor == "ray" else None,
        )


def _check_initial(config: RefineConfig, theirs: dict) -> None:
    """The analysis run must have scored the same sample on the same data."""
    keys = ("seed", "flops_range", "dataset", "data_root", "batch_size", "data_option")
    mine = {k: getattr(config, k) for k in keys}
    mine["data_root"] = str(config.data_root) if config.data_root else None
    diff = [k for k in keys if theirs.get(k) != mine[k]]
    if theirs.get("samples") != config.initial_samples:
        diff.append("samples (theirs) vs --initial-samples")
    if diff:
        raise UsageError(
            f"--initial-from {config.initial_from} scored another sample or data ({', '.join(diff)} "
            "differ); use the same --seed, --flops-range, data flags and --initial-samples"
        )


def run_nb201(config: RefineConfig, out: Path) -> dict:
    """The refinement of a split space's op sets (``--space``, NB201 or another)."""
    from fewshot.refine.nb201 import NB201Settings, metric_scorer, refine_nb201, table_scorer
    from fewshot.spaces import get_space

    space = get_space(config.space)

    settings = NB201Settings(
        predictor=config.predictor,
        samples=config.samples,
        iterations=config.iterations,
        seed=config.seed,
        draws=config.draws,
        fraction=config.fraction,
        level=config.level,
    )
    if config.scores_table is not None:
        if not config.scores_table.is_file():
            raise UsageError(f"--scores-table {config.scores_table} does not exist")
        scorer = table_scorer(config.scores_table, config.predictor)
    else:
        scorer = metric_scorer(
            config.predictor, load_data(config), C=config.C, N=config.N, seed=config.seed
        )
    accuracy_of, top = None, None
    if config.benchmark is not None:
        import numpy as np

        bench = space.open_benchmark(config.benchmark)
        column = bench.accuracies(config.benchmark_dataset)
        top = float(np.percentile(column, 95))
        index = {a: i for i, a in enumerate(bench.archs())}
        accuracy_of = lambda arch: float(column[index[arch]])  # noqa: E731
    record = refine_nb201(
        out,
        settings,
        scorer,
        accuracy_of=accuracy_of,
        top5_threshold=top,
        progress=not config.no_progress,
        space=space,
    )
    if config.tree is not None:
        from fewshot.io import atomic_write_json
        from fewshot.refine.nb201 import compare_with_tree

        final = space.Mask.from_op_lists(record["final_mask"])
        record["tree_comparison"] = compare_with_tree(config.tree, final, accuracy_of, top)
        atomic_write_json(out / "refinement.json", record)
    return record


def _main(argv: Sequence[str] | None) -> int:
    config = parse_config(RefineConfig, argv, prog="python -m fewshot.refine")
    apply_common(config)
    out, finished = _prepare_out(config)
    if finished:
        return 0
    try:
        record = run_anynet(config, out) if config.space == "anynet" else run_nb201(config, out)
    except TasksFailed as exc:  # shards that failed on Ray: named; the others are saved
        print(f"error: {exc}; run the command again to score the rest", file=sys.stderr)
        return 1
    figures: list[Path] = []
    if not config.no_plots:
        from fewshot.refine.figures import write_nb201_figures, write_run_figures

        figures = (write_run_figures if config.space == "anynet" else write_nb201_figures)(out)
    last = record["iterations"][-1] if record["iterations"] else None
    print(
        f"{config.space} {config.predictor}: {len(record['iterations'])} iterations, status "
        f"{record['status']}, final subspace {record['final_subspace_size']:.4g} nets"
        + (f", best score {last['best']['score']:.5g}" if last else "")
        + f"; wrote {out / 'refinement.json'}"
    )
    print(final_table(record, config.space), end="")
    files = [out / "refinement.json", out / "samples/", out / CONFIG]
    print(outputs_block(files, figures), end="")
    return 0


def final_table(record: dict, space: str) -> str:
    """The refined space in one table: AnyNet's final 95% intervals (and medians) per
    hyperparameter, or a split space's final ops per position (NB201: per edge; with the
    mask's benchmark accuracy when a benchmark judged it)."""
    from fewshot.tables import markdown_table

    if not record["iterations"]:
        return ""
    last = record["iterations"][-1]
    if space == "anynet":
        rows = [[name, iv["low"], iv["high"], f"{iv['median']:g}"]
                for name, iv in last["intervals"].items()]  # fmt: skip
        header = ["hyperparameter", "low", "high", "median"]
        return "\nfinal intervals:\n" + markdown_table(header, rows, pad=True)
    from fewshot.spaces import get_space

    kind = get_space(space).position_kind
    rows = [[p, ", ".join(ops)] for p, ops in enumerate(record["final_mask"])]
    text = f"\nfinal ops per {kind}:\n" + markdown_table([kind, "ops"], rows, pad=True)
    accuracy = last.get("accuracy")
    if accuracy:
        text += f"benchmark accuracy of the mask's archs: mean {accuracy['mean']:.2f}, "
        text += f"max {accuracy['max']:.2f}\n"
    return text


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; user errors (unknown predictor, empty FLOPs range, ...) exit 2."""
    return run_main(_main, argv)


if __name__ == "__main__":
    sys.exit(main())
