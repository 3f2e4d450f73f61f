"""No module above the search spaces knows NB201 (issue 33): a scan that fails on a wrong one.

Everything under ``fewshot/`` except :mod:`fewshot.spaces` and :mod:`fewshot.models` must ask a
:class:`~fewshot.spaces.SearchSpace` instead of naming NB201. The scan reads each module's
syntax tree (not its text, so prose in docstrings and comments is free) and reports:

- an import of ``fewshot.spaces.nb201`` (``import``, ``from ... import``, or
  ``from fewshot.spaces import nb201``);
- a string constant that is an NB201 op name (``"none"``, ``"skip_connect"``,
  ``"nor_conv_1x1"``, ``"nor_conv_3x3"``, ``"avg_pool_3x3"``) or a prefix that picks ops by
  name (``"nor_conv"``, ``"avg_pool"``);
- NB201's edge list as a literal, its 6x5 shape as a tuple literal ``(6, 5)``, its size 15625.

``"none"`` is also an ordinary option value (``--lr-scaling none``): a line that uses it so
carries the marker comment ``# space-literal: not an op`` and is not reported.

:func:`test_a_deliberately_wrong_module_is_reported` shows the scan catching each kind of
violation in a copy of the package.
"""

from __future__ import annotations

import ast
import shutil
from pathlib import Path

import pytest

from fewshot.spaces.nb201 import EDGES, NUM_ARCHS, OPS
from tests.conftest import REPO_ROOT

EXEMPT_PACKAGES = ("fewshot/spaces/", "fewshot/models/")
"""Where a space and its networks live: the only places that may name NB201."""
NB201_MODULE = "fewshot.spaces.nb201"
MARKER = "# space-literal: not an op"
OP_PREFIXES = tuple(sorted({op.rsplit("_", 1)[0] for op in OPS if op.count("_") >= 2}))
"""``nor_conv``, ``avg_pool``: name prefixes that select ops (``op.startswith("nor_conv")``)."""
SHAPE = (len(EDGES), len(OPS))


def _module_name(node: ast.ImportFrom) -> str:
    return "." * node.level + (node.module or "")


def _literal(node: ast.AST) -> object:
    try:
        return ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return None


def _as_tuples(value: object) -> object:
    if isinstance(value, (list, tuple)):
        return tuple(_as_tuples(v) for v in value)
    return value


def scan_source(source: str) -> list[str]:
    """``line N: what`` for every NB201 literal or import in one module's source."""
    lines = source.splitlines()
    found: list[str] = []
    for node in ast.walk(ast.parse(source)):
        line = getattr(node, "lineno", 0)
        what = None
        if isinstance(node, ast.Import):
            if any(
                a.name == NB201_MODULE or a.name.startswith(NB201_MODULE + ".") for a in node.names
            ):
                what = f"imports {NB201_MODULE}"
        elif isinstance(node, ast.ImportFrom):
            module = _module_name(node)
            if module == NB201_MODULE or (
                module == "fewshot.spaces" and any(a.name == "nb201" for a in node.names)
            ):
                what = f"imports {NB201_MODULE}"
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            if node.value in OPS or node.value in OP_PREFIXES:
                marked = 0 < line <= len(lines) and MARKER in lines[line - 1]
                if not (node.value == "none" and marked):
                    what = f"names the NB201 op {node.value!r}"
        elif isinstance(node, ast.Constant) and type(node.value) is int:
            if node.value == NUM_ARCHS:
                what = f"uses NB201's size {NUM_ARCHS}"
        elif isinstance(node, (ast.Tuple, ast.List)):
            value = _as_tuples(_literal(node))
            if value == EDGES:
                what = "spells NB201's edge list"
            elif value == SHAPE:
                what = f"uses NB201's shape {SHAPE}"
        if what is not None:
            found.append(f"line {line}: {what}")
    return sorted(set(found), key=lambda s: int(s.split(":")[0].split()[1]))


def scan(root: Path) -> dict[str, list[str]]:
    """Every module under ``root/fewshot`` outside the exempt packages -> its violations."""
    out = {}
    for path in sorted((root / "fewshot").rglob("*.py")):
        rel = path.relative_to(root).as_posix()
        if rel.startswith(EXEMPT_PACKAGES):
            continue
        found = scan_source(path.read_text(encoding="utf-8"))
        if found:
            out[rel] = found
    return out


def test_no_module_above_the_spaces_names_nb201() -> None:
    found = scan(REPO_ROOT)
    assert not found, "modules that name NB201 (ask the search space instead):\n" + "\n".join(
        f"{m}: {'; '.join(v)}" for m, v in found.items()
    )


@pytest.fixture
def package(tmp_path: Path) -> Path:
    """A copy of the package to break."""
    shutil.copytree(
        REPO_ROOT / "fewshot", tmp_path / "fewshot", ignore=shutil.ignore_patterns("__pycache__")
    )
    return tmp_path


@pytest.mark.parametrize(
    ("line", "reported"),
    [
        ("from fewshot.spaces.nb201 import Mask", "imports fewshot.spaces.nb201"),
        ("import fewshot.spaces.nb201 as nb", "imports fewshot.spaces.nb201"),
        ("from fewshot.spaces import nb201", "imports fewshot.spaces.nb201"),
        ("CONV = 'nor_conv_3x3'", "names the NB201 op 'nor_conv_3x3'"),
        ("ZERO = 'none'", "names the NB201 op 'none'"),
        ("CONVS = [op for op in ('a',) if op.startswith('nor_conv')]", "'nor_conv'"),
        ("EDGE_LIST = ((1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2))", "edge list"),
        ("import numpy as np\nM = np.ones((6, 5), bool)", "shape (6, 5)"),
        ("SIZE = 15625", "size 15625"),
    ],
)
def test_a_deliberately_wrong_module_is_reported(package: Path, line: str, reported: str) -> None:
    target = package / "fewshot" / "search" / "run.py"
    assert "fewshot/search/run.py" not in scan(package)
    target.write_text(target.read_text() + f"\n{line}\n")
    found = scan(package)
    assert any(reported in v for v in found.get("fewshot/search/run.py", [])), found


def test_prose_and_marked_option_values_are_not_reported() -> None:
    ok = '"""A docstring naming none, skip_connect and nor_conv_3x3 in prose."""\n'
    ok += 'RULE = "none"  # space-literal: not an op\n'
    ok += "# a comment naming avg_pool_3x3\n"
    assert scan_source(ok) == []
    assert scan_source('RULE = "none"\n') == ["line 1: names the NB201 op 'none'"]
    # the marker only excuses "none", an ordinary word; an op name stays reported
    assert scan_source('OP = "nor_conv_1x1"  # space-literal: not an op\n') != []
