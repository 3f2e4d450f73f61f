"""Reading the closing block of a long command (:func:`fewshot.tables.outputs_block`)."""

from __future__ import annotations

from pathlib import Path


def listed_outputs(text: str) -> dict[str, list[Path]]:
    """The paths under the last ``files:`` and ``figures:`` headings of a command's output
    (a path's trailing `` (what it holds)`` note dropped)."""
    lines = text.splitlines()
    starts = [i for i, line in enumerate(lines) if line == "files:"]
    assert starts, f"no 'files:' block in the output:\n{text}"
    listed: dict[str, list[Path]] = {"files": [], "figures": []}
    heading = None
    for line in lines[starts[-1] :]:
        if line in ("files:", "figures:"):
            heading = line[:-1]
        elif line.startswith("  ") and heading:
            listed[heading].append(Path(line.strip().split(" (")[0]))
        else:
            break
    return listed


def assert_lists_outputs(text: str, files: list[Path], figures: list[Path] = ()) -> None:
    """The output lists every path of ``files`` and ``figures``, and every listed path exists."""
    listed = listed_outputs(text)
    for kind, wanted in (("files", files), ("figures", figures)):
        resolved = {p.resolve() for p in listed[kind]}
        missing = [p for p in wanted if Path(p).resolve() not in resolved]
        assert not missing, f"{kind} not listed: {missing}\n{text}"
    absent = [p for paths in listed.values() for p in paths if not p.exists()]
    assert not absent, f"listed but absent: {absent}"
