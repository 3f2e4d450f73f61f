#!/bin/bash
cd /work/wt/macro-exp && . /work/venv/bin/activate && export PYTHONPATH=$PWD OMP_NUM_THREADS=1
s=$(date +%s); echo "start $(date -u +%FT%TZ)"
/usr/bin/time -v python -m fewshot.split --space nas-bench-macro --metric snip --depth 3 --branch 2 --dataset folder --data-root /work/shared/data/cifar10-subset --threads 1 --no-progress --out runs/macro --name snip-d3-b2-s0 "$@" 2>&1
echo "done rc=$? wall=$(( $(date +%s)-s ))s $(date -u +%FT%TZ)"
