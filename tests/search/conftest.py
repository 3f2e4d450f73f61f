"""Fixtures for the search tests: a tiny product-space benchmark written by the tests, and a
synthetic whole-space oracle built from arrays (no files)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from fewshot.search.oracle import Oracle
from fewshot.search.proxy import ProxyTable
from fewshot.spaces.nb201 import NUM_ARCHS, all_archs
from tests.fakes import write_fake_benchmark
from tests.search.search_fakes import known_quality, small_entries


@pytest.fixture(scope="session")
def small_benchmark(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 64-arch NATS-Bench directory (two ops per edge), written once per session."""
    root = tmp_path_factory.mktemp("searchbench") / "NATS-tss-v1_0-3ffb9-simple"
    return write_fake_benchmark(root, small_entries())


@pytest.fixture(scope="session")
def full_oracle() -> Oracle:
    """All 15,625 archs, accuracy = known quality + noise, in a shuffled index order."""
    rng = np.random.default_rng(123)
    archs = list(all_archs())
    order = rng.permutation(NUM_ARCHS)
    ops = np.array([archs[i].op_indices for i in order])
    quality = np.array([known_quality(archs[i]) for i in order])
    acc = 60.0 + 2.0 * quality + rng.normal(0.0, 0.5, NUM_ARCHS)
    return Oracle(ops, acc, acc, "synthetic", "test")


@pytest.fixture(scope="session")
def full_proxy(full_oracle: Oracle) -> ProxyTable:
    """A proxy correlated with accuracy (noisy), distinct values."""
    rng = np.random.default_rng(7)
    return ProxyTable.from_values(
        "synflow", full_oracle, full_oracle.report_acc + rng.normal(0.0, 1.0, len(full_oracle))
    )
