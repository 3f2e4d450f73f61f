#!/bin/bash
# 10 seeds x 5 "metrics" at depth 3 on NAS-Bench-Macro (resumable: complete trees are reused)
cd /work/wt/macro-exp && . /work/venv/bin/activate && export PYTHONPATH=$PWD OMP_NUM_THREADS=1
s=$(date +%s); echo "start $(date -u +%FT%TZ)"
python -m fewshot.experiments.split_quality --space nas-bench-macro \
  --metrics snip,synflow,grad_norm,jacob_cov,random --seeds 10 --depth 3 --branch 2 \
  --dataset folder --data-root /work/shared/data/cifar10-subset --threads 1 \
  --benchmark /work/shared/data/nas-bench-macro/nas-bench-macro_cifar10.json \
  --runs runs/split_quality/nas-bench-macro-d3 --out docs/spaces/macro_split_quality_s10.md
echo "done rc=$? wall=$(( $(date +%s)-s ))s $(date -u +%FT%TZ)"
