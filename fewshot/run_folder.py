"""The run-folder contract: what a run folder holds, how a command opens, resumes or refuses it.

Every command writes its outputs into a run folder and saves its resolved configuration there;
run again, it continues only with the same result-affecting settings. This module is that
contract in one place:

- the file and folder names (:data:`TREE`, :data:`CONFIG`, :data:`TRAIN_CONFIG`, ...), and the
  ``{metric}_s{seed}`` layout of a folder of split runs (:func:`run_name`, :func:`tree_path`);
- :func:`load_run_config`: a saved configuration with old keys renamed (:func:`migrate`), so
  each command no longer carries its own patch;
- :func:`save_run_config`: the resolved configuration, paths that point inside the run folder
  written relative to it (a moved folder still describes itself);
- :func:`keep_run_config`: resume-or-start, refusing a folder saved with other
  result-affecting settings. Which fields affect results is derived from the configuration
  dataclasses (``option(..., affects_results=False)``, :func:`fewshot.config.result_fields`);
  paths (run folder, tree file, output and data folders) never do, so a moved or remounted
  run folder resumes.

- :func:`lock_run`: one writer per run folder (or leaf): a command that writes a folder holds
  its lock while it runs; a second command there exits 2 naming the holder
  (:mod:`fewshot.faults`).

It may import :mod:`fewshot.config`, :mod:`fewshot.faults`, :mod:`fewshot.io` and
:mod:`fewshot.errors` only: every layer above (splitting, training, experiments, analysis,
commands) uses it.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from fewshot import faults
from fewshot.config import (
    CommonOptions,
    load_saved_config,
    path_fields,
    refuse_changed,
    save_config,
    to_dict,
)

TREE = "tree.json"
"""The splitting tree of a split run (:mod:`fewshot.splitting.tree`)."""
TREE_FIGURE = "tree.png"
CONFIG = "config.yaml"
"""The resolved configuration of the command that made the folder."""
TRAIN_CONFIG = "train_config.yaml"
"""``fewshot.train``'s configuration in a split run folder (beside the split's ``config.yaml``)."""
SWEEP_CONFIG = "sweep_config.yaml"
FEW_VS_ONE_SHOT_CONFIG = "few_vs_one_shot_config.yaml"
EVALUATION_CONFIG = "evaluation_config.yaml"
"""``fewshot.refine.evaluate``'s configuration, beside its ``evaluation.json``."""
RESOLVED_DATA_PATH = "resolved_data_path"
"""Key saved beside a command's configuration: the data path (``tensor`` or ``loader``) that
``data_path`` (``auto`` by default: by the decoded size) resolved to for this run."""
LEAVES = "leaves"
"""Trained leaves of a split run: ``leaves/<id>/``."""
ONE_SHOT_DIR = "oneshot"
"""The one-shot supernet trained beside the leaves (also its job id in ``train_config.yaml``)."""
SEARCH = "search.json"
SEARCH_FIGURE = "search.png"
"""``fewshot.train``'s held-out vs benchmark accuracy of the searched archs (when judged)."""
CURVES_FIGURE = "curves.png"
"""``fewshot.train``'s training curves of the leaves (from their ``metrics.jsonl``)."""
WEIGHT_CHECKPOINTS = "weights"
"""Split runs' warm-up checkpoints."""
SCORES = "scores.json"
"""Held-out accuracy of each sampled arch, per supernet of the few-shot vs one-shot experiment."""
LOGS = "logs"
LOCK = faults.LOCK_NAME
"""The writer's lock file, present while a command writes the folder (:func:`lock_run`)."""

OLD_KEYS = {"dataset_option": "data_option"}
"""Configuration keys saved by older versions -> their current names."""


def lock_run(folder: Path, *, wait: float = 0.0) -> faults.FolderLock:
    """Hold ``folder``'s writer lock until the command returns (:func:`fewshot.faults.lock_folder`):
    another command holding it is named in one line (exit 2) after ``wait`` seconds; a lock
    left by a killed command is taken over with a warning. The folder is made."""
    return faults.lock_folder(folder, wait=wait)


def remove_outputs(path: Path) -> None:
    """Remove ``path`` (a file, or a folder with everything in it) except the writer locks
    under it, which the command removing it holds (``--force``, ``--overwrite``)."""
    path = Path(path)
    if not path.is_dir():
        path.unlink(missing_ok=True)
        return
    for child in path.iterdir():
        if child.name != LOCK:
            remove_outputs(child)
    if not any(path.iterdir()):
        path.rmdir()


def run_name(metric: str, seed: int) -> str:
    """The folder name of one (metric, seed) split run in a sweep: ``snip_s3``."""
    return f"{metric}_s{seed}"


def tree_path(runs: Path, metric: str, seed: int) -> Path:
    """``RUNS/METRIC_sSEED/tree.json``: where a sweep keeps the tree of ``metric`` and ``seed``."""
    return Path(runs) / run_name(metric, seed) / TREE


def migrate(saved: Mapping[str, Any]) -> dict[str, Any]:
    """A saved configuration with its old keys renamed (:data:`OLD_KEYS`) and ``data_option``
    as a mapping (configurations saved before it defaulted to ``{}`` hold ``null``)."""
    out = dict(saved)
    for old, new in OLD_KEYS.items():
        if old in out:
            value = out.pop(old)
            out.setdefault(new, value)
    if "data_option" in out and out["data_option"] is None:
        out["data_option"] = {}
    return out


