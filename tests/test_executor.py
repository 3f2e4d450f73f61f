"""fewshot.executor: local and Ray executors give the same outcomes; a task that raises, or
whose Ray worker dies, is reported by name while the others finish; Ray is optional."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import pytest

import fewshot.executor as executor_module
from fewshot.config import result_fields
from fewshot.errors import UsageError
from fewshot.executor import (
    CommandFailed,
    CommandRun,
    ExecutorOptions,
    GpuTaskOptions,
    Outcome,
    Task,
    failure_report,
    make_shards,
    open_executor,
    run_command,
    write_in_order,
)

TASKS = [Task(f"task{i}", i) for i in range(5)]


def _options(executor: str) -> ExecutorOptions:
    return ExecutorOptions(executor=executor, workers=2)


def _outcomes(executor: str, fn, tasks=TASKS, context=None):
    with open_executor(_options(executor)) as ex:
        return sorted(ex.map(fn, tasks, context), key=lambda o: o.index)


@pytest.fixture(params=["local", "ray"])
def executor(request) -> str:
    """Each test once per executor; the Ray one on the session's 2-CPU cluster."""
    if request.param == "ray":
        request.getfixturevalue("ray_session")
    return request.param


def test_values_follow_the_tasks_whatever_the_executor(executor):
    def square_plus(context, item):  # a local function: Ray ships it by value
        return item * item + context

    outcomes = _outcomes(executor, square_plus, context=10)
    assert [(o.name, o.index, o.value, o.ok) for o in outcomes] == [
        (f"task{i}", i, i * i + 10, True) for i in range(5)
    ]


def test_a_task_that_raises_is_named_and_the_others_finish(executor):
    def fail_on_two(context, item):
        if item == 2:
            raise ValueError(f"bad item {item}")
        return item

    outcomes = _outcomes(executor, fail_on_two)
    failed = [o for o in outcomes if not o.ok]
    assert [o.name for o in failed] == ["task2"]
    assert failed[0].error == "ValueError: bad item 2"
    assert [o.value for o in outcomes if o.ok] == [0, 1, 3, 4]
    assert failure_report(failed) == "1 task(s) failed: task2: ValueError: bad item 2"


def test_a_dead_ray_worker_loses_only_its_task(ray_session):
    def die_on_one(context, item):
        if item == 1:
            os._exit(3)  # the worker process dies (as on OOM or a segfault)
        return item

    outcomes = _outcomes("ray", die_on_one, TASKS[:3])
    assert [o.value for o in outcomes if o.ok] == [0, 2]
    dead = [o for o in outcomes if not o.ok]
    assert [o.name for o in dead] == ["task1"] and "Worker" in dead[0].error


def test_missing_ray_is_a_usage_error_saying_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray raises ImportError
    with (
        pytest.raises(UsageError, match=r"pip install 'fewshot\[ray\]'"),
        open_executor(_options("ray")),
    ):
        pass
    with open_executor(_options("local")) as ex:  # local never imports Ray
        assert ex.name == "local" and ex.slots == 1


def test_executor_options_never_block_a_resume():
    assert not {"executor", "workers", "ray_address"} & set(result_fields(ExecutorOptions))
    assert result_fields(GpuTaskOptions) == []


def test_run_command_logs_output_and_raises_on_failure(tmp_path, capfd):
    log = tmp_path / "logs" / "run.log"
    assert run_command(None, CommandRun("fewshot.distance", ("--help",), log)) >= 0
    assert "usage:" in log.read_text()
    with pytest.raises(CommandFailed, match="exit code 2"):
        run_command(None, CommandRun("fewshot.distance", ("--nope",), log))
    assert "unrecognized arguments: --nope" in log.read_text()
    print("still here")  # the descriptors are back
    assert "still here" in capfd.readouterr().out


