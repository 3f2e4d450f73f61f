"""Reading splitting trees for the split-distance analysis: find, load, check, group.

:func:`load_trees` finds tree files under the given paths (a tree file, a run folder, or a
folder of run folders) and loads them; :func:`group_by_metric` groups them by metric and
refuses to pool trees that cannot be compared: trees made with different recipes
(:class:`MixedRecipeError`, naming both recipes and files; a tree made before recipes existed
has none), trees whose settings differ apart from run bookkeeping (:class:`MixedConfigError`),
and two trees with the same seed; :func:`check_space` refuses trees of another search space
than the analysis's (:class:`MixedSpaceError`).
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tqdm import tqdm

from fewshot.config import result_fields
from fewshot.errors import UsageError
from fewshot.run_folder import TREE, migrate
from fewshot.spaces import SearchSpace
from fewshot.splitting.tree import SplitTree, load_tree

COMPARED_APART = ("metric", "seed")
"""Result-affecting settings that do differ between the trees of one metric's group."""


def compared_keys() -> list[str]:
    """The split settings that must match for trees to be pooled: the result-affecting fields
    of :class:`~fewshot.splitting.run.SplitConfig` (derived from the dataclass, so paths,
    device, threads, progress, resume bookkeeping never count) but the metric and seed."""
    from fewshot.splitting.run import SplitConfig  # here: reading trees needs no torch

    return [k for k in result_fields(SplitConfig) if k not in COMPARED_APART]


class MixedConfigError(UsageError):
    """Trees of one metric were produced with different settings and cannot be compared."""


class MixedRecipeError(MixedConfigError):
    """Trees of one metric were split with different recipes and cannot be pooled."""


class MixedSpaceError(MixedConfigError):
    """Trees of another search space than the analysis's: their splits cannot be compared."""


@dataclass(frozen=True)
class SourcedTree:
    """A loaded tree and the file it came from (for error messages and the report)."""

    source: str
    tree: SplitTree


def find_tree_files(paths: Iterable[str | os.PathLike[str]]) -> list[Path]:
    """Tree files named by ``paths``: a tree file, a run folder, or a folder of run folders.

    A folder without its own ``tree.json`` is searched recursively for ``tree.json`` files.
    """
    found: list[Path] = []
    for p in map(Path, paths):
        if p.is_file():
            found.append(p)
        elif (p / TREE).is_file():
            found.append(p / TREE)
        elif p.is_dir():
            nested = sorted(p.rglob(TREE))
            if not nested:
                raise UsageError(f"{p}: no tree.json found in this folder or below it")
            found.extend(nested)
        else:
            raise UsageError(f"{p}: no such file or folder")
    unique = list(dict.fromkeys(f.resolve() for f in found))
    if not unique:
        raise UsageError("no tree files given (pass tree files, run folders or their parents)")
    return unique


def load_trees(
    paths: Iterable[str | os.PathLike[str]],
    *,
    allow_incomplete: bool = False,
    progress: bool = False,
) -> list[SourcedTree]:
    """Load every tree under ``paths``; corrupt files raise ``TreeFileError`` naming the file."""
    trees = []
    files = find_tree_files(paths)
    for f in tqdm(files, desc="loading trees", unit="tree", disable=not progress or len(files) < 2):
        tree = load_tree(f)
        if not tree.complete and not allow_incomplete:
            raise UsageError(
                f"{f}: the tree is incomplete (interrupted run?); finish it with "
                "`python -m fewshot.split ... --resume`, or allow partial trees explicitly"
            )
        trees.append(SourcedTree(str(f), tree))
    return trees


def config_signature(tree: SplitTree) -> dict[str, Any]:
    """The settings that must match for trees to be compared: data set plus the saved run
    config's :func:`compared_keys` (old keys renamed; keys of settings that no longer exist,
    such as ``workers`` or ``quiet``, are not compared)."""
    saved, keys = migrate(tree.config or {}), set(compared_keys())
    sig = {k: v for k, v in saved.items() if k in keys}
    sig["dataset"] = tree.dataset
    sig["space"] = tree.space.name  # a tree saved before spaces existed: NB201
    return dict(sorted(sig.items()))


