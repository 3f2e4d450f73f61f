#!/usr/bin/env bash
# Few-shot vs one-shot on NAS-Bench-Macro (docs/spaces/macro.md section 6). Resumable: run again
# after a kill. SEEDS="0 2" OUT=runs/macrofvo/compare runs those seeds into that folder (the
# seeds ran in two processes, into two folders, whose seed folders were then linked into one);
# ANALYSE=1 runs the analysis over all 3 seeds, then the free baselines on the same archs.
# (The seeds ran with --free-baselines/--proxy-scores/--proxies flags of an earlier version of
# this branch; they change no training or scoring and moved to tools/macro_fvo_report.py.)
set -euo pipefail
export OMP_NUM_THREADS=1 PYTHONPATH=$PWD
OUT=${OUT:-runs/macrofvo/compare}
F=(--space nas-bench-macro --dataset folder --data-root /work/shared/data/cifar10-subset
   --benchmark /work/shared/data/nas-bench-macro/nas-bench-macro_cifar10.json
   --image-size 16 --C 4 --N 1 --epochs 16 --seeds 3
   --metrics snip,synflow,jacob_cov,gm,random --depths 1 --no-exhaustive
   --protocols inherited --max-multiple 3
   --sample 200 --archs docs/spaces/macro/sample400.txt --val-fraction 0.2
   --calib-batches 16 --held-out 2000 --bootstrap-seeds
   --trees runs/macrofvo/trees --out "$OUT" --threads 1 --no-progress)
if [[ -n "${ANALYSE:-}" ]]; then
  python tools/few_vs_one_shot.py "${F[@]}" --results docs/spaces/macro_fvo/compare.json
  python tools/macro_fvo_report.py --results docs/spaces/macro_fvo/compare.json \
      --scores docs/spaces/macro/scores_main.csv --proxies naswot,synflow,snip,jacob_cov \
      --out docs/spaces/macro_fvo/free_baselines.md
else
  for seed in ${SEEDS:-0 1 2}; do python tools/few_vs_one_shot.py "${F[@]}" --only-seed "$seed"; done
fi