def test_results_are_written_in_task_order_whatever_order_they_finish_in():
    finished = [Outcome("c", 2, value="C"), Outcome("a", 0, value="A"),
                Outcome("b", 1, error="boom"), Outcome("d", 3, value="D")]  # fmt: skip
    written: list[str] = []
    failed = write_in_order(finished, lambda o: written.append(o.name))
    assert written == ["a", "b", "c", "d"] and [o.name for o in failed] == ["b"]


def test_an_interruption_still_writes_every_finished_result():
    def interrupted():
        yield Outcome("c", 2, value="C")
        yield Outcome("b", 1, value="B")
        raise KeyboardInterrupt

    written: list[str] = []
    with pytest.raises(KeyboardInterrupt):
        write_in_order(interrupted(), lambda o: written.append(o.name))
    assert written == ["b", "c"]  # task 0 never finished: the others are kept anyway


def test_shards_are_consecutive_and_sized_by_slots():
    items = list(range(23))
    assert make_shards(items, 1) == [[i] for i in items]
    shards = make_shards(items, 2)
    assert [i for s in shards for i in s] == items and len(shards) == 8
    assert max(len(s) for s in make_shards(list(range(10_000)), 2)) == 50


def test_ray_tasks_fit_the_cluster(ray_session):
    def double(context, item):
        return 2 * item

    with open_executor(_options("ray")) as ex:  # 8 CPUs a task on a 2-CPU cluster: capped
        assert [o.value for o in ex.map(double, TASKS[:2], cpus=8)] in ([0, 2], [2, 0])
        with pytest.raises(UsageError, match="--gpus-per-task 1: the Ray cluster has 0 GPUs"):
            next(ex.map(double, TASKS[:1], gpus=1))


class _FakeRay:
    """Stands in for the ``ray`` module: records how fewshot starts and stops it."""

    def __init__(self, fail: bool = False) -> None:
        self.calls: list[tuple[str, dict]] = []
        self.fail = fail

    def is_initialized(self) -> bool:
        return False

    def init(self, **kwargs) -> None:
        self.calls.append(("init", kwargs))
        if self.fail:
            raise ConnectionError("no cluster there")

    def cluster_resources(self) -> dict:
        return {"CPU": 3.0}

    def shutdown(self) -> None:
        self.calls.append(("shutdown", {}))


def test_embedded_ray_is_started_for_the_command_and_stopped(monkeypatch):
    fake = _FakeRay()
    monkeypatch.setitem(sys.modules, "ray", fake)
    with open_executor(ExecutorOptions(executor="ray", workers=3)) as ex:
        assert ex.name == "ray" and ex.slots == 3
    (name, kwargs), last = fake.calls
    assert name == "init" and last[0] == "shutdown"
    assert kwargs["num_cpus"] == 3 and not kwargs["include_dashboard"]
    assert kwargs["_system_config"] == {"worker_niceness": 0} and "address" not in kwargs


def test_a_cluster_address_is_joined_and_left_running(monkeypatch):
    fake = _FakeRay()
    monkeypatch.setitem(sys.modules, "ray", fake)
    monkeypatch.setattr(
        executor_module, "probe_address", lambda address: None
    )  # no host 'head' here
    with open_executor(ExecutorOptions(executor="ray", ray_address="head:6379")) as ex:
        assert ex.slots == 3  # the cluster's CPUs
    assert [c[0] for c in fake.calls] == ["init", "shutdown"]  # this process's connection
    assert fake.calls[0][1]["address"] == "head:6379" and "num_cpus" not in fake.calls[0][1]
    monkeypatch.setitem(sys.modules, "ray", _FakeRay(fail=True))
    with (
        pytest.raises(UsageError, match="cannot start or reach head:6379"),
        open_executor(ExecutorOptions(executor="ray", ray_address="head:6379")),
    ):
        pass


