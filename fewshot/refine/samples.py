"""The scored nets of one iteration: a JSON-lines file, appended and fsynced net by net.

One line per net: ``{"id", "hyperparameters", "flops", "params", "acts", "scores",
"errors", "seconds"}``. A killed run loses at most the net in progress; reopening the file
drops a half-written last line and skips every net already in it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from fewshot.io import atomic_write_text


class SampleFile:
    """Rows of scored nets keyed by ``id`` (the net's position in its iteration's sample)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.rows: dict[int, dict[str, Any]] = {}
        if self.path.is_file():
            self._load()

    def _load(self) -> None:
        text = self.path.read_text(encoding="utf-8")
        lines = text.splitlines()
        good = []
        for i, line in enumerate(lines):
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                if i == len(lines) - 1:  # a half-written last line: drop it and rewrite
                    atomic_write_text(self.path, "".join(g + "\n" for g in good))
                    break
                raise ValueError(f"{self.path}: line {i + 1} is not JSON") from None
            good.append(line)
            self.rows[int(row["id"])] = row

    def __contains__(self, net_id: int) -> bool:
        return net_id in self.rows

    def __len__(self) -> int:
        return len(self.rows)

    def append(self, row: dict[str, Any]) -> None:
        """Add one row and fsync it."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps(row, sort_keys=True) + "\n")
            f.flush()
            os.fsync(f.fileno())
        self.rows[int(row["id"])] = row

    def ordered(self) -> list[dict[str, Any]]:
        return [self.rows[i] for i in sorted(self.rows)]

    def arrays(self, predictor: str, names: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """``(scores, hyperparameters)`` of the nets with a score for ``predictor``."""
        rows = [r for r in self.ordered() if predictor in r["scores"]]
        scores = np.array([r["scores"][predictor] for r in rows], dtype=float)
        values = np.array([[r["hyperparameters"][n] for n in names] for r in rows], dtype=float)
        return scores, values.reshape(len(rows), len(names))
