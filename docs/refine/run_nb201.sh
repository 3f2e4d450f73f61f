#!/usr/bin/env bash
# NB201 op-set refinement (docs/refine/README.md): predictor values looked up in
# NAS-Bench-Suite-Zero's table, each iteration's mask evaluated exactly with NATS-Bench.
set -euo pipefail
PY=${PY:-.venv/bin/python}
OUT=${OUT:-runs/refine}
D=../shared/data
for P in synflow jacob_cov snip; do
  $PY -m fewshot.refine --space nb201 --predictor $P --samples 100 --iterations 10 --seed 0 \
      --scores-table $D/reference/nb201_zc_proxies_cifar10.csv \
      --benchmark $D/NATS-tss-v1_0-3ffb9-simple ${TREE:+--tree $TREE} \
      --threads 1 --no-progress --out "$OUT/nb201-$P"
done
