"""The NAS-Bench-Macro search space (Su et al., CVPR 2021): the one module that owns its encoding.

A chain of 8 searchable layers in stages of 2, 3 and 3 (the split positions); each layer
picks one of 3 blocks, in the authors' order and names (their arch strings use the digits):

- ``0`` ``id``: identity (a 1x1 conv + BN where the layer changes shape);
- ``1`` ``ir_3x3_t3``: MobileNetV2 inverted residual, kernel 3, expansion 3;
- ``2`` ``ir_5x5_t6``: MobileNetV2 inverted residual, kernel 5, expansion 6.

The first layer of each stage (layers 0, 2 and 5) has stride 2 and doubles the channels.
An arch string is the 8 digits, layer 0 first (``"22212220"``), so an arch's lexicographic
``code`` is the base-3 value of its string. Registered as ``--space nas-bench-macro``; the
networks are :mod:`fewshot.models.macro`, the ground truth :class:`MacroBenchmark`.

Equivalent archs: in a stage, the layers after the first have equal shapes, so moving an
identity to the end of its stage does not change the function class; the authors trained
only the representative with identities last (:meth:`Arch.canonical`) and copied its entry to
the others: 6,561 archs, 3,969 distinct trainings (ties in every accuracy column).
"""

from __future__ import annotations

import itertools
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from fewshot.errors import UsageError
from fewshot.spaces import base
from fewshot.spaces.base import SearchSpace, register_space
from fewshot.spaces.tabular import BestArch, TabularBenchmark, find_benchmark_file

OPS: tuple[str, ...] = ("id", "ir_3x3_t3", "ir_5x5_t6")
"""Candidate blocks of every layer, in the authors' order (the arch-string digits)."""
STAGES: tuple[int, ...] = (2, 3, 3)
"""Layers per stage; the first layer of each has stride 2 and doubles the channels."""
NUM_LAYERS = sum(STAGES)
NUM_OPS = len(OPS)
NUM_ARCHS = NUM_OPS**NUM_LAYERS  # 6,561
REDUCTION_LAYERS: tuple[int, ...] = tuple(itertools.accumulate((0, *STAGES[:-1])))
"""The stride-2 layers (0, 2, 5)."""

BENCHMARK_FILE = "nas-bench-macro_cifar10.json"
BENCHMARK_DIRNAME = "nas-bench-macro"
BENCHMARK_ENV = "FEWSHOT_MACRO_BENCHMARK"
"""The environment variable naming the benchmark file (or its folder), below ``--benchmark``."""
HOW_TO_GET = (
    f"get {BENCHMARK_FILE} from https://github.com/xiusu/NAS-Bench-Macro and point --benchmark "
    f"or ${BENCHMARK_ENV} at it, or put it in $FEWSHOT_DATA/{BENCHMARK_DIRNAME}/"
)
FIELDS: tuple[str, ...] = ("test_acc", "mean_acc", "std", "params", "flops")
"""The fields of every benchmark entry."""


class Arch(base.Arch):
    """One NAS-Bench-Macro architecture: the block of each of the 8 layers."""

    def canonical(self) -> Arch:
        """The equivalent arch the authors trained: in each stage, the identities after its
        first layer moved to the stage's end (the benchmark entries of the others are copies)."""
        ops: list[str] = []
        start = 0
        for size in STAGES:
            rest = self.ops[start + 1 : start + size]
            kept = [op for op in rest if op != "id"]
            ops += [self.ops[start], *kept, *["id"] * (len(rest) - len(kept))]
            start += size
        return Arch(tuple(ops))


class Mask(base.Mask):
    """Enabled blocks per layer (8x3 booleans): the search space of a sub-supernet."""


