"""docs/api.md runs as written: its ```python blocks, in order, in one Python process in a
scratch folder, on the offline data; every block runs without an exception.

Like the quickstart it is a step of its own in CI (``.ci/run`` sets ``FEWSHOT_RUN_DOCS=1``)
and skipped in the plain test suite; it also skips when the offline data folder is absent.
``FEWSHOT_API_DOC_DIR=DIR`` runs it in DIR and keeps the outputs and ``api.log`` (what the
blocks printed, to refresh the page's text blocks).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT, shared_data_dir

PAGE = REPO_ROOT / "docs" / "api.md"
RUN_ENV = "FEWSHOT_RUN_DOCS"
_BLOCK = re.compile(r"^```python\n(.*?)^```", re.DOTALL | re.MULTILINE)


def python_blocks(text: str) -> list[str]:
    """The page's ```python blocks, in order."""
    return [m.group(1) for m in _BLOCK.finditer(text)]


def session_script(blocks: list[str]) -> str:
    """One Python program running ``blocks`` in order in one namespace, saying which block
    ran (on stderr) so that a failure names its block."""
    parts = ["import sys as _sys", "_ns = {'__name__': '__main__'}"]
    for i, block in enumerate(blocks, 1):
        parts += [
            f"print('>>> api.md block {i}', file=_sys.stderr, flush=True)",
            f"print('>>> api.md block {i}', flush=True)",
            f"exec(compile({block!r}, 'docs/api.md block {i}', 'exec'), _ns)",
        ]
    return "\n".join(parts) + "\n"


def test_the_page_has_a_session():
    blocks = python_blocks(PAGE.read_text())
    assert len(blocks) >= 5 and "import fewshot" in blocks[0]
    for call in ("fewshot.split(", "fewshot.score(", "fewshot.train(", "fewshot.distance(",
                 "fewshot.search("):  # fmt: skip
        assert any(call in b for b in blocks), call


def test_session_script_stops_at_the_failing_block(tmp_path):
    script = session_script(["x = 1", "raise ValueError('boom')", "print('never')"])
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode != 0 and "api.md block 2" in done.stderr
    assert "boom" in done.stderr and "never" not in done.stdout


@pytest.mark.slow
def test_api_page_runs_top_to_bottom(tmp_path):
    if os.environ.get(RUN_ENV) != "1":
        pytest.skip(f"a CI step of its own ({RUN_ENV}=1 runs it)")
    data = shared_data_dir()
    if not (data / "cifar10-subset").is_dir() or not (data / "NATS-tss-v1_0-3ffb9-simple").is_dir():
        pytest.skip(f"offline data folder {data} is absent")
    where = Path(os.environ.get("FEWSHOT_API_DOC_DIR") or tmp_path)
    where.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "DATA": str(data.resolve()),
        "MPLBACKEND": "Agg",
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])),
    }
    env.pop("FEWSHOT_BENCHMARK", None)
    start = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-c", session_script(python_blocks(PAGE.read_text()))],
        capture_output=True, text=True, cwd=where, env=env, timeout=1800,
    )  # fmt: skip
    (where / "api.log").write_text(done.stdout)
    print(f"docs/api.md: {time.monotonic() - start:.0f} s in {where}")
    assert done.returncode == 0, f"a block failed:\n{done.stderr[-6000:]}"
