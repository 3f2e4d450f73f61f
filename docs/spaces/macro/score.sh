#!/bin/bash
# NAS-Bench-Macro zero-cost scoring (resumable: re-run to continue)
cd /work/wt/macro-exp && . /work/venv/bin/activate && export PYTHONPATH=$PWD OMP_NUM_THREADS=1
D="--space nas-bench-macro --dataset folder --data-root /work/shared/data/cifar10-subset --batch-size 64 --batches 2 --seed 0 --threads 1 --no-plots --no-progress"
echo "main start $(date -u +%FT%TZ)"; s=$(date +%s)
python -m fewshot.score --archs runs/macro/sample400.txt --metrics fisher,flops,grad_norm,jacob_cov,lr,naswot,params,snip,ssnr,ssnr_synflow,synflow,synflow_log,tcet,tcet_log,zen $D --out runs/macro/score/main --retry-failed
echo "main done rc=$? wall=$(( $(date +%s)-s ))s $(date -u +%FT%TZ)"; s=$(date +%s)
python -m fewshot.score --archs runs/macro/sample100.txt --metrics grasp,ntk,zico $D --out runs/macro/score/expensive --retry-failed
echo "expensive done rc=$? wall=$(( $(date +%s)-s ))s $(date -u +%FT%TZ)"
