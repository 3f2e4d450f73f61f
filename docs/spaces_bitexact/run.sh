#!/usr/bin/env bash
# Issue 33 (upper half): run the same NB201 jobs from two checkouts (the code before the space
# refactor and this one) into two folders, for docs/spaces_bitexact/README.md's comparisons.
# usage: D=/abs/shared/data bash docs/spaces_bitexact/run.sh CHECKOUT OUT_DIR
set -euo pipefail
SRC=$1 OUT=$2 D=${D:-$(cd ../shared/data && pwd)}
HERE=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$OUT"
cd "$SRC"
export PYTHONPATH=$PWD OMP_NUM_THREADS=1 FEWSHOT_BENCHMARK=$D/NATS-tss-v1_0-3ffb9-simple
PY=${PY:-python}
# (a) Table 3's rows, reduced: 3 repeats, budget 150 (BP 30), stand-in proxy; AE over random splits
$PY "$HERE/search_rows.py" 150 30 3 "$OUT/search_rows.json"
$PY -m fewshot.search --algo ae --repeats 3 --budget 100 --dataset cifar100 --random-split 3 \
    --out "$OUT/search-ae" --no-progress
$PY -m fewshot.search --algo rl --repeats 2 --budget 100 --dataset cifar10 --out "$OUT/search-rl" \
    --no-progress
# (b) the consistency study's random row (10 seeds) and params (2 seeds), ly-manson recipe
for M in random:10 params:2; do
  $PY tools/sweep.py --metrics "${M%:*}" --seeds "${M#*:}" --jobs 1 --threads 1 --dataset folder \
      --data-root "$D/cifar10-subset" --runs "$OUT/sweep-${M%:*}" \
      --split-args "--recipe ly-manson --threads 1 --no-progress"
done
# (c) the NB201 refinement (table scorer, as docs/refine/run_nb201.sh) and a computed one
for P in synflow snip; do
  $PY -m fewshot.refine --space nb201 --predictor $P --samples 100 --iterations 10 --seed 0 \
      --scores-table "$D/reference/nb201_zc_proxies_cifar10.csv" \
      --benchmark "$D/NATS-tss-v1_0-3ffb9-simple" --threads 1 --no-progress --out "$OUT/refine-$P"
done
$PY -m fewshot.refine --space nb201 --predictor snip --samples 8 --iterations 2 --seed 0 --C 4 \
    --N 1 --dataset digits --threads 1 --no-progress --no-plots --out "$OUT/refine-computed"
# (d) a reduced few-vs-one-shot comparison, a ranking-budget cell and its ground truth, and
#     split -> train -> search -> evaluate
$PY tools/few_vs_one_shot.py --dataset folder --data-root "$D/cifar10-subset" --image-size 8 \
    --C 4 --N 1 --epochs 1 --seeds 1 --metrics random --depths 1 --protocols scratch,inherited \
    --max-multiple 2 --connected-only --sample 20 --sample-seed 0 --val-fraction 0.2 \
    --calib-batches 2 --held-out 500 --trees "$OUT/trees" --out "$OUT/compare" --threads 1 \
    --no-progress
$PY -m fewshot.experiments.ranking_budget --regimes px8-c4-n1-subset \
    --data-roots "subset=$D/cifar10-subset" --steps 150,300 --seeds 1 --sample 12 \
    --calib-grid 2,4 --held-out-grid 250,500 --out "$OUT/rb" --threads 1 --no-progress
$PY -m fewshot.experiments.ground_truth --regime px8-c4-n1-subset \
    --data-roots "subset=$D/cifar10-subset" --budget-results "$OUT/rb/results.json" --archs 3 \
    --epochs 1 --out "$OUT/gt" --threads 1 --no-progress
$PY -m fewshot.split --metric random --recipe ly-manson --depth 2 --branch 2 --seed 0 \
    --dataset folder --data-root "$D/cifar10-subset" --out "$OUT/runs" --name tree --no-progress
$PY -m fewshot.train "$OUT/runs/tree" --epochs 1 --image-size 8 --C 4 --N 1 --one-shot \
    --search-k 4 --calib-batches 1 --search-val-batches 2 --device cpu --threads 1 --no-progress
