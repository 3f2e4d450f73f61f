#!/bin/bash
# leaf training + judged search of the main NAS-Bench-Macro tree at a small CPU budget (resumable)
# CODE: a checkout with spaces-high merged (before the lead's merge: /tmp/mx-merge)
CODE=${CODE:-/work/wt/macro-exp}
cd $CODE && . /work/venv/bin/activate && export PYTHONPATH=$CODE OMP_NUM_THREADS=1
s=$(date +%s); echo "start $(date -u +%FT%TZ) code $CODE $(git -C $CODE rev-parse --short HEAD)"
python -m fewshot.train /work/wt/macro-exp/runs/macro/train15/snip-d3-b2-s0 --C 8 --N 1 --epochs 15 \
  --limit-train-batches 50 --limit-val-batches 4 --batch-size 64 --seed 0 \
  --search-k 50 --calib-batches 4 --search-val-batches 4 --num-workers 0 --threads 1 --no-progress \
  --dataset folder --data-root /work/shared/data/cifar10-subset \
  --benchmark /work/shared/data/nas-bench-macro/nas-bench-macro_cifar10.json
echo "done rc=$? wall=$(( $(date +%s)-s ))s $(date -u +%FT%TZ)"
