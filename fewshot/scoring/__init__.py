"""Scoring: zero-cost metrics on standalone architectures, as one :class:`ScoringSpec` says.

The library behind ``python -m fewshot.score``, the search's proxy tables, refine's predictors
and ``tools/benchmark_metrics.py``:

- :mod:`~fewshot.scoring.spec`: :class:`ScoringSpec` (network, init, metric settings, recipe,
  data, batches, seed: the one home of their defaults) and the spec record kept beside a
  scores CSV.
- :mod:`~fewshot.scoring.select`: what to score (metric names, archs).
- :mod:`~fewshot.scoring.data`: the spec's scoring batches (none read for data-free metrics).
- :mod:`~fewshot.scoring.engine`: one network, one arch, many archs into a resumable CSV, and
  shards of archs on an executor (one writer).
- :mod:`~fewshot.scoring.store`: the scores CSV.

May import: plumbing (errors, io, :mod:`fewshot.config` for devices, :mod:`fewshot.executor`),
spaces, models, the benchmark, metrics and data; never :mod:`fewshot.choices` (its sibling),
splitting, training, search, analysis or a command.
Correlating a CSV with the benchmark is analysis (:mod:`fewshot.analysis.scores`).
"""

from fewshot.scoring.data import (
    data_free_input,
    input_size,
    load_scoring_data,
    scoring_data_path,
    scoring_difference,
)
from fewshot.scoring.engine import (
    ScoringSummary,
    ShardContext,
    build_scored,
    score_arch,
    score_archs,
    score_network,
    score_shard,
    score_with_executor,
    shard_name,
)
from fewshot.scoring.select import parse_archs, resolve_metrics, sample_archs, select_archs
from fewshot.scoring.spec import (
    DATA_FIELDS,
    DATA_FREE,
    ScoringSpec,
    read_record_root,
    read_spec_record,
    spec_difference,
    spec_record_path,
    write_spec_record,
)
from fewshot.scoring.store import ScoreFile, ScoreRow, columns_for, read_score_metrics

__all__ = [
    "DATA_FIELDS",
    "DATA_FREE",
    "ScoreFile",
    "ScoreRow",
    "ScoringSpec",
    "ScoringSummary",
    "ShardContext",
    "build_scored",
    "columns_for",
    "data_free_input",
    "input_size",
    "load_scoring_data",
    "scoring_data_path",
    "parse_archs",
    "read_record_root",
    "read_score_metrics",
    "read_spec_record",
    "resolve_metrics",
    "sample_archs",
    "score_arch",
    "score_archs",
    "score_network",
    "score_shard",
    "score_with_executor",
    "scoring_difference",
    "select_archs",
    "shard_name",
    "spec_difference",
    "spec_record_path",
    "write_spec_record",
]
