"""Mutation testing of the metric library and the splitting code with mutmut (issue 29).

Not a CI step: a documented, resumable run whose score and survivors go into
``docs/metrics/mutation.md``. Usage (from the repository root, ``. /work/venv/bin/activate``)::

    python tools/mutation.py run metrics --sample 150 --seed 0   # mutate, test, resume-safe
    python tools/mutation.py report metrics --sample 150 --seed 0  # score and survivors
    python tools/mutation.py show metrics fewshot.metrics.zen.x_zen_score__mutmut_3
    python tools/mutation.py issue-mutants   # the three mutants of issue 29 vs tests/metrics

How a run works, and what it costs:

- A scope (:data:`SCOPES`) names the files to mutate and the fast test files that judge them.
  The tree (``fewshot/``, ``tests/``, ``tools/``, ``pyproject.toml``) is copied to ``WORK/<scope>``
  (default ``build/mutation``, git-ignored) with a ``setup.cfg`` ``[mutmut]`` section, so the
  worktree is never touched; ``pytest``'s ``pythonpath = ["."]`` is dropped from the copy,
  since it would put the unmutated package ahead of mutmut's ``mutants/`` copy.
- mutmut (3.x) generates every mutant of the scope's functions (decorated functions, e.g. the
  ``@register_metric`` wrappers, and module-level code are not mutated by mutmut), runs the
  test selection once to learn which tests call which function, then tests each mutant with
  only those tests, in a forked worker, with a CPU-time limit (15x the tests' clean time).
- ``--sample N --seed S`` tests a uniform random sample of N of the scope's mutants (sorted
  names, ``random.Random(S).sample``); without it, all of them. The sample is a pure function
  of the generated mutant names, so ``report`` with the same arguments scores the same set.
- Resumable: results live in ``WORK/<scope>/mutants/**.meta``; a rerun skips mutants that
  already have a result and only runs the rest (``--batch`` names per mutmut call). After a
  test was added, ``run --retest-survivors`` re-runs the survivors (mutmut also re-tests
  functions whose source changed).

Exit codes of a tested mutant (mutmut's): killed (a test failed), timeout (counted as killed,
as mutmut does), survived, no tests (no test of the selection calls the function: counted as
a survivor here), suspicious / segfault (reported separately).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Scope:
    """Files to mutate and the test files that judge them (the fast, relevant ones)."""

    mutate: tuple[str, ...]
    tests: tuple[str, ...]


SCOPES = {
    "metrics": Scope(("fewshot/metrics/*.py",), ("tests/metrics",)),
    "partition": Scope(("fewshot/splitting/partition.py",), ("tests/splitting/test_partition.py",)),
    "candidates": Scope(
        ("fewshot/splitting/candidates.py",), ("tests/splitting/test_candidates.py",)
    ),
}

KILLED = {"killed", "timeout"}
STATUS = {1: "killed", 3: "killed", 0: "survived", 5: "no tests", 33: "no tests", 34: "skipped",
          36: "timeout", -24: "timeout", 24: "timeout", 152: "timeout", 255: "timeout",
          -11: "segfault", -9: "segfault", None: "not checked"}  # fmt: skip
"""mutmut 3.8's exit codes (``mutmut.stats.status_by_exit_code``); anything else: suspicious."""


def work_dir(args: argparse.Namespace) -> Path:
    return Path(args.work).resolve() / args.scope


def mutmut_env() -> dict[str, str]:
    """One thread per test process (2 shared cores) and the shared data folder if present."""
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", FEWSHOT_TEST_THREADS="1")
    shared = ROOT.parent / "shared" / "data"
    if "FEWSHOT_SHARED_DATA" not in env and shared.is_dir():
        env["FEWSHOT_SHARED_DATA"] = str(shared)
    if "FEWSHOT_SHARED_DATA" not in env and Path("/work/shared/data").is_dir():
        env["FEWSHOT_SHARED_DATA"] = "/work/shared/data"
    return env


