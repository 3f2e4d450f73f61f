"""Presentation: figures (matplotlib, Agg backend; one function per figure, fed by
:mod:`fewshot.analysis`) and the split tree's text table and picture (:mod:`.tree_summary`,
:mod:`.tree`)."""
