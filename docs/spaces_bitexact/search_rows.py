"""Table 3's rows, reduced, on NB201 CIFAR-100 (issue 33's bit-exact check of the search).

Every row of ``docs/search/reproduce.py``'s ``TABLE3`` (algorithm, warmup, move) with fewer
repeats and a smaller budget, then AE across random splits. No synflow table exists on this
machine, so the warmup and move rows use a deterministic stand-in proxy (the benchmark's test
accuracy plus seeded noise): it exercises the same code paths (RL proxy rewards, AE move
proposal, BP pre-training). Writes each row's curves and trained indices (no timings) to a JSON
file, and prints a short hash per row.

usage: python docs/spaces_bitexact/search_rows.py BUDGET BP_BUDGET REPEATS OUT.json
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path

import numpy as np

from fewshot.search.algorithms import AlgoSettings
from fewshot.search.experiment import load_oracle, run_search
from fewshot.search.proxy import ProxyTable

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "search"))
from reproduce import TABLE3  # noqa: E402

BENCHMARK = os.environ.get("FEWSHOT_BENCHMARK", "../shared/data/NATS-tss-v1_0-3ffb9-simple")


def main(budget: int, bp_budget: int, repeats: int, out: Path) -> None:
    oracle = load_oracle(BENCHMARK, "cifar100")
    noise = np.random.default_rng(123).normal(0, 2.0, len(oracle))
    proxy = ProxyTable.from_values("stand-in", oracle, oracle.report_acc + noise)
    rows = {}
    for label, algo, warmup, move, *_ in TABLE3:
        res = run_search(
            algo, oracle, AlgoSettings(warmup=warmup, move=move),
            budget=bp_budget if algo == "bp" else budget, repeats=repeats, seed=0,
            proxy=proxy if (warmup or move) else None,
        )  # fmt: skip
        rows[label] = {"curves": res.curves.tolist(), "trained": res.trained.tolist()}
        digest = hashlib.sha1(json.dumps(rows[label]).encode()).hexdigest()[:12]
        print(label, digest, flush=True)
    res = run_search("ae", oracle, AlgoSettings(), budget=budget, repeats=2, seed=0,
                     random_split=(3, 2))  # fmt: skip
    rows["AE random split leaves"] = {
        "curves": res.curves.tolist(),
        "trained": res.trained.tolist(),
    }
    out.write_text(json.dumps(rows))


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), Path(sys.argv[4]))
