"""Training with Lightning: sub-supernets (leaves), standalone archs, search inside leaves.

Here live the one ``Trainer`` factory and hardware value (:mod:`~fewshot.training.trainer`,
also the one accuracy function and the resume helpers), the leaf system
(:mod:`~fewshot.training.module`), leaf training in run folders
(:mod:`~fewshot.training.runner`, :mod:`~fewshot.training.parallel`), standalone arch training
(:mod:`~fewshot.training.standalone`), the search inside leaves and its evaluation. May import
plumbing (the executor, the run folder, and :mod:`fewshot.correlation` for the evaluation's
correlations), spaces, models, the benchmark, metrics, data, scoring and splitting (the tree
format); never analysis, plotting, search, refine, experiments or a command module.
"""

from fewshot.training.evaluate import evaluate_search
from fewshot.training.module import LeafModule
from fewshot.training.search import LeafSearch, ScoredArch, candidate_archs, search_leaf

__all__ = [
    "LeafModule",
    "LeafSearch",
    "ScoredArch",
    "candidate_archs",
    "evaluate_search",
    "search_leaf",
]
