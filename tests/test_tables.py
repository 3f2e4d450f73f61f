"""The one Markdown table writer."""

import pytest

from fewshot.tables import markdown_table


def test_alignment_rules_and_padding():
    text = markdown_table(["a", "bb"], [[1, "x"], ["long", 2.5]], align=["left", "right"])
    assert text == "| a | bb |\n| --- | ---: |\n| 1 | x |\n| long | 2.5 |\n"
    padded = markdown_table(["a", "b"], [["long", "x"]], pad=True)
    assert padded.splitlines() == ["| a    | b   |", "| ---  | --- |", "| long | x   |"]


def test_ragged_rows_and_bad_alignment_raise():
    with pytest.raises(ValueError, match="2 cells, the header 3"):
        markdown_table(["a", "b", "c"], [[1, 2]])
    with pytest.raises(ValueError, match="align"):
        markdown_table(["a"], [[1]], align=["middle"])