@register_space("nas-bench-macro")
class MacroSpace(SearchSpace):
    """NAS-Bench-Macro: a chain of 8 layers x 3 blocks, 6,561 archs; C=32, N=1 (copies of each
    layer: the benchmark's networks have one)."""

    description = "NAS-Bench-Macro chain: 8 layers x 3 blocks (6,561 archs); CIFAR-10 ground truth"
    positions = tuple(f"layer{i}" for i in range(NUM_LAYERS))
    position_kind = "layer"
    ops = OPS
    parametric_ops = frozenset({"ir_3x3_t3", "ir_5x5_t6"})
    """The inverted residuals (``id`` has a 1x1 conv only at the stride-2 layers, in every arch)."""
    op_labels = {"id": "id", "ir_3x3_t3": "mb3k3", "ir_5x5_t6": "mb6k5"}
    """Short labels for tables and tree figures (the paper's MB3_K3, MB6_K5)."""
    arch_type = Arch
    mask_type = Mask
    model_defaults = {"C": 32, "N": 1}
    benchmark_datasets = ("cifar10",)

    def parse_arch(self, text: str) -> Arch:
        """Parse the 8-digit string (``"22212220"``); anything else raises ``ValueError``."""
        digits = text.strip()
        if len(digits) != NUM_LAYERS or not set(digits) <= {str(i) for i in range(NUM_OPS)}:
            raise ValueError(
                f"not a NAS-Bench-Macro arch string: {text!r}; expected {NUM_LAYERS} digits "
                f"in 0..{NUM_OPS - 1} (0 {OPS[0]}, 1 {OPS[1]}, 2 {OPS[2]}), e.g. '22212220'"
            )
        return Arch.from_indices([int(c) for c in digits])

    def format_arch(self, arch: base.Arch) -> str:
        return "".join(str(i) for i in arch.op_indices)

    # -- builders -----------------------------------------------------------------------
    def build_supernet(
        self,
        *,
        C: int | None = None,
        N: int | None = None,
        num_classes: int = 10,
        candidates: base.Mask | None = None,
        mode: str = "mixture",
        affine: bool = True,
        track_running_stats: bool = True,
    ) -> Any:
        from fewshot.models.macro import MacroSupernet

        return MacroSupernet(
            **self.model_options(C, N),
            num_classes=num_classes,
            candidates=candidates,  # type: ignore[arg-type]
            mode=mode,  # type: ignore[arg-type]
            affine=affine,
            track_running_stats=track_running_stats,
        )

    # -- benchmark ----------------------------------------------------------------------
    def find_benchmark(
        self, flag: str | Path | None = None, *, required: bool = False
    ) -> Path | None:
        return find_benchmark(flag, required=required)

    def open_benchmark(self, path: str | Path | None = None) -> MacroBenchmark:
        return MacroBenchmark(path)


MACRO: MacroSpace = base.get_space("nas-bench-macro")  # type: ignore[assignment]


def all_archs() -> Iterator[Arch]:
    """All 6,561 archs in code order (the base-3 value of the arch string)."""
    return MACRO.all_archs()  # type: ignore[return-value]


# -- benchmark --------------------------------------------------------------------------------
def default_benchmark_paths() -> list[Path]:
    """Where :func:`find_benchmark` looks without a flag or variable: fewshot's data cache."""
    data = os.environ.get("FEWSHOT_DATA") or str(Path.home() / ".cache" / "fewshot" / "data")
    return [Path(data).expanduser() / BENCHMARK_DIRNAME / BENCHMARK_FILE]


def _missing(prefix: str, path: str | Path) -> FileNotFoundError:
    """The one-line error for a benchmark path that holds no file (a folder without it, or
    NATS-Bench's folder: another space's benchmark)."""
    path = Path(path).expanduser()
    if (path / "meta.pickle.pbz2").is_file():
        what = f"{path} is NATS-Bench's folder (the nb201 space's benchmark), not NAS-Bench-Macro's"
    elif path.is_dir():
        what = f"folder {path} has no {BENCHMARK_FILE}"
    else:
        what = f"no NAS-Bench-Macro benchmark at {path}"
    return FileNotFoundError(f"{prefix}{what}; {HOW_TO_GET}")


def _as_file(path: str | Path) -> Path:
    """``path``, or the benchmark file inside it when ``path`` is a folder."""
    path = Path(path).expanduser()
    return path / BENCHMARK_FILE if path.is_dir() else path


def find_benchmark(path: str | Path | None = None, *, required: bool = False) -> Path | None:
    """The benchmark file: ``path`` (``--benchmark``, a file or its folder), else
    ``$FEWSHOT_MACRO_BENCHMARK``, else the first default that exists; a flag or variable naming
    no file, or ``required`` with none found, raises ``FileNotFoundError`` saying where it
    looked; otherwise ``None`` (:func:`fewshot.spaces.tabular.find_benchmark_file`)."""
    return find_benchmark_file(
        path,
        env_var=BENCHMARK_ENV,
        defaults=default_benchmark_paths(),
        as_file=_as_file,
        missing=lambda source, value, _found: _missing(f"{source}: ", value),
        what="NAS-Bench-Macro benchmark",
        how_to_get=HOW_TO_GET,
        required=required,
    )


