"""Compare two output folders of ``docs/spaces_bitexact/run.sh`` (old code, new code).

Every JSON output is compared value by value after the folder names are made equal; the only
differences allowed are timings and the recorded search-space names (issue 33: "the only new
bytes allowed are the recorded space names"). Scores files are compared byte for byte and
every trained ``weights.pt`` tensor by ``torch.equal``. Prints one line per check and exits 1
when any check fails.

usage: python docs/spaces_bitexact/compare.py OLD_OUT NEW_OUT
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

TIMING_KEYS = {"seconds", "timings", "train_s", "score_s", "wall_s", "train_s_mean", "versions"}
"""Keys whose values are wall-clock times or software versions (not results)."""
SPACE_KEYS = {"space"}
"""The recorded search-space name: new in these files, ``nb201`` where it appears."""


def load(path: Path, root: Path) -> Any:
    """A JSON file with its run folder's path replaced by ``ROOT`` (so paths compare equal)."""
    return json.loads(path.read_text().replace(str(root), "ROOT"))


def differences(old: Any, new: Any, where: str = "") -> Iterator[str]:
    """Paths where ``old`` and ``new`` differ, but timings and a new ``space: nb201``."""
    if isinstance(old, dict) and isinstance(new, dict):
        for key in sorted(set(old) | set(new)):
            if key in TIMING_KEYS:
                continue
            if key in SPACE_KEYS and key not in old and new[key] == "nb201":
                continue
            yield from differences(old.get(key), new.get(key), f"{where}.{key}")
    elif isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        for i, (a, b) in enumerate(zip(old, new, strict=True)):
            yield from differences(a, b, f"{where}[{i}]")
    elif old != new:
        yield where or "."


def compare_json(old_root: Path, new_root: Path, pattern: str) -> tuple[int, list[str]]:
    """How many files match ``pattern`` and the differences found in them."""
    found, bad = 0, []
    for path in sorted(old_root.glob(pattern)):
        rel = path.relative_to(old_root)
        found += 1
        diff = list(differences(load(path, old_root), load(new_root / rel, new_root)))
        bad += [f"{rel}: {d}" for d in diff[:5]]
    return found, bad


def compare_bytes(old_root: Path, new_root: Path, pattern: str) -> tuple[int, list[str]]:
    found, bad = 0, []
    for path in sorted(old_root.glob(pattern)):
        rel = path.relative_to(old_root)
        found += 1
        old = path.read_text().replace(str(old_root), "ROOT")
        if old != (new_root / rel).read_text().replace(str(new_root), "ROOT"):
            bad.append(str(rel))
    return found, bad


def compare_weights(old_root: Path, new_root: Path) -> tuple[int, list[str]]:
    import torch

    found, bad = 0, []
    for path in sorted(old_root.glob("**/weights.pt")):
        rel = path.relative_to(old_root)
        a = torch.load(path, weights_only=True)
        b = torch.load(new_root / rel, weights_only=True)
        found += 1
        if a.keys() != b.keys() or not all(torch.equal(a[k], b[k]) for k in a):
            bad.append(str(rel))
    return found, bad


def main(old_root: Path, new_root: Path) -> int:
    checks = [
        ("search rows (curves, trained)", compare_json(old_root, new_root, "search_rows.json")),
        ("search summary.json", compare_json(old_root, new_root, "search-*/summary.json")),
        ("split_distance.json", compare_json(old_root, new_root, "sweep-*/*/split_distance.json")),
        ("split-distance table.md", compare_bytes(old_root, new_root, "sweep-*/*/table.md")),
        ("tree.json", compare_json(old_root, new_root, "**/tree.json")),
        ("refinement.json", compare_json(old_root, new_root, "refine-*/refinement.json")),
        ("refinement samples", compare_json_lines(old_root, new_root, "refine-*/samples/*.jsonl")),
        ("few-vs-one-shot results.json", compare_json(old_root, new_root, "compare/results.json")),
        ("ranking-budget results.json", compare_json(old_root, new_root, "rb/results.json")),
        ("ground_truth.json", compare_json(old_root, new_root, "gt/ground_truth.json")),
        ("train search.json", compare_json(old_root, new_root, "runs/*/search.json")),
        ("scores files", compare_bytes(old_root, new_root, "**/scores*.json")),
        ("trained weights", compare_weights(old_root, new_root)),
    ]
    ok = True
    for name, (found, bad) in checks:
        ok &= bool(found) and not bad
        status = "equal" if found and not bad else ("MISSING" if not found else "DIFFERENT")
        print(f"{name}: {found} files, {status}" + (f": {bad[:5]}" if bad else ""))
    return 0 if ok else 1


def compare_json_lines(old_root: Path, new_root: Path, pattern: str) -> tuple[int, list[str]]:
    found, bad = 0, []
    for path in sorted(old_root.glob(pattern)):
        rel = path.relative_to(old_root)
        found += 1
        old = [json.loads(line) for line in path.read_text().splitlines()]
        new = [json.loads(line) for line in (new_root / rel).read_text().splitlines()]
        bad += [f"{rel}: {d}" for d in list(differences(old, new))[:5]]
    return found, bad


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]).resolve(), Path(sys.argv[2]).resolve()))
