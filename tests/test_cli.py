"""Shared CLI plumbing: clean errors, atomic writes (configuration: tests/test_config.py)."""

import pytest

from fewshot.cli import UsageError, run_main
from fewshot.io import atomic_write_text
from fewshot.registry import Registry


def test_run_main_turns_user_errors_into_exit_2(capsys):
    def main(argv):
        Registry("metric").get("snp")

    assert run_main(main, []) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: unknown metric 'snp'") and "Traceback" not in err


def test_run_main_usage_error_is_one_line(capsys):
    def main(argv):
        raise UsageError("--depth must be >= 1, got 0")

    assert run_main(main, []) == 2
    assert capsys.readouterr().err == "error: --depth must be >= 1, got 0\n"


def test_run_main_lets_bugs_raise():
    def main(argv):
        raise ZeroDivisionError

    with pytest.raises(ZeroDivisionError):
        run_main(main, [])


def test_atomic_write_keeps_old_file_on_failure(tmp_path, monkeypatch):
    path = tmp_path / "a.txt"
    atomic_write_text(path, "old")

    def boom(*args):
        raise OSError("disk full")

    monkeypatch.setattr("fewshot.io.os.replace", boom)
    with pytest.raises(OSError):
        atomic_write_text(path, "new")
    assert path.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt"]
