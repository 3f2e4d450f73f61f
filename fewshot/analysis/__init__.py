"""Analyses of saved runs and results: pure numpy/scipy, no figures, no training.

Here live the split distance (:mod:`~fewshot.analysis.partition_distance`, the formula;
:mod:`~fewshot.analysis.split_distance`, its aggregation) and the finding and grouping of
comparable trees it reads (:mod:`~fewshot.analysis.tree_groups`), what decided the splits
(:mod:`~fewshot.analysis.decisions`), a scores CSV against the benchmark
(:mod:`~fewshot.analysis.scores`), ranking quality with bootstrap intervals
(:mod:`~fewshot.analysis.ranking`, :mod:`~fewshot.analysis.few_vs_one_shot`), the free
baselines a supernet must beat (:mod:`~fewshot.analysis.baselines`) and refinement
summaries (:mod:`~fewshot.analysis.refinement`). May import every layer up to training
(plumbing, spaces, models, the benchmark, metrics, data, scoring, splitting, training); never
plotting (figures of these results are drawn there), search, refine, experiments or a command.
"""