def prepare(scope: Scope, work: Path) -> None:
    """Copy the tree into ``work`` (sources updated in place, so mutmut sees what changed)."""
    work.mkdir(parents=True, exist_ok=True)
    for folder in ("fewshot", "tests", "tools"):  # tests load some tools
        shutil.copytree(
            ROOT / folder, work / folder, dirs_exist_ok=True,
            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
        )  # fmt: skip
    pyproject = (ROOT / "pyproject.toml").read_text()
    (work / "pyproject.toml").write_text(re.sub(r"(?m)^pythonpath\s*=.*\n", "", pyproject))
    lines = "\n    ".join
    (work / "setup.cfg").write_text(
        "[mutmut]\nsource_paths = fewshot\nalso_copy =\n    tools\n"
        f"only_mutate =\n    {lines(scope.mutate)}\n"
        f"pytest_add_cli_args_test_selection =\n    {lines(scope.tests)}\n"
        "pytest_add_cli_args =\n    -p\n    no:cacheprovider\n    -x\n    -q\n"
        "timeout_multiplier = 15.0\n"
    )


def generate(work: Path) -> None:
    """Let mutmut write ``mutants/`` (its first step of ``mutmut run``, without testing)."""
    code = (
        "from mutmut.__main__ import copy_src_dir, copy_also_copy_files, setup_source_paths, "
        "store_lines_covered_by_tests, create_mutants\n"
        "import os; os.makedirs('mutants', exist_ok=True)\n"
        "copy_src_dir(); copy_also_copy_files(); setup_source_paths(); "
        "store_lines_covered_by_tests(); print(create_mutants(1))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=work, env=mutmut_env(), check=True,
        capture_output=True, text=True,
    )  # fmt: skip
    print(done.stdout.strip().splitlines()[-1])


def results(work: Path, scope: Scope) -> dict[str, int | None]:
    """``{mutant name: exit code or None}`` of every generated mutant of the scope."""
    out: dict[str, int | None] = {}
    for meta in sorted((work / "mutants").rglob("*.py.meta")):
        source = meta.relative_to(work / "mutants").as_posix()[: -len(".meta")]
        if not any(Path(source).match(p) for p in scope.mutate):
            continue
        out.update(json.loads(meta.read_text())["exit_code_by_key"])
    return out


def chosen(names: list[str], sample: int | None, seed: int) -> list[str]:
    """The scope's mutants to test: all, or a seeded uniform sample of ``sample`` of them."""
    names = sorted(names)
    if sample is None or sample >= len(names):
        return names
    return sorted(random.Random(seed).sample(names, sample))


def run(args: argparse.Namespace) -> None:
    scope, work = SCOPES[args.scope], work_dir(args)
    prepare(scope, work)
    generate(work)
    codes = results(work, scope)
    todo_set = chosen(list(codes), args.sample, args.seed)
    redo = {"survived", "no tests"} if args.retest_survivors else set()
    todo = [n for n in todo_set if codes[n] is None or STATUS.get(codes[n]) in redo]
    print(f"{args.scope}: {len(codes)} mutants, {len(todo_set)} chosen, {len(todo)} to test")
    for start in range(0, len(todo), args.batch):
        names = todo[start : start + args.batch]
        cmd = ["mutmut", "run", "--max-children", str(args.jobs), *names]
        done = subprocess.run(cmd, cwd=work, env=mutmut_env(), check=False)
        if done.returncode != 0:  # stats or clean tests failed: nothing was tested
            raise SystemExit(f"mutmut run failed (exit {done.returncode}); see its output")
        print(f"  tested {min(start + args.batch, len(todo))} / {len(todo)}", flush=True)


