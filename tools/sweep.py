"""The paper's split-distance experiment in one command: split with each metric over N seeds,
then analyse.

    python tools/sweep.py --metrics grad_norm,snip,synflow,jacob_cov,ntk,lr,gm --seeds 10 \\
        --jobs 2 --C 8 --N 1 --batch-size 32 --runs runs/sweep --out runs/sweep/split_distance

A thin entry point: the experiment, its flags and outputs are
:mod:`fewshot.experiments.consistency` (also ``python -m fewshot.experiments.consistency``).
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from fewshot.experiments.consistency import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
