"""Experiments: whole studies run as one call, on top of the splitting and training libraries.

- :mod:`~fewshot.experiments.consistency`: the split-distance (consistency) study: split with
  each metric over seeds (:class:`~fewshot.experiments.consistency.SweepConfig`, local forks or
  Ray tasks on :mod:`fewshot.executor`), then the split-distance report (what
  ``python -m fewshot.distance`` runs);
- :mod:`~fewshot.experiments.few_vs_one_shot`: few-shot vs one-shot ranking quality against
  NATS-Bench (trees from :func:`fewshot.splitting.run.run_split`, supernets from
  :mod:`fewshot.training.runner`).

:mod:`~fewshot.experiments.ranking_budget`, :mod:`~fewshot.experiments.ground_truth`,
:mod:`~fewshot.experiments.noise_floor` (the spread of one configuration's tau over seeds, read
from the budget study's results), :mod:`~fewshot.experiments.free_baselines` (arch counts and
zero-cost proxies beside the supernets, on the same archs) and
:mod:`~fewshot.experiments.combination` (a supernet added to the best proxy, against the proxy
alone) are the ranking study's; :mod:`~fewshot.experiments.common` holds what each experiment command does
first. ``tools/sweep.py`` and ``tools/few_vs_one_shot.py`` are thin entry points. Modules here may
import every library layer (splitting, training, analysis, plotting for their figures, search
and refine),
never a command module (``fewshot/split.py``, ``train.py``, ``score.py``, ``distance.py``, ...)
nor ``tools/``; the sweep starts the split *command* only by module name (``--split-module``),
as a separate run with its own log.
"""
