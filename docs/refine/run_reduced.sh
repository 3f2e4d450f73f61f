#!/usr/bin/env bash
# The reduced protocol of docs/refine/README.md (one thread, CIFAR-10 subset, batch 64).
# Paper: 5,000 initial nets, N = 500 per iteration, ~10 iterations, seven predictors.
# Here: 200 initial nets scored once by six predictors (grasp left out: ~4x their cost),
# then synflow, jacob_cov and snip refined with N = 100 per iteration.
set -euo pipefail
PY=${PY:-.venv/bin/python}
DATA=(--dataset folder --data-root ../shared/data/cifar10-subset --batch-size 64 --threads 1 --no-progress)
OUT=${OUT:-runs/refine}
$PY -m fewshot.refine.analyse --predictors synflow,snip,grad_norm,fisher,jacob_cov,naswot \
    --samples 200 --seed 0 --measure-cost 8 --out "$OUT/initial" "${DATA[@]}"
$PY -m fewshot.refine --space anynet --predictor synflow --samples 100 --initial-samples 200 \
    --iterations 8 --seed 0 --initial-from "$OUT/initial" --out "$OUT/synflow" "${DATA[@]}"
for P in jacob_cov snip; do
  $PY -m fewshot.refine --space anynet --predictor $P --samples 100 --initial-samples 200 \
      --iterations ${ITER:-4} --seed 0 --initial-from "$OUT/initial" --out "$OUT/$P" "${DATA[@]}"
done
