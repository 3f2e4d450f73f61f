"""The import contracts of ``.importlinter`` hold, and a wrong import breaks them.

Each test lints a copy of the package (``fewshot/`` and ``.importlinter`` in a temporary
folder, first on the path), so a deliberately wrong import can be added without touching the
tree. Skipped where import-linter is not installed (it is in the ``test`` extra; ``.ci/run``
runs ``lint-imports`` on the real tree).
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("importlinter") is None, reason="import-linter is not installed"
)

LINT = "import sys; from importlinter.cli import lint_imports_command; sys.exit(lint_imports_command())"
CONTRACTS = {"Layers:": "layers", "No library module imports a command module": "forbidden"}
"""Contract names in ``.importlinter`` (their start) -> the short names the tests use."""


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A copy of the package and its contracts to lint."""
    shutil.copytree(
        REPO_ROOT / "fewshot", tmp_path / "fewshot", ignore=shutil.ignore_patterns("__pycache__")
    )
    shutil.copy(REPO_ROOT / ".importlinter", tmp_path / ".importlinter")
    return tmp_path


def lint(root: Path) -> tuple[int, str]:
    """``lint-imports --no-cache`` in ``root`` (its copy of fewshot imported): exit code, output."""
    env = {**os.environ, "PYTHONPATH": str(root), "COLUMNS": "300", "NO_COLOR": "1"}
    out = subprocess.run(
        [sys.executable, "-c", LINT, "--no-cache"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    return out.returncode, out.stdout + out.stderr


def broken(output: str) -> set[str]:
    """Short names of the contracts the report calls broken."""
    names = [m.group(1) for m in re.finditer(r"^(.*) BROKEN\b", output, re.MULTILINE)]
    return {short for name in names for start, short in CONTRACTS.items() if name.startswith(start)}


def add_import(path: Path, line: str) -> None:
    """Append ``line`` (an import) to the module at ``path``."""
    path.write_text(path.read_text() + f"\n{line}  # noqa: E402,F401  (deliberately wrong)\n")


def test_the_tree_keeps_every_contract(tree: Path) -> None:
    code, output = lint(tree)
    assert code == 0, output
    assert "Contracts: 2 kept, 0 broken." in output, output


@pytest.mark.parametrize(
    ("module", "line", "contracts"),
    [
        # the NB201 encoding (bottom) importing a command: both contracts break
        ("spaces/nb201.py", "import fewshot.split", {"layers", "forbidden"}),
        # a metric importing the trainer (a higher layer)
        ("metrics/vote.py", "import fewshot.training.trainer", {"layers"}),
        # the AnyNet exception is one edge: the space may not import another model
        ("spaces/anynet.py", "import fewshot.models.supernet", {"layers"}),
        # siblings import neither way: search and refine
        ("refine/samples.py", "import fewshot.search.oracle", {"layers"}),
        # training below analysis (the cycle broken by moving correlation down)
        ("training/evaluate.py", "import fewshot.analysis.ranking", {"layers"}),
    ],
)
def test_a_wrong_import_breaks_a_contract(
    tree: Path, module: str, line: str, contracts: set[str]
) -> None:
    add_import(tree / "fewshot" / module, line)
    code, output = lint(tree)
    assert code != 0, output
    assert broken(output) == contracts, output


def test_a_module_outside_the_layers_breaks_the_contract(tree: Path) -> None:
    """The layers contract is exhaustive: a new top-level module must be placed in a layer."""
    (tree / "fewshot" / "helpers.py").write_text('"""Not placed in .importlinter."""\n')
    code, output = lint(tree)
    assert code != 0, output
    assert "fewshot.helpers" in output, output
