"""Fixtures of the refine tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from fewshot.metrics import ScoringData
from fewshot.refine.engine import RefineSettings, refine
from fewshot.refine.predictors import Scored

SMALL_NETS = (2_000_000, 12_000_000)  # small nets keep the training step fast


@pytest.fixture
def refined_run(tmp_path: Path) -> Path:
    """A finished one-iteration AnyNet refinement run folder (synflow faked by the depth)."""
    run = tmp_path / "run"
    settings = RefineSettings(
        "synflow", samples=6, initial_samples=6, iterations=1, flops_range=SMALL_NETS, draws=200
    )
    data = ScoringData.random(batch_size=4, num_batches=1)
    refine(
        run, settings, data, scorer=lambda c: Scored({"synflow": -sum(c.depths)}), progress=False
    )
    return run
