"""NATS-Bench topology (NAS-Bench-201) look-ups: arch <-> index, final accuracies, the best arch.

A thin, cached wrapper over ``nats_bench.create(path, "tss", fast_mode=True)``. The benchmark
directory (``NATS-tss-v1_0-3ffb9-simple``) holds ``meta.pickle.pbz2`` (a bz2 pickle of a dict
whose ``meta_archs`` lists the arch strings in index order) and one ``NNNNNN.pickle.pbz2`` per
arch (``{"200": ArchResults.state_dict()}``: per data set and seed, the evaluation accuracies;
nats_bench reads one file per queried arch). Accuracies are the final (200-epoch) ones,
averaged over seeds (``hp="200", is_random=False``):

- ``cifar10``: test accuracy after training on train+valid;
- ``cifar100``, ``ImageNet16-120``: test accuracy (``x-test``);
- ``cifar10-valid``: validation accuracy after training on the train split.

Benchmark indices come only from the benchmark's meta list (never from an enumeration of
the space); the search space (``get_space("nb201")``, :attr:`Benchmark.space`) owns the arch
encoding: strings are parsed through it, and an arch of another space is refused.

:class:`Benchmark` is NB201's :class:`~fewshot.spaces.BenchmarkAdapter` (``space``,
``datasets``, ``index``, ``arch``, ``archs``, ``accuracy``, ``accuracies``, ``params``). The
simple (fast-mode) files hold no parameter counts, so :meth:`Benchmark.params` counts the
parameters of the benchmark's network as the space builds it (C=16, N=5, the data set's
classes), which equal NAS-Bench-201's (the ``params`` metric's test checks one arch).

Finding it: every command that can use the benchmark calls :func:`find_benchmark`, which looks
in the same places in the same order: the ``--benchmark`` flag, the ``FEWSHOT_BENCHMARK``
environment variable, then the default folders ``$TORCH_HOME/NATS-tss-v1_0-3ffb9-simple``
(nats_bench's own default; ``TORCH_HOME`` defaults to ``~/.torch``) and
``$FEWSHOT_DATA/NATS-tss-v1_0-3ffb9-simple`` (``~/.cache/fewshot/data``, where fewshot keeps
its data sets). A flag or variable that names no benchmark is an error; when none of the
default folders has one, the command says once where it looked and how to get it.
"""

from __future__ import annotations

import logging
import os
import pickle
from pathlib import Path

import numpy as np

from fewshot.spaces import Arch, SearchSpace, get_space, space_of
from fewshot.spaces.tabular import ArchLookup, BestArch

log = logging.getLogger("fewshot")

BENCHMARK_DIRNAME = "NATS-tss-v1_0-3ffb9-simple"
BENCHMARK_ENV = "FEWSHOT_BENCHMARK"
"""The environment variable naming the benchmark directory (below ``--benchmark``)."""
HOW_TO_GET = (
    f"get NATS-Bench's topology benchmark '{BENCHMARK_DIRNAME}' (the NATS-tss-v1_0-3ffb9 "
    "release, simple/fast-mode layout; see https://github.com/D-X-Y/NATS-Bench), extract it "
    f"into one of these folders, or point --benchmark or ${BENCHMARK_ENV} at it"
)
HP = "200"
META_FILE = "meta.pickle.pbz2"

DATASETS: tuple[str, ...] = ("cifar10", "cifar100", "ImageNet16-120", "cifar10-valid")
"""Canonical (nats_bench) names of the benchmark's data sets."""
NUM_CLASSES = {"cifar10": 10, "cifar100": 100, "ImageNet16-120": 120, "cifar10-valid": 10}
"""Classes of each data set: the width of the benchmark network's classifier."""
SPACE_NAME = "nb201"
"""The search space NATS-Bench's topology benchmark judges."""
# The evaluation set behind each accuracy (as nats_bench's get_more_info reads it).
_EVAL_SET = {
    "cifar10": "ori-test",
    "cifar100": "x-test",
    "ImageNet16-120": "x-test",
    "cifar10-valid": "x-valid",
}
_ALIASES = {name.lower(): name for name in DATASETS} | {"imagenet16": "ImageNet16-120"}


class BenchmarkNotFoundError(FileNotFoundError):
    """The benchmark directory (or one of its files) is missing or unreadable."""

    def __str__(self) -> str:  # plain message, not FileNotFoundError's (errno, msg) form
        return str(self.args[0]) if self.args else ""


def default_benchmark_path() -> Path:
    """Where nats_bench looks by default: ``$TORCH_HOME/NATS-tss-v1_0-3ffb9-simple``."""
    torch_home = os.environ.get("TORCH_HOME") or str(Path.home() / ".torch")
    return Path(torch_home).expanduser() / BENCHMARK_DIRNAME


