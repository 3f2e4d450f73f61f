"""The README's first lines are the two commands a new user runs; CI runs the same tests."""

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def _commands() -> list[str]:
    lines = (ROOT / "README.md").read_text().splitlines()
    start = lines.index("```bash")
    return lines[start + 1 : lines.index("```", start)]


def test_readme_opens_with_the_main_job_and_the_test_command():
    main, tests = _commands()
    assert "python -m fewshot.split --metric snip --depth 3 --branch 2" in main
    assert tests.endswith('pip install -e ".[test]" && python -m pytest -q')


def test_ci_runs_the_readme_test_command():
    test_cmd = _commands()[1].split(" && ", 2)[-1]  # after venv creation and activation
    ci = (ROOT / ".ci" / "run").read_text()
    assert test_cmd.replace("pip install -e", "pip install -q -e") in ci


def test_ci_lints_and_checks_formatting():
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert "ruff check ." in ci
    assert "ruff format --check ." in ci


def test_package_files_a_researcher_expects():
    """LICENSE says what pyproject.toml declares; CITATION.cff names fewshot and its papers."""
    license_text = (ROOT / "LICENSE").read_text()
    declared = re.search(r'license = \{ text = "(\w+)" \}', (ROOT / "pyproject.toml").read_text())[
        1
    ]
    assert license_text.startswith(f"{declared} License")
    citation = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    assert citation["cff-version"] and "fewshot" in citation["title"]
    titles = " ".join(ref["title"] for ref in citation["references"])
    assert "Understanding Few-Shot NAS with Zero-Cost Proxies" in titles
    assert (ROOT / "CHANGELOG.md").read_text().startswith("# Changelog")
