"""fewshot: few-shot NAS on NAS-Bench-201 driven by zero-cost proxies.

The package is layered as the pipeline runs, bottom to top: plumbing (errors, io, registry,
tables; cli, correlation; config; executor, run_folder), spaces, models and the benchmark,
metrics, data, scoring, splitting, training, analysis, plotting, search and refine,
experiments, and the commands on top (``split``, ``score``, ``train``, ``distance``; ``search``
and ``refine`` keep theirs in their packages). Each layer imports only the layers below it and
no library module imports a command module: the contracts in ``.importlinter``, checked by
``.ci/run`` (``lint-imports``) and ``tests/test_import_layers.py``.
"""

__version__ = "0.1.0"