def check_space(trees: Sequence[SourcedTree], space: SearchSpace) -> None:
    """Every tree splits ``space``; the first that does not raises :class:`MixedSpaceError`."""
    for st in trees:
        if st.tree.space.name != space.name:
            raise MixedSpaceError(
                f"{st.source} splits search space {st.tree.space.name!r}, not {space.name!r}; "
                f"analyse trees of one space at a time (--space {st.tree.space.name})"
            )


def group_by_metric(trees: Sequence[SourcedTree]) -> dict[str, list[SourcedTree]]:
    """Trees by metric (metrics in order of first appearance, so a sweep's report follows its
    ``--metrics`` order), sorted by seed; mixed configs or repeated seeds raise ``UsageError``."""
    groups: dict[str, list[SourcedTree]] = {}
    for st in trees:
        groups.setdefault(st.tree.metric, []).append(st)
    for metric, group in groups.items():
        group.sort(key=lambda st: st.tree.seed)
        _check_same_recipe(metric, group)
        _check_same_config(metric, group)
        _check_distinct_seeds(metric, group)
    return groups


def recipe_of(tree: SplitTree) -> tuple[str | None, dict[str, Any]]:
    """(recipe name, resolved recipe settings) of a tree; ``(None, {})`` before recipes."""
    recipe = dict(getattr(tree, "recipe", None) or {})
    name = recipe.get("name") or (tree.config or {}).get("recipe")
    return name, recipe


def _check_same_recipe(metric: str, group: Sequence[SourcedTree]) -> None:
    """Trees split with different recipes (or recipe settings) are not pooled."""
    ref = group[0]
    ref_name, ref_recipe = recipe_of(ref.tree)
    for st in group[1:]:
        name, recipe = recipe_of(st.tree)
        if name != ref_name:
            raise MixedRecipeError(
                f"metric {metric!r}: {ref.source} was split with recipe {_recipe_label(ref_name)} "
                f"and {st.source} with recipe {_recipe_label(name)}; trees of different recipes "
                "are not pooled (analyse one recipe at a time)"
            )
        if recipe != ref_recipe:
            keys = sorted(
                k for k in recipe.keys() | ref_recipe.keys() if recipe.get(k) != ref_recipe.get(k)
            )
            raise MixedRecipeError(
                f"metric {metric!r}: {ref.source} and {st.source} use recipe {ref_name!r} with "
                f"different settings ({', '.join(keys)}); analyse one setting at a time"
            )


def _recipe_label(name: str | None) -> str:
    return repr(name) if name else "none (made before recipes)"


def _check_same_config(metric: str, group: Sequence[SourcedTree]) -> None:
    ref = group[0]
    ref_sig = config_signature(ref.tree)
    for st in group[1:]:
        sig = config_signature(st.tree)
        if sig != ref_sig:
            keys = sorted(k for k in ref_sig.keys() | sig.keys() if ref_sig.get(k) != sig.get(k))
            diffs = ", ".join(f"{k}: {ref_sig.get(k)!r} vs {sig.get(k)!r}" for k in keys)
            raise MixedConfigError(
                f"metric {metric!r}: {st.source} was run with different settings from "
                f"{ref.source} ({diffs}); analyse trees of one configuration at a time"
            )


def _check_distinct_seeds(metric: str, group: Sequence[SourcedTree]) -> None:
    for a, b in itertools.pairwise(group):
        if a.tree.seed == b.tree.seed:
            raise UsageError(
                f"metric {metric!r}: {a.source} and {b.source} both have seed {a.tree.seed}; "
                "pass each run once"
            )


__all__ = [
    "COMPARED_APART",
    "MixedConfigError",
    "MixedRecipeError",
    "MixedSpaceError",
    "SourcedTree",
    "check_space",
    "compared_keys",
    "config_signature",
    "find_tree_files",
    "group_by_metric",
    "load_trees",
    "recipe_of",
]