def closed_port() -> int:
    """A local TCP port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_closed_port_is_one_line_within_seconds():
    """The real Ray retries a closed port for minutes; the address probe says so at once
    (tests/test_score_executor.py runs the command against the real Ray package)."""
    address = f"127.0.0.1:{closed_port()}"
    start = time.monotonic()
    with pytest.raises(UsageError, match=f"cannot start or reach {address}") as exc:
        executor_module.probe_address(address)
    assert time.monotonic() - start < 30 and "\n" not in str(exc.value)
    with pytest.raises(UsageError, match="cannot start or reach ray://127.0.0.1"):
        executor_module.probe_address(f"ray://{address}")
    executor_module.probe_address("auto")  # addresses without a port are Ray's to resolve


REAL_RAY_PROBE = """
import sys, time
from fewshot.errors import UsageError
from fewshot.executor import ExecutorOptions, open_executor
start = time.monotonic()
try:
    with open_executor(ExecutorOptions(executor="ray", ray_address=sys.argv[1])):
        pass
except UsageError as exc:
    print(f"{time.monotonic() - start:.3f}")
    print(exc)
"""


def test_the_real_ray_on_a_closed_port_is_a_usage_error_within_30_s():
    """In a fresh process (no Ray session open), with the real Ray package imported: Ray
    alone retried 127.0.0.1:<closed port> for more than 300 s."""
    pytest.importorskip("ray")
    address = f"127.0.0.1:{closed_port()}"
    done = subprocess.run([sys.executable, "-c", REAL_RAY_PROBE, address], capture_output=True,
                          text=True, timeout=120, env=os.environ.copy())  # fmt: skip
    seconds, message = done.stdout.splitlines()
    assert float(seconds) < 30 and f"cannot start or reach {address}" in message


# -- ProcessExecutor: a child process per task (the consistency sweep's local executor) ----------


def _plus(context, item):
    """A task for spawned children (imported there by name)."""
    if item == 2:
        raise ValueError(f"bad item {item}")
    if item == 3:
        os._exit(7)  # the child dies without a result
    return item + context


def test_process_executor_gives_values_names_failures_and_dead_children():
    from fewshot.executor import ProcessExecutor

    ex = ProcessExecutor(_options("local"), jobs=2, start_method="spawn")
    assert ex.slots == 2
    outcomes = sorted(ex.map(_plus, TASKS, 10, threads=1), key=lambda o: o.index)
    assert [(o.name, o.value) for o in outcomes if o.ok] == [
        ("task0", 10), ("task1", 11), ("task4", 14)
    ]  # fmt: skip
    errors = {o.name: o.error for o in outcomes if not o.ok}
    assert errors == {
        "task2": "ValueError: bad item 2",
        "task3": "its process exited with code 7",
    }


def test_run_in_log_returns_exit_codes_and_logs_output(tmp_path, capfd):
    from fewshot.executor import run_in_log

    log = tmp_path / "logs" / "run.log"
    assert run_in_log(lambda: print("hello") or 0, log) == 0
    assert run_in_log(lambda: sys.exit(2), log) == 2
    with pytest.raises(ZeroDivisionError):
        run_in_log(lambda: 1 / 0, log)
    text = log.read_text()
    assert "hello" in text and "ZeroDivisionError" in text
    assert "hello" not in capfd.readouterr().out


def test_log_records_follow_each_runs_redirected_stderr(tmp_path):
    """A worker running several commands: each one's log records land in its own log, not in
    the first one's (closed) file (fewshot.cli.StderrHandler, set up once)."""
    import logging

    from fewshot.cli import StderrHandler
    from fewshot.executor import run_in_log

    logger = logging.getLogger("fewshot.test_worker")
    logger.propagate = False
    handler = StderrHandler()
    logger.addHandler(handler)
    try:
        for name in ("first", "second"):
            assert (
                run_in_log(lambda name=name: logger.warning("run %s", name), tmp_path / name) == 0
            )
    finally:
        logger.removeHandler(handler)
    assert "run first" in (tmp_path / "first").read_text()
    assert "run second" in (tmp_path / "second").read_text()