def load_run_config(run_dir: Path, name: str = CONFIG) -> dict[str, Any] | None:
    """The configuration saved in ``run_dir`` as ``name`` (migrated), or None when absent."""
    saved = load_saved_config(Path(run_dir) / name)
    return None if saved is None else migrate(saved)


def relative_paths(data: Mapping[str, Any], run_dir: Path) -> dict[str, Any]:
    """``data`` with every path value that lies inside ``run_dir`` written relative to it
    (the folder itself as ``.``); other values unchanged."""
    root = Path(run_dir).resolve()
    return {key: _relative(value, root) for key, value in data.items()}


def _relative(value: Any, root: Path) -> Any:
    if isinstance(value, list):
        return [_relative(v, root) for v in value]
    if value is None:
        return None
    try:
        return str(Path(value).resolve().relative_to(root))
    except (OSError, ValueError):  # outside the run folder: kept as given
        return value


def save_run_config(
    run_dir: Path,
    config: CommonOptions,
    name: str = CONFIG,
    *,
    extra: Mapping[str, Any] | None = None,
    paths: Iterable[str] | None = None,
) -> Path:
    """Save ``config`` (plus ``extra`` keys) in ``run_dir`` as ``name``, atomically; the
    ``paths`` (default: every ``Path`` field) that lie inside ``run_dir`` are written
    relative to it."""
    data = to_dict(config)
    names = paths if paths is not None else path_fields(type(config))
    inside = relative_paths({k: data[k] for k in names if k in data}, run_dir)
    return save_config(run_dir, {**data, **inside, **dict(extra or {})}, name)


def keep_run_config(
    out: Path,
    config: CommonOptions,
    name: str = CONFIG,
    *,
    hint: str = "use the original flags, or --force to start over",
    ignore: Iterable[str] = (),
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any] | None:
    """Resume-or-start a run folder: refuse one saved with other result-affecting settings
    (:func:`fewshot.config.refuse_changed`), then save ``config`` (plus ``extra`` keys) there as
    ``name`` (the folder is made). Returns the configuration saved before, or None for a new
    folder."""
    saved = load_run_config(out, name)
    refuse_changed(saved, config, where=out, hint=hint, ignore=ignore)
    save_run_config(out, config, name, extra=extra)
    return saved


RUNTIME_OPTIONS = frozenset({"device", "threads", "no_progress", "verbose"})
"""Common options that change how a command runs, never what it writes."""


def finished(out: Path, result: Path, config: CommonOptions | None = None) -> bool:
    """Whether ``out`` is a finished run of these settings; says so (one line) when it is.

    Called after :func:`keep_run_config` accepted the folder: the result file ``result``
    exists, and when ``config`` is given, the configuration recorded in it (its ``config``
    key, a JSON result) equals ``config`` but for :data:`RUNTIME_OPTIONS` (an option that
    changes only the analysis, such as the bootstrap's resamples, is then redone)."""
    result = Path(result)
    if not result.is_file():
        return False
    if config is not None and not _same_recorded(result, config):
        return False
    print(f"{out} is already finished (same settings): nothing to do; results in {result}")
    return True


def _same_recorded(result: Path, config: CommonOptions) -> bool:
    try:
        recorded = json.loads(result.read_text()).get("config")
    except (OSError, ValueError, AttributeError):
        return False
    if not isinstance(recorded, dict):
        return False
    mine = json.loads(json.dumps(to_dict(config), default=str))
    defaults = _defaults(config)
    # an option added after the result was written counts as its default there
    recorded = {**{k: defaults[k] for k in mine if k not in recorded and k in defaults}, **recorded}
    return {k: v for k, v in recorded.items() if k not in RUNTIME_OPTIONS} == {
        k: v for k, v in mine.items() if k not in RUNTIME_OPTIONS
    }


def _defaults(config: CommonOptions) -> dict[str, Any]:
    """The JSON values of ``config``'s options that have a plain default."""
    out = {}
    for f in dataclasses.fields(config):
        if f.default is not dataclasses.MISSING:
            out[f.name] = json.loads(json.dumps(f.default, default=str))
        elif f.default_factory is not dataclasses.MISSING:
            out[f.name] = json.loads(json.dumps(f.default_factory(), default=str))
    return out


__all__ = [
    "CONFIG",
    "CURVES_FIGURE",
    "EVALUATION_CONFIG",
    "FEW_VS_ONE_SHOT_CONFIG",
    "LEAVES",
    "LOCK",
    "LOGS",
    "OLD_KEYS",
    "ONE_SHOT_DIR",
    "SCORES",
    "SEARCH",
    "SEARCH_FIGURE",
    "SWEEP_CONFIG",
    "RESOLVED_DATA_PATH",
    "TRAIN_CONFIG",
    "TREE",
    "TREE_FIGURE",
    "WEIGHT_CHECKPOINTS",
    "RUNTIME_OPTIONS",
    "finished",
    "keep_run_config",
    "lock_run",
    "load_run_config",
    "migrate",
    "relative_paths",
    "remove_outputs",
    "run_name",
    "save_run_config",
    "tree_path",
]