class MacroBenchmark(TabularBenchmark):
    """NAS-Bench-Macro's ground truth (``nas-bench-macro_cifar10.json``), one file read at once.

    Indices are the file's key order (the benchmark's own, as :class:`BenchmarkAdapter` asks;
    ``arch.code`` is the enumeration order). ``accuracy`` is the mean of the 3 test accuracies
    (percent); ``params`` is in millions (exact counts: :meth:`param_count`).

    Args:
        path: the JSON file or its folder; ``None``: :func:`find_benchmark`'s choice.

    Raises:
        FileNotFoundError: no file there.
        UsageError: the file is not NAS-Bench-Macro's (another space's benchmark, not JSON, an
            entry without one of :data:`FIELDS`, archs missing); one line says what was wrong.
    """

    space = MACRO
    datasets = ("cifar10",)

    def __init__(self, path: str | Path | None = None) -> None:
        found = find_benchmark(required=True) if path is None else _as_file(path)
        assert found is not None
        if not found.is_file():
            raise _missing("", path if path is not None else found)
        entries = _read_entries(found)
        archs = [Arch.from_string(key) for key in entries]
        self._set_table(found, archs, {"cifar10": [e["mean_acc"] for e in entries.values()]})
        self._table = {
            name: np.array([entry[name] for entry in entries.values()], dtype=float)
            for name in ("std", "params", "flops")
        }
        self._test_acc = np.array([e["test_acc"] for e in entries.values()], dtype=float)

    def column_name(self, dataset: str) -> str:
        if not isinstance(dataset, str) or dataset.lower() != "cifar10":
            raise ValueError(f"NAS-Bench-Macro has ground truth on cifar10 only, not {dataset!r}")
        return "cifar10"

    def test_accuracies(self, arch_or_index: base.Arch | str | int) -> tuple[float, ...]:
        """The 3 test accuracies (percent) behind the mean."""
        return tuple(float(a) for a in self._test_acc[self._to_index(arch_or_index)])

    def std(self, arch_or_index: base.Arch | str | int) -> float:
        """Standard deviation of the 3 test accuracies (the benchmark's, ``ddof=0``)."""
        return float(self._table["std"][self._to_index(arch_or_index)])

    def params(self, arch_or_index: base.Arch | str | int) -> float:
        """Parameter count in millions (the adapter protocol's unit)."""
        return self.param_count(arch_or_index) / 1e6

    def param_count(self, arch_or_index: base.Arch | str | int) -> int:
        """Exact parameter count of the trained network."""
        return int(self._table["params"][self._to_index(arch_or_index)])

    def flops(self, arch_or_index: base.Arch | str | int) -> int:
        """The authors' FLOPs count (conv and classifier multiply-accumulates at 32x32)."""
        return int(self._table["flops"][self._to_index(arch_or_index)])

    def _prefer(self, tied: list[int]) -> int:
        """Among equivalent best archs (equal entries), the one the authors trained
        (:meth:`Arch.canonical`), so ``22212220`` (93.13%)."""
        trained = [i for i in tied if self._archs[i] == self._archs[i].canonical()]
        return (trained or tied)[0]


def _read_entries(path: Path) -> dict[str, dict[str, Any]]:
    """The file's entries, checked: one line saying what is wrong when it is not this space's."""
    try:
        entries = json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UsageError(
            f"{path} is not a NAS-Bench-Macro benchmark: not JSON ({type(exc).__name__}); "
            f"expected {BENCHMARK_FILE}"
        ) from None
    if not isinstance(entries, dict) or not entries:
        raise UsageError(f"{path} is not a NAS-Bench-Macro benchmark: not a JSON object of archs")
    for key, entry in entries.items():
        _check_entry(path, key, entry)
    if len(entries) != NUM_ARCHS:
        raise UsageError(f"{path}: NAS-Bench-Macro has {NUM_ARCHS} archs, this file {len(entries)}")
    return entries


def _check_entry(path: Path, key: str, entry: object) -> None:
    try:
        MACRO.parse_arch(key)
    except ValueError:
        raise UsageError(
            f"{path} is not a NAS-Bench-Macro benchmark: key {key[:60]!r} is not an arch "
            f"string of 8 digits 0-2 (another search space's file?)"
        ) from None
    missing = [f for f in FIELDS if not isinstance(entry, dict) or f not in entry]
    if missing:
        raise UsageError(f"{path}: entry {key} lacks {', '.join(missing)} (expected {FIELDS})")
    runs = entry["test_acc"]  # type: ignore[index]
    if not isinstance(runs, list) or len(runs) != 3:
        raise UsageError(f"{path}: entry {key} has test_acc {runs!r}, expected 3 accuracies")


__all__ = [
    "BENCHMARK_ENV",
    "MACRO",
    "NUM_ARCHS",
    "NUM_LAYERS",
    "OPS",
    "REDUCTION_LAYERS",
    "STAGES",
    "Arch",
    "BestArch",
    "MacroBenchmark",
    "MacroSpace",
    "Mask",
    "all_archs",
    "find_benchmark",
]
