"""Does splitting help? Few-shot vs one-shot ranking quality against NATS-Bench, in one command.

    python tools/few_vs_one_shot.py --dataset folder --data-root ../shared/data/cifar10-subset \\
        --trees runs/sweep-ly --epochs 4 --seeds 3 --out runs/few-vs-one-shot \\
        --results docs/training/few_vs_one_shot.json

A thin entry point: the experiment, its flags and outputs are
:mod:`fewshot.experiments.few_vs_one_shot` (also ``python -m fewshot.experiments.few_vs_one_shot``).
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from fewshot.experiments.few_vs_one_shot import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
