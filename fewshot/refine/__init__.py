"""Design-space refinement by zero-cost predictors (da Silva et al.; SPEC section 8).

Library modules (no command-line parsing):

- :mod:`fewshot.refine.predictors`: the seven predictors on any ``nn.Module``;
- :mod:`fewshot.refine.bootstrap`: the vectorised bootstrap of the best net, its intervals;
- :mod:`fewshot.refine.samples`: the resumable per-iteration JSON-lines file of scored nets;
- :mod:`fewshot.refine.engine`: the iterated refinement of the AnyNet space;
- :mod:`fewshot.refine.nb201`: the same idea on NB201's per-edge op sets;
- :mod:`fewshot.refine.evaluation`: training the top-scoring net of a final subspace;
- :mod:`fewshot.refine.figures`: the figures of a run folder.

Commands: ``python -m fewshot.refine`` (:mod:`fewshot.refine.cli`; also ``fewshot refine``),
``python -m fewshot.refine.analyse`` (the initial sample scored by several predictors:
Kendall correlations and tertile trees) and ``python -m fewshot.refine.evaluate`` (train the
top net of a refined subspace).

May import every layer below search and refine (plumbing, spaces, models, the benchmark,
metrics, data, scoring, splitting, training, analysis, and plotting for its figures); never
search (its sibling), experiments or a top-level command. No library module imports the three
command modules here.
"""

from __future__ import annotations

from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    """``fewshot refine ...`` (the console script's dispatcher calls the package's ``main``)."""
    from fewshot.refine.cli import main as cli_main

    return cli_main(argv)