def summary(args: argparse.Namespace) -> dict:
    """Score of the chosen mutants and the names of those not killed."""
    scope, work = SCOPES[args.scope], work_dir(args)
    codes = results(work, scope)
    names = chosen(list(codes), args.sample, args.seed)
    status = {n: STATUS.get(codes[n], "suspicious") for n in names}
    counts: dict[str, int] = {}
    for s in status.values():
        counts[s] = counts.get(s, 0) + 1
    tested = [n for n in names if status[n] != "not checked"]
    killed = sum(status[n] in KILLED for n in tested)
    by_file: dict[str, list[int]] = {}  # module: [killed, tested]
    for name in tested:
        module = name.split(".x")[0]
        entry = by_file.setdefault(module, [0, 0])
        entry[0] += status[name] in KILLED
        entry[1] += 1
    return {
        "scope": args.scope, "files": list(scope.mutate), "tests": list(scope.tests),
        "generated": len(codes), "chosen": len(names), "seed": args.seed, "counts": counts,
        "score": killed / len(tested) if tested else None,
        "killed_of_tested_by_module": dict(sorted(by_file.items())),
        "not_killed": sorted(n for n in tested if status[n] not in KILLED),
        "status": {n: status[n] for n in tested if status[n] not in KILLED},
    }  # fmt: skip


def report(args: argparse.Namespace) -> None:
    out = summary(args)
    print(json.dumps({k: v for k, v in out.items() if k != "not_killed"}, indent=1))
    if args.diffs:
        for name in out["not_killed"]:
            show_one(work_dir(args), name)
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1) + "\n")


def show_one(work: Path, name: str) -> None:
    print(f"# {name}")
    subprocess.run(["mutmut", "show", name], cwd=work, env=mutmut_env(), check=False)


ISSUE_MUTANTS = {  # issue 29: three plausible wrong metrics that once passed tests/metrics
    "tcet-logdet-1": (
        "fewshot/metrics/tcet.py",
        "terms[name] = weight * safe_logdet(kernels[name])",
        "terms[name] = weight * 1.0",
    ),
    "zen-no-bn-term": (
        "fewshot/metrics/zen.py",
        "return math.log(float(delta)) + bn_scaling_term(work)",
        "return math.log(float(delta))",
    ),
    "ntk-no-bn-scales": (
        "fewshot/metrics/tenas.py",
        'params = [p for n, p in net.named_parameters() if "weight" in n and p.requires_grad]',
        "params = [m.weight for m in net.modules() if isinstance(m, (nn.Conv2d, nn.Linear)) "
        "and m.weight.requires_grad]",
    ),
}


def issue_mutants(args: argparse.Namespace) -> None:
    """Apply each :data:`ISSUE_MUTANTS` patch to a scratch copy and run ``tests/metrics``."""
    work = Path(args.work).resolve() / "issue-mutants"
    prepare(SCOPES["metrics"], work)
    for name, (path, old, new) in ISSUE_MUTANTS.items():
        source = work / path
        original = source.read_text()
        if original.count(old) != 1:
            raise SystemExit(f"{name}: the line to mutate is not in {path} exactly once")
        source.write_text(original.replace(old, new))
        try:
            done = subprocess.run(
                [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/metrics"],
                cwd=work, env=dict(mutmut_env(), PYTHONPATH=str(work)), capture_output=True,
                text=True, check=False,
            )  # fmt: skip
        finally:
            source.write_text(original)
        failed = re.findall(r"^FAILED (\S+)", done.stdout, flags=re.M)
        verdict = "killed" if done.returncode == 1 and failed else f"exit {done.returncode}"
        print(f"{name}: {verdict}; {done.stdout.strip().splitlines()[-1]}")
        for test in failed:
            print(f"  FAILED {test}")


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("command", choices=("run", "report", "show", "issue-mutants"))
    p.add_argument("scope", choices=sorted(SCOPES), nargs="?", default="metrics")
    p.add_argument("mutant", nargs="?", help="for show: a mutant name")
    p.add_argument("--sample", type=int, default=None, help="test a seeded sample of N mutants")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--batch", type=int, default=40, help="mutant names per mutmut call")
    p.add_argument("--jobs", type=int, default=1, help="mutmut worker processes")
    p.add_argument("--work", default=str(ROOT / "build" / "mutation"))
    p.add_argument("--retest-survivors", action="store_true")
    p.add_argument("--diffs", action="store_true", help="report: print each survivor's diff")
    p.add_argument("--json", help="report: also write the summary here")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse(argv)
    if args.command == "run":
        run(args)
    elif args.command == "issue-mutants":
        issue_mutants(args)
    elif args.command == "report":
        report(args)
    else:
        show_one(work_dir(args), args.mutant)


if __name__ == "__main__":
    main()
