"""Seconds per network of predictors scored alone, on the first 8 nets of the reduced
protocol's initial sample (seed 0, 10-50 MFLOPs), batch 64 of the CIFAR-10 subset, one thread.

    .venv/bin/python docs/refine/measure_cost.py grasp snip
"""

import sys

import torch

from fewshot.refine.analyse import measure_costs
from fewshot.refine.cli import RefineConfig, load_data
from fewshot.refine.engine import RefineSettings, iteration_sample
from fewshot.spaces.anynet_sampling import DesignSpace

torch.set_num_threads(1)
data = load_data(
    RefineConfig(dataset="folder", data_root="../shared/data/cifar10-subset", batch_size=64, seed=0)
)
settings = RefineSettings("synflow", samples=200, initial_samples=200, seed=0)
configs = iteration_sample(DesignSpace.paper(), settings, 0, num_classes=10).configs[:8]
for name, cost in measure_costs(configs, sys.argv[1:] or ["grasp"], data, seed=0).items():
    print(f"{name}: median {cost['median']:.3f} s, mean {cost['mean']:.3f} s over {cost['nets']}")
