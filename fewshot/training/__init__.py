"""Leaf training (Lightning), search inside leaves, evaluation against a benchmark."""

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
