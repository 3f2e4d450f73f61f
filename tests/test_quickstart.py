"""docs/quickstart.md runs as written: its ```bash blocks, in order, in one shell session in
a scratch folder, on the offline data; every block exits 0 and every figure the page shows is
one the run made. Then the blocks run a second time in the same folder: pasting a block again
must work too (finished runs are reported, not refused).

The run takes minutes (see the page), so it is a step of its own in CI (``.ci/run`` sets
``FEWSHOT_RUN_QUICKSTART=1``) and skipped in the plain test suite; it also skips when the
offline data folder (``../shared/data``, or ``$FEWSHOT_SHARED_DATA``) is absent.
``FEWSHOT_QUICKSTART_DIR=DIR`` runs it in DIR and keeps the outputs (to refresh the page's
figures: copy ``DIR/docs/quickstart/*.png`` into ``docs/quickstart/``).
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

PAGE = REPO_ROOT / "docs" / "quickstart.md"
RUN_ENV = "FEWSHOT_RUN_QUICKSTART"
_BLOCK = re.compile(r"^```bash\n(.*?)^```", re.DOTALL | re.MULTILINE)
_IMAGE = re.compile(r"!\[[^\]]*\]\((quickstart/[^)]+\.png)\)")


def bash_blocks(text: str) -> list[str]:
    """The page's ```bash blocks, in order."""
    return [m.group(1) for m in _BLOCK.finditer(text)]


def embedded_figures(text: str) -> list[str]:
    """The figures the page shows (paths relative to ``docs/``)."""
    return list(dict.fromkeys(_IMAGE.findall(text)))


def session_script(blocks: list[str]) -> str:
    """One bash session running ``blocks`` in order: it stops at the first command that fails
    and says which block it was in (``set -e``, ``pipefail``)."""
    parts = ["set -euo pipefail"]
    for i, block in enumerate(blocks, 1):
        parts += [f"echo '>>> quickstart block {i}' >&2", block.rstrip("\n"),
                  f"echo '<<< quickstart block {i} ok' >&2"]  # fmt: skip
    return "\n".join(parts) + "\n"


def test_the_page_has_commands_and_shows_committed_figures():
    text = PAGE.read_text()
    assert len(bash_blocks(text)) >= 5
    figures = embedded_figures(text)
    assert figures, "the quickstart shows no figure"
    missing = [f for f in figures if not (REPO_ROOT / "docs" / f).is_file()]
    assert not missing, f"figures shown by the page but not committed: {missing}"


def test_session_script_stops_at_the_failing_block(tmp_path):
    script = session_script(["true", "false\necho never", "echo after"])
    done = subprocess.run(["bash", "-c", script], capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode != 0
    assert "block 1 ok" in done.stderr and "block 2 ok" not in done.stderr
    assert "never" not in done.stdout and "after" not in done.stdout


@pytest.mark.slow
def test_quickstart_runs_top_to_bottom(tmp_path):
    if os.environ.get(RUN_ENV) != "1":
        pytest.skip(f"minutes long: a CI step of its own ({RUN_ENV}=1 runs it)")
    data = shared_data_dir()
    if not (data / "cifar10-subset").is_dir() or not (data / "NATS-tss-v1_0-3ffb9-simple").is_dir():
        pytest.skip(f"offline data folder {data} is absent")
    where = Path(os.environ.get("FEWSHOT_QUICKSTART_DIR") or tmp_path)
    where.mkdir(parents=True, exist_ok=True)
    text = PAGE.read_text()
    env = {
        **os.environ,
        "DATA": str(data.resolve()),
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])),
    }
    env.pop("FEWSHOT_BENCHMARK", None)
    start = time.monotonic()
    done = subprocess.run(
        ["bash", "-c", session_script(bash_blocks(text) * 2)],
        capture_output=True, text=True, cwd=where, env=env, timeout=1800,
    )  # fmt: skip
    seconds = time.monotonic() - start
    (where / "quickstart.log").write_text(done.stdout + done.stderr)
    print(f"quickstart: {seconds:.0f} s in {where}")
    assert done.returncode == 0, f"a block failed:\n{done.stderr[-6000:]}"
    assert "already finished" in done.stdout  # the second pass found the finished runs
    made = [f for f in embedded_figures(text) if not (where / "docs" / f).is_file()]
    assert not made, f"the page shows figures its commands did not make: {made}"
