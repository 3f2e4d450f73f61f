#!/usr/bin/env bash
# synflow at the paper's sizes (5,000 initial nets, N = 500, up to 10 iterations): synflow costs
# ~0.06 s per net here, so this one predictor fits the machine at full size.
set -euo pipefail
PY=${PY:-.venv/bin/python}
OUT=${OUT:-runs/refine}
.venv/bin/python -m fewshot.refine --space anynet --predictor synflow --samples 500 \
    --initial-samples 5000 --iterations 10 --seed 0 --dataset folder \
    --data-root ../shared/data/cifar10-subset --batch-size 64 --threads 1 --no-progress \
    --out "$OUT/synflow-paper-size"
