#!/usr/bin/env bash
# The pilot of docs/spaces/macro.md section 6: one-shot tau against optimiser steps on
# NAS-Bench-Macro, px16-c4-n1-subset, 1 seed, the first 100 archs of sample400.txt. Resumable.
set -euo pipefail
export OMP_NUM_THREADS=1 PYTHONPATH=$PWD
python -m fewshot.experiments.ranking_budget --space nas-bench-macro \
  --data-roots subset=/work/shared/data/cifar10-subset --regimes px16-c4-n1-subset \
  --steps 1000,2000,4000 --seeds 1 --sample 100 --archs docs/spaces/macro/sample400.txt \
  --calib-grid 4,8,16 --held-out-grid 500,1000,2000 \
  --benchmark /work/shared/data/nas-bench-macro/nas-bench-macro_cifar10.json \
  --out runs/macrofvo/budget --results docs/spaces/macro_fvo/budget.json --threads 1 --no-progress
