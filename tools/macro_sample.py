"""Write a seeded sample of NAS-Bench-Macro archs stratified by benchmark accuracy.

The sample scored in ``docs/spaces/macro.md``: the benchmark's distinct trainings only (each
arch's :meth:`~fewshot.spaces.macro.Arch.canonical` representative; the other 2,592 archs'
entries are copies, so keeping them would put exact ties into the ground truth and weight
each training by its number of copies), sorted by mean accuracy and cut into ``--strata``
equal-count bins, and the same number of archs drawn from each bin without replacement
(seeded). Equal-count bins with equal allocation make this a proportional stratified sample:
every accuracy range is represented as in the space, and no stratum by chance. The file lists
the archs round-robin over the strata (one of each stratum in turn, in a seeded order), so the
rows a score run has written at any moment are themselves a nearly balanced sample.

    python tools/macro_sample.py --num 400 --strata 10 --seed 0 --out runs/macro/sample.txt
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from fewshot.io import atomic_write_text
from fewshot.spaces import get_space


def stratified_sample(accuracies: np.ndarray, num: int, strata: int, seed: int) -> list[int]:
    """Indices into ``accuracies``: ``num // strata`` from each of ``strata`` equal-count
    accuracy bins (the remainder from the top bins), seeded; round-robin over the bins."""
    if not 1 <= strata <= num <= accuracies.size:
        raise ValueError(f"need 1 <= strata ({strata}) <= num ({num}) <= archs ({accuracies.size})")
    rng = np.random.default_rng(seed)
    order = np.argsort(accuracies, kind="stable")
    bins = np.array_split(order, strata)
    counts = [num // strata + (i >= strata - num % strata) for i in range(strata)]
    picked = [rng.choice(b, size=c, replace=False) for b, c in zip(bins, counts, strict=True)]
    longest = max(counts)
    return [int(p[k]) for k in range(longest) for p in picked if k < len(p)]


def canonical_archs(bench) -> list[int]:
    """Benchmark indices of the archs the authors trained (their own canonical form)."""
    return [i for i, arch in enumerate(bench.archs()) if arch == arch.canonical()]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--num", type=int, default=400)
    parser.add_argument("--strata", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--benchmark", type=Path, default=None)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    space = get_space("nas-bench-macro")
    bench = space.open_benchmark(space.find_benchmark(args.benchmark, required=True))
    kept = canonical_archs(bench)
    acc = bench.accuracies()[kept]
    chosen = [kept[i] for i in stratified_sample(acc, args.num, args.strata, args.seed)]
    atomic_write_text(args.out, "".join(f"{space.format_arch(bench.arch(i))}\n" for i in chosen))
    print(f"{len(chosen)} of {len(kept)} canonical archs ({len(bench)} in all) -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