def default_benchmark_paths() -> list[Path]:
    """The default folders :func:`find_benchmark` looks in, in order: nats_bench's
    (``$TORCH_HOME``), then fewshot's data cache (``$FEWSHOT_DATA``, ``~/.cache/fewshot/data``)."""
    data = os.environ.get("FEWSHOT_DATA") or str(Path.home() / ".cache" / "fewshot" / "data")
    return [default_benchmark_path(), Path(data).expanduser() / BENCHMARK_DIRNAME]


def is_benchmark_dir(path: Path) -> bool:
    """``path`` looks like a fast-mode benchmark directory (it holds the meta file)."""
    return (Path(path) / META_FILE).is_file()


_ANNOUNCED: set[str] = set()  # the "not found" notes already given in this process


def find_benchmark(
    path: str | Path | None = None,
    *,
    required: bool = False,
    purpose: str = "evaluation",
    note: bool = True,
) -> Path | None:
    """The benchmark directory a command should use: ``path`` (its ``--benchmark`` flag), else
    ``$FEWSHOT_BENCHMARK``, else the first of :func:`default_benchmark_paths` that holds one.

    A ``path`` or variable that names no benchmark directory raises
    :class:`BenchmarkNotFoundError` (the user asked for it). When no default folder has one:
    ``required`` raises, naming every place looked in and how to get it; otherwise the same
    note is logged once per process (``purpose`` says what is skipped; ``note`` False: no
    note, for a caller that raises later with :func:`find_benchmark` ``required``) and None
    returned.
    """
    explicit = [("--benchmark", path), (f"${BENCHMARK_ENV}", os.environ.get(BENCHMARK_ENV))]
    for source, value in explicit:
        if value:
            found = Path(value).expanduser()
            if not is_benchmark_dir(found):
                what = "directory not found" if not found.is_dir() else f"has no {META_FILE}"
                raise BenchmarkNotFoundError(
                    f"{source}: NATS-Bench topology benchmark {what} at {found}; {HOW_TO_GET}"
                )
            return found.resolve()  # absolute: the run records which directory judged it
    places = default_benchmark_paths()
    for place in places:
        if is_benchmark_dir(place):
            return place.resolve()
    looked = ", ".join(str(p) for p in places)
    text = f"no NATS-Bench benchmark found (looked in: {looked}); to enable {purpose}, {HOW_TO_GET}"
    if required:
        raise BenchmarkNotFoundError(text.replace(f"to enable {purpose}, ", ""))
    if note and text not in _ANNOUNCED:
        _ANNOUNCED.add(text)
        log.warning("%s", text)
    return None


def _required_default() -> Path:
    found = find_benchmark(required=True)
    assert found is not None
    return found


def canonical_dataset(name: str) -> str:
    """The nats_bench name of a data set (case-insensitive; ``imagenet16-120`` accepted)."""
    try:
        return _ALIASES[name.lower()]
    except (KeyError, AttributeError):
        raise ValueError(
            f"unknown benchmark data set {name!r}; expected one of {', '.join(DATASETS)}"
        ) from None


def _not_found(path: Path, what: str) -> BenchmarkNotFoundError:
    return BenchmarkNotFoundError(
        f"NATS-Bench topology benchmark {what} at {path}. Fix: download the "
        f"'{BENCHMARK_DIRNAME}' archive (see https://github.com/D-X-Y/NATS-Bench), extract it "
        f"so that {path.name if path.name == BENCHMARK_DIRNAME else BENCHMARK_DIRNAME}/"
        f"{META_FILE} exists under $TORCH_HOME (default ~/.torch), or pass --benchmark DIR"
    )


