"""Shared fixtures. Tests stay hermetic: external data come from ``tests/fakes.py`` writers,
and the optional offline data in ``../shared/data`` are used only when present (else skip).
"""

from __future__ import annotations

import importlib.util
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import pytest

from tests.fakes import FAKE_ENTRIES, write_fake_benchmark, write_fake_macro_benchmark

REPO_ROOT = Path(__file__).resolve().parents[1]


def load_tool(name: str) -> ModuleType:
    """Import the script ``tools/<name>.py`` as the module ``name`` (tools are scripts, not a
    package); registered in ``sys.modules`` because dataclasses look their module up."""
    spec = importlib.util.spec_from_file_location(name, REPO_ROOT / "tools" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def pytest_configure(config: pytest.Config) -> None:
    """One torch thread by default (``FEWSHOT_TEST_THREADS`` overrides).

    Test networks are tiny: intra-op threads only add synchronisation, and on a busy
    machine (CI runners, parallel jobs) oversubscribed threads slow small ops 10-100x.
    """
    import torch

    torch.set_num_threads(int(os.environ.get("FEWSHOT_TEST_THREADS", "1")))


def shared_data_dir() -> Path:
    """``$FEWSHOT_SHARED_DATA`` or ``<repo>/../shared/data`` (may not exist)."""
    env = os.environ.get("FEWSHOT_SHARED_DATA")
    return Path(env) if env else REPO_ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The offline data folder; skips the test when it is absent."""
    path = shared_data_dir()
    if not path.is_dir():
        pytest.skip(f"offline data folder {path} is absent")
    return path


@pytest.fixture(scope="session")
def shared_benchmark(shared_data: Path):
    """The real NATS-Bench topology benchmark (15,625 archs), shared by the session."""
    from fewshot.benchmark import Benchmark

    path = shared_data / "NATS-tss-v1_0-3ffb9-simple"
    if not (path / "meta.pickle.pbz2").is_file():
        pytest.skip(f"shared benchmark {path} is absent")
    return Benchmark(path)


@pytest.fixture(scope="session")
def reference_csv(shared_data: Path) -> Path:
    """``reference/nb201_accuracies.csv`` (index, arch string, accuracies, params)."""
    path = shared_data / "reference" / "nb201_accuracies.csv"
    if not path.is_file():
        pytest.skip(f"reference table {path} is absent")
    return path


@pytest.fixture(scope="session")
def fake_macro_benchmark(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A NAS-Bench-Macro file in the real format (see ``tests/fakes.py``)."""
    return write_fake_macro_benchmark(
        tmp_path_factory.mktemp("macro") / "nas-bench-macro_cifar10.json"
    )


@dataclass(frozen=True)
class FakeBenchmark:
    """A tiny benchmark directory and what was written into it."""

    path: Path
    entries: dict[str, dict[str, list[float]]]


@pytest.fixture(scope="session")
def fake_benchmark(tmp_path_factory: pytest.TempPathFactory) -> FakeBenchmark:
    """A 4-arch benchmark directory in the real on-disk format (see ``tests/fakes.py``)."""
    path = write_fake_benchmark(tmp_path_factory.mktemp("bench") / "NATS-tss-v1_0-3ffb9-simple")
    return FakeBenchmark(path, FAKE_ENTRIES)


@pytest.fixture(scope="session", autouse=True)
def tensor_cache(tmp_path_factory: pytest.TempPathFactory):
    """``FEWSHOT_CACHE`` in the session's temporary folder: every decoded data set is cached
    there, never in the user's ``~/.cache/fewshot``. Set in ``os.environ``, so subprocesses of the tests inherit it."""
    before = os.environ.get("FEWSHOT_CACHE")
    path = tmp_path_factory.mktemp("fewshot-cache")
    os.environ["FEWSHOT_CACHE"] = str(path)
    yield path
    if before is None:
        os.environ.pop("FEWSHOT_CACHE", None)
    else:
        os.environ["FEWSHOT_CACHE"] = before


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """Forbid downloads (``FEWSHOT_OFFLINE=1``): the test behaves as on a machine offline."""
    monkeypatch.setenv("FEWSHOT_OFFLINE", "1")


@pytest.fixture(scope="session")
def ray_session():
    """One small local Ray cluster (2 CPUs) shared by every Ray test of the session; commands
    run with ``--executor ray`` reuse it instead of starting their own. Shut down at the end,
    so no Ray process outlives the tests."""
    ray = pytest.importorskip("ray", reason="Ray is not installed (pip install 'fewshot[ray]')")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield ray
    ray.shutdown()


@pytest.fixture(autouse=True)
def _no_user_benchmark(monkeypatch: pytest.MonkeyPatch, tmp_path_factory) -> None:
    """Commands find NATS-Bench only where a test puts it: a benchmark in the developer's
    ``$FEWSHOT_BENCHMARK`` or default folders would otherwise judge (and change) test runs."""
    import fewshot.benchmark as benchmark

    monkeypatch.delenv(benchmark.BENCHMARK_ENV, raising=False)
    monkeypatch.setattr(benchmark, "_ANNOUNCED", set())  # each test sees the note once
    nowhere = tmp_path_factory.getbasetemp() / "no-benchmark-here"
    monkeypatch.setattr(
        benchmark, "default_benchmark_paths", lambda: [nowhere / benchmark.BENCHMARK_DIRNAME]
    )
    import fewshot.spaces.macro as macro  # NAS-Bench-Macro's file, likewise

    monkeypatch.delenv(macro.BENCHMARK_ENV, raising=False)
    monkeypatch.setattr(macro, "default_benchmark_paths", lambda: [nowhere / macro.BENCHMARK_FILE])
