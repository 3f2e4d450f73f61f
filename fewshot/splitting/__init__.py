"""Splitting a supernet into sub-supernets with a metric (SPEC 4): the main job.

- :mod:`~fewshot.splitting.candidates` (candidate sub-supernets, their scores and distance
  matrix), :mod:`~fewshot.splitting.partition` (min-cut partitions of an edge's ops),
  :mod:`~fewshot.splitting.edges` (edge policies), :mod:`~fewshot.splitting.warmup` (optional
  supernet warm-up) and :mod:`~fewshot.splitting.engine` (the resumable splitting policy);
- :mod:`~fewshot.splitting.recipes`: the settings a paper split (and scored) with, as one
  named bundle;
- :mod:`~fewshot.splitting.tree`: the splitting-tree file format (versioned JSON) and its
  validating loader; :mod:`~fewshot.splitting.tree_table`: the tree as a text table and a
  drawing layout;
- :mod:`~fewshot.splitting.run`: the split as a run (``SplitConfig``, ``run_split``), what
  ``python -m fewshot.split`` calls.

Nothing here knows a search space's constants: the space (``--space``, a
:class:`~fewshot.spaces.SearchSpace`) comes from the supernet (``supernet.space``), the masks,
the tree (``tree.space``) or an explicit ``space`` argument; edges are its positions by index.

May import plumbing, spaces, models, metrics, data, scoring (a recipe's ``ScoringSpec``) and
:mod:`fewshot.choices`; never training, analysis, plotting, search, refine, experiments or a
command.
"""
