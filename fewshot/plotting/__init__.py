"""Presentation: matplotlib figures (Agg backend), one function per figure.

Each module draws the results of one study, fed by :mod:`fewshot.analysis`: score scatter
plots (:mod:`~fewshot.plotting.correlation`), split distance
(:mod:`~fewshot.plotting.split_distance`), few-shot vs one-shot
(:mod:`~fewshot.plotting.ranking`), refinement (:mod:`~fewshot.plotting.refinement`), search
curves (:mod:`~fewshot.plotting.search`) and the picture of a split tree
(:mod:`~fewshot.plotting.tree`; its text table and layout are
:mod:`fewshot.splitting.tree_table`). May import analysis and every layer below it (the tree
format, the run folder); never search, refine, experiments or a command, which call these
functions for their figures.
"""
