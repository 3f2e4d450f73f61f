"""The experiments' one results writer: the JSON, then ``NAME_table.md`` beside it, each atomic."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fewshot.experiments.common import table_path, write_results

RESULT = {"format": "fewshot.test", "tau": 0.25, "seeds": [0, 1]}
TABLE = "| arm | tau |\n|---|---|\n| a | 0.25 |\n"


def test_table_path_names_the_table_after_the_json(tmp_path):
    assert table_path(tmp_path / "docs" / "study.json") == tmp_path / "docs" / "study_table.md"
    assert table_path("results.json") == Path("results_table.md")
    assert table_path("a/noise.v2.json") == Path("a/noise.v2_table.md")


def test_write_results_writes_the_json_and_the_table_beside_it(tmp_path):
    path = tmp_path / "out" / "study.json"  # a folder that does not exist yet
    table = write_results(path, RESULT, TABLE)
    assert table == tmp_path / "out" / "study_table.md"
    assert path.read_text() == json.dumps(RESULT, indent=2) + "\n"
    assert table.read_text() == TABLE
    assert sorted(p.name for p in path.parent.iterdir()) == ["study.json", "study_table.md"]


def test_a_rewrite_replaces_both_files_and_leaves_no_temp_file(tmp_path):
    path = tmp_path / "study.json"
    write_results(str(path), RESULT, TABLE)
    write_results(path, {**RESULT, "tau": 0.5}, "new\n")
    assert json.loads(path.read_text())["tau"] == 0.5
    assert (tmp_path / "study_table.md").read_text() == "new\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["study.json", "study_table.md"]


def test_an_explicit_table_name_replaces_the_default(tmp_path):
    table = write_results(tmp_path / "results.json", RESULT, TABLE,
                          table=tmp_path / "few_vs_one_shot_table.md")  # fmt: skip
    assert table == tmp_path / "few_vs_one_shot_table.md" and table.read_text() == TABLE
    assert not (tmp_path / "results_table.md").exists()


def test_a_result_that_cannot_be_saved_leaves_both_old_files_as_they_were(tmp_path):
    """The JSON goes first: a failure there writes no table that describes unsaved numbers."""
    path = tmp_path / "study.json"
    write_results(path, RESULT, TABLE)
    with pytest.raises(TypeError):
        write_results(path, {"archs": {"not", "json"}}, "stale\n")
    assert json.loads(path.read_text()) == RESULT
    assert (tmp_path / "study_table.md").read_text() == TABLE
    assert sorted(p.name for p in tmp_path.iterdir()) == ["study.json", "study_table.md"]


def test_a_failed_table_write_removes_its_temp_file(tmp_path):
    (tmp_path / "study_table.md").mkdir()  # a folder where the table should go: rename fails
    with pytest.raises(OSError):
        write_results(tmp_path / "study.json", RESULT, TABLE)
    assert json.loads((tmp_path / "study.json").read_text()) == RESULT
    assert sorted(p.name for p in tmp_path.iterdir()) == ["study.json", "study_table.md"]
    assert not any((tmp_path / "study_table.md").iterdir())