class Benchmark(ArchLookup):
    """The NATS-Bench topology benchmark read from a fast-mode directory: NB201's benchmark
    adapter (:class:`fewshot.spaces.BenchmarkAdapter`).

    Args:
        path: the benchmark directory; ``None``: :func:`find_benchmark`'s (flag-less) choice.

    Raises:
        BenchmarkNotFoundError: the directory or its meta file is missing or unreadable.
    """

    def __init__(self, path: str | Path | None = None) -> None:
        import nats_bench

        self.path = Path(path).expanduser() if path is not None else _required_default()
        if not self.path.is_dir():
            raise _not_found(self.path, "directory not found")
        if not (self.path / META_FILE).is_file():
            raise _not_found(self.path, f"has no {META_FILE}: not a benchmark directory")
        try:
            self._api = nats_bench.create(str(self.path), "tss", fast_mode=True, verbose=False)
        except (OSError, EOFError, pickle.UnpicklingError, KeyError, ValueError) as exc:
            raise _not_found(self.path, f"is unreadable ({META_FILE}: {exc})") from exc
        self._rows: dict[int, dict[str, float]] = {}
        self._columns: dict[str, np.ndarray] = {}
        self._params: dict[tuple[int, str], float] = {}

    space: SearchSpace = get_space(SPACE_NAME)
    """The search space whose archs this benchmark judges."""
    datasets: tuple[str, ...] = DATASETS
    """The data sets with ground truth (the first is the default)."""

    def __len__(self) -> int:
        return len(self._api)

    def __repr__(self) -> str:
        return f"Benchmark({str(self.path)!r}, {len(self)} archs)"

    # -- arch <-> index -----------------------------------------------------------------
    def index(self, arch: Arch | str) -> int:
        """Benchmark index of ``arch``; ``ValueError`` for malformed or unknown archs, and for
        an arch of another search space."""
        arch_str = self._as_arch(arch).to_string()
        index = self._api.query_index_by_arch(arch_str)
        if index < 0:
            raise ValueError(f"arch {arch_str} is not in the benchmark at {self.path}")
        return int(index)

    def arch(self, index: int) -> Arch:
        """The arch at benchmark ``index``; ``IndexError`` outside ``0..len-1``."""
        return self.space.Arch.from_string(self._api.meta_archs[self._check_index(index)])

    def archs(self) -> list[Arch]:
        """Every arch of the benchmark, in index order."""
        return [self.space.Arch.from_string(s) for s in self._api.meta_archs]

    def _as_arch(self, arch: Arch | str) -> Arch:
        """``arch`` as an arch of :attr:`space` (strings parsed by it); ``ValueError`` for an
        arch of another space."""
        if isinstance(arch, str):
            return self.space.Arch.from_string(arch)
        if space_of(arch) is not self.space:
            raise ValueError(
                f"arch {arch} is of search space {space_of(arch).name!r}; the benchmark at "
                f"{self.path} judges {self.space.name!r}"
            )
        return arch

    # -- accuracies ---------------------------------------------------------------------
    def accuracy(self, arch_or_index: Arch | str | int, dataset: str = "cifar10") -> float:
        """Final accuracy (percent, mean over seeds) of an arch on ``dataset``."""
        index, name = self._to_index(arch_or_index), canonical_dataset(dataset)
        row = self._row(index)
        if name not in row:
            raise ValueError(
                f"benchmark entry {index} has no {name} accuracy (it has: {', '.join(row)})"
            )
        return row[name]

    def accuracies(self, dataset: str = "cifar10") -> np.ndarray:
        """Accuracy of every arch, in index order (one scan of the directory, then cached)."""
        name = canonical_dataset(dataset)
        if name not in self._columns:
            self._columns[name] = np.array([self.accuracy(i, name) for i in range(len(self))])
        return self._columns[name]

    def params(self, arch_or_index: Arch | str | int, dataset: str = "cifar10") -> float:
        """Parameters (millions) of the benchmark's network for an arch on ``dataset``: the
        simple files hold none, so the space's standalone network (C=16, N=5, the data set's
        classes) is built and counted once per arch and data set (torch is imported here)."""
        index, name = self._to_index(arch_or_index), canonical_dataset(dataset)
        if (index, name) not in self._params:
            net = self.space.build_network(self.arch(index), num_classes=NUM_CLASSES[name])
            self._params[(index, name)] = sum(p.numel() for p in net.parameters()) / 1e6
        return self._params[(index, name)]

    def best(self, dataset: str = "cifar10") -> BestArch:
        """The arch with the highest accuracy (the lowest index among ties)."""
        column = self.accuracies(dataset)
        index = int(np.argmax(column))
        return BestArch(float(column[index]), self.arch(index))

    def _row(self, index: int) -> dict[str, float]:
        """All data sets' accuracies of one arch (one file read; nats_bench's copy dropped)."""
        if index not in self._rows:
            self._rows[index] = self._read_row(index)
        return self._rows[index]

    def _read_row(self, index: int) -> dict[str, float]:
        api, file = self._api, self.path / f"{index:06d}.pickle.pbz2"
        try:
            api.reload(str(self.path), index)  # reads this arch's file into api.arch2infos_dict
        except AssertionError as exc:  # nats_bench asserts the per-arch file exists
            raise _not_found(self.path, f"lacks {file.name} (arch {index})") from exc
        except (OSError, EOFError, pickle.UnpicklingError, KeyError, ValueError) as exc:
            raise _not_found(self.path, f"has an unreadable {file.name}: {exc}") from exc
        results = api.arch2infos_dict.pop(index)  # keep one compact copy (ours), not two
        api.evaluated_indexes.discard(index)
        if HP not in results:
            raise _not_found(self.path, f"has no hp={HP} results in {file.name}")
        info = results[HP]
        return {
            name: float(acc)
            for name in DATASETS
            if name in info.get_dataset_names()
            and (acc := info.get_metrics(name, _EVAL_SET[name], is_random=False)["accuracy"])
            is not None
        }
