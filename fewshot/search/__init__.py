"""Zero-cost-guided NAS on a search space's benchmark (SPEC 7; NB201 by default): "training"
is a benchmark look-up.

- :mod:`~fewshot.search.oracle`: the benchmark as in-memory arrays (select / report accuracy).
- :mod:`~fewshot.search.proxy`: proxy tables from ``fewshot.score`` CSVs, computed on demand.
- :mod:`~fewshot.search.searchable`: the searchable archs (whole space or a leaf's mask).
- :mod:`~fewshot.search.algorithms`, :mod:`~fewshot.search.bp`: RAND, AE, RL, BP with
  zero-cost warmup and move proposal.
- :mod:`~fewshot.search.run`: repeats, curves, ``acc_at_50`` / ``models_to_target``.
- :mod:`~fewshot.search.leaves`: search across the leaves of a splitting tree.
- :mod:`~fewshot.search.pipeline`: the proxy-filtered pipeline (top-k / threshold, rank / vote).
- :mod:`~fewshot.search.experiment`: one experiment from plain settings (used by the CLI).

The command is :mod:`fewshot.search.__main__` (``python -m fewshot.search``). May import every
layer below search and refine (scoring and splitting for proxy tables, recipes and leaves, the
benchmark, plotting for an experiment's figures); never refine (its sibling), experiments or a
top-level command.

From Python: ``fewshot.search(...)`` calls :func:`fewshot.api.search` (this module is callable;
see docs/api.md), which runs this command's code and returns a result object.
"""

from fewshot.cli import callable_command
from fewshot.search.algorithms import ALGORITHMS, AlgoSettings, make_searcher
from fewshot.search.oracle import Oracle
from fewshot.search.proxy import ProxyTable
from fewshot.search.run import SearchResult, run_repeats, search, summarise
from fewshot.search.searchable import Searchable


def main(argv=None) -> int:
    """``fewshot search``: the command lives in :mod:`fewshot.search.__main__`."""
    from fewshot.search.__main__ import main as command

    return command(argv)


__all__ = [
    "ALGORITHMS",
    "AlgoSettings",
    "Oracle",
    "ProxyTable",
    "SearchResult",
    "Searchable",
    "main",
    "make_searcher",
    "run_repeats",
    "search",
    "summarise",
]

callable_command(__name__, "search")  # fewshot.search(...) is fewshot.api.search
