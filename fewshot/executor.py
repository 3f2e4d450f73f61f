"""Where independent tasks run: in this process one after the other (``local``), or as Ray tasks.

fewshot's bulk jobs are many independent runs: shards of archs to score (``fewshot.score``),
(metric, seed) splits (``tools/sweep.py``), leaves to train (``fewshot.train``), search repeats
(``fewshot.search``), shards of AnyNets to score (``fewshot.refine``). Rather than grow a
home-made pool, they run on Ray (https://docs.ray.io) when asked, and in-process otherwise
(issue 14):

- :class:`ExecutorOptions` (``--executor local|ray``, ``--workers N``, ``--ray-address ADDR``)
  and :class:`GpuTaskOptions` (adds ``--gpus-per-task``) are mixed into a command's
  configuration; none of them changes results (``affects_results=False``), so a run started
  with one executor may be resumed with the other.
- :func:`open_executor` gives an :class:`Executor` whose :meth:`~Executor.map` runs
  ``fn(context, item)`` for every :class:`Task` and yields an :class:`Outcome` per task as it
  finishes. A task that raises (or whose Ray worker dies) becomes a failed outcome carrying
  the task's name; the other tasks go on. The caller (one process: the driver) writes every
  result (:func:`write_in_order`: in task order), so files have one writer, and
  :func:`failure_report` names what failed. ``fewshot.score`` runs its local
  tasks through :class:`Executor`, the consistency sweep through :class:`ProcessExecutor`
  (a child process per task, ``--jobs`` at a time); train, search and refine keep their own
  local path, unchanged (an error there stops the command, as before).
- Ray is imported only for ``--executor ray`` (a clear error says how to install it). An empty
  ``--ray-address`` starts an embedded Ray with ``--workers`` CPUs for this command and stops
  it at the end; ``auto`` or ``HOST:6379`` joins a running cluster, which is left running. A
  Ray session already open in this process (a notebook, the test suite) is reused as is.

Results do not depend on the executor: tasks are deterministic functions of their inputs
(each seeds its own work), and the driver writes them in task order.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import multiprocessing
import multiprocessing.connection
import os
import socket
import sys
import time
import traceback
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, Literal, TypeVar

from fewshot.config import option
from fewshot.errors import UsageError

log = logging.getLogger("fewshot")

I = TypeVar("I")  # noqa: E741  (a task's item)
R = TypeVar("R")  # a task's result

EXECUTOR_GROUP = "executor (independent runs: local, or Ray tasks)"
RAY_INSTALL = "pip install 'fewshot[ray]'"
AUTH_HINT = (
    "give the cluster's token: --ray-auth-token-path FILE (the head's ~/.ray/auth_token; "
    "`ray get-auth-token` on the head prints it), or RAY_AUTH_TOKEN=TOKEN or "
    "RAY_AUTH_TOKEN_PATH=FILE in the environment"
)
AUTH_FAILURES = ("InvalidAuthToken", "Unauthenticated", "AuthenticationError")
"""What Ray logs (from its C++ client, straight to stderr) when a cluster refuses a token."""
PROBE_TIMEOUT_S = 5.0
"""Seconds :func:`probe_address` waits for a TCP connection to a cluster address."""
MAX_RETRIES = 1
"""Times Ray re-runs a task whose worker died (a task that raised is not re-run)."""
ERROR_CHARS = 500


@dataclass(kw_only=True)
class ExecutorOptions:
    """Where a command's independent tasks run (mixed into its configuration)."""

    executor: Literal["local", "ray"] = option(
        "local",
        help="local: one task after the other in this process; ray: Ray tasks (embedded "
        "local Ray, or the cluster at --ray-address)",
        group=EXECUTOR_GROUP,
        affects_results=False,
    )
    workers: int | None = option(
        None,
        help="ray: tasks at a time (the embedded Ray's CPUs; default: this machine's cores; "
        "on a cluster: no limit)",
        minimum=1,
        group=EXECUTOR_GROUP,
        affects_results=False,
    )
    ray_address: str = option(
        "",
        help="ray: a running cluster (HOST:6379, or 'auto' for the local node's); empty: "
        "start an embedded Ray for this command",
        group=EXECUTOR_GROUP,
        metavar="ADDR",
        affects_results=False,
    )
    ray_auth_token_path: Path | None = option(
        None,
        help="ray: a file holding the cluster's authentication token (Ray's token "
        "authentication, its default; the head's ~/.ray/auth_token, printed by `ray "
        "get-auth-token`); default: $RAY_AUTH_TOKEN, $RAY_AUTH_TOKEN_PATH or "
        "~/.ray/auth_token when one is there",
        group=EXECUTOR_GROUP,
        metavar="FILE",
        affects_results=False,
    )


@dataclass(kw_only=True)
class GpuTaskOptions(ExecutorOptions):
    """:class:`ExecutorOptions` plus the GPUs each Ray task reserves (training)."""

    gpus_per_task: float = option(
        0.0,
        help="ray: GPUs each task reserves (a fraction shares a GPU; 0: CPU tasks)",
        minimum=0,
        group=EXECUTOR_GROUP,
        affects_results=False,
    )


# -- tasks and outcomes ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Task(Generic[I]):
    """One independent piece of work: a name for messages (arch, run, leaf) and its input."""

    name: str
    item: I


@dataclass(frozen=True)
class Outcome(Generic[R]):
    """What one task gave: its value, or the error that stopped it (``ok`` tells which)."""

    name: str
    index: int
    value: R | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def failure_report(failed: Sequence[Outcome[Any]]) -> str:
    """One line naming every failed task and its error (for stderr; empty if none failed)."""
    if not failed:
        return ""
    items = "; ".join(f"{o.name}: {o.error}" for o in failed)
    return f"{len(failed)} task(s) failed: {items}"


class TasksFailed(RuntimeError):
    """Raised where a command needs every task's result and some failed; names them all."""

    def __init__(self, failed: Sequence[Outcome[Any]]) -> None:
        super().__init__(failure_report(failed))
        self.failed = list(failed)


MAX_SHARD = 50
"""Most items in one shard (a lost worker loses at most this many)."""
SHARDS_PER_SLOT = 4
"""Shards per concurrent task, so that fast workers take more shards than slow ones."""


def make_shards(items: Sequence[I], slots: int) -> list[list[I]]:
    """Consecutive shards of ``items``: one item each for one slot (a killed local run loses
    at most the item in progress), else about ``SHARDS_PER_SLOT`` shards per slot."""
    size = 1 if slots <= 1 else -(-len(items) // (SHARDS_PER_SLOT * slots))
    size = max(1, min(MAX_SHARD, size))
    return [list(items[i : i + size]) for i in range(0, len(items), size)]


def write_in_order(
    outcomes: Iterable[Outcome[R]], write: Callable[[Outcome[R]], None]
) -> list[Outcome[R]]:
    """Consume ``outcomes`` and ``write`` each in task order, as soon as every earlier task
    has finished (so a file is the same whatever order the tasks finish in); when interrupted,
    the finished outcomes still waiting are written before leaving. Returns the failed ones."""
    waiting: dict[int, Outcome[R]] = {}
    failed: list[Outcome[R]] = []
    upcoming = 0
    try:
        for outcome in outcomes:
            if not outcome.ok:
                log.error("%s failed: %s", outcome.name, outcome.error)
                failed.append(outcome)
            waiting[outcome.index] = outcome
            while upcoming in waiting:
                write(waiting.pop(upcoming))
                upcoming += 1
    finally:
        for index in sorted(waiting):
            write(waiting.pop(index))
    return failed


def _short(exc: BaseException) -> str:
    text = " ".join(f"{type(exc).__name__}: {exc}".split())
    return text if len(text) <= ERROR_CHARS else text[: ERROR_CHARS - 3] + "..."


def call_task(fn: Callable[[Any, Any], R], context: Any, item: Any, threads: int | None) -> R:
    """Run one task's function; in a Ray worker, first set torch's CPU threads to ``threads``
    (Ray gives each task ``OMP_NUM_THREADS`` = its CPUs, torch's default follows that)."""
    if threads is not None:
        import torch

        torch.set_num_threads(threads)
    return fn(context, item)


@dataclass(frozen=True)
class CommandRun:
    """A fewshot command to run inside a worker: ``module.main(argv)``, output to ``log``."""

    module: str
    argv: tuple[str, ...]
    log: Path


class CommandFailed(RuntimeError):
    """A command run by :func:`run_command` exited with a non-zero code."""


def run_command(context: Any, run: CommandRun) -> float:
    """Run a command's ``main`` in this (worker) process with stdout and stderr appended to
    its log; returns its seconds, raises :class:`CommandFailed` on a non-zero exit.

    In-process, so a Ray worker imports torch and the command once for all the runs it gets.
    The file descriptors are restored afterwards: the worker runs other tasks next.
    """
    start = time.perf_counter()
    rc = run_in_log(lambda: importlib.import_module(run.module).main(list(run.argv)), run.log)
    if rc != 0:
        raise CommandFailed(f"exit code {rc}, see {run.log}")
    return time.perf_counter() - start


def run_in_log(main: Callable[[], int | None], log: Path) -> int:
    """``main()``'s exit code (``None`` is 0, ``SystemExit`` gives its code), run with stdout
    and stderr appended to ``log``; an exception is printed into the log and re-raised.

    What a command's process would do with its output, done in this (worker) process: the
    file descriptors are restored afterwards, as the worker runs other tasks next.
    """
    with _output_to(log):
        try:
            return int(main() or 0)
        except SystemExit as exc:  # argparse and sys.exit in the command
            return exc.code if isinstance(exc.code, int) else 1
        except Exception:
            traceback.print_exc()  # into the run's log; the task reports the error itself
            raise


@contextlib.contextmanager
def _output_to(path: Path) -> Iterator[None]:
    """``sys.stdout``, ``sys.stderr`` and file descriptors 1 and 2 (output of C code, and of
    handlers holding the original streams) appended to ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with path.open("a", encoding="utf-8", buffering=1) as log:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        try:
            with contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
                yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])


# -- executors ------------------------------------------------------------------------------------


class Executor:
    """Runs tasks in this process, in order (``--executor local``: fewshot's behaviour before
    Ray); :class:`RayExecutor` overrides :meth:`map`."""

    name = "local"

    def __init__(self, options: ExecutorOptions) -> None:
        self.options = options

    @property
    def slots(self) -> int:
        """How many tasks run at a time (to size shards)."""
        return 1

    def map(
        self,
        fn: Callable[[Any, I], R],
        tasks: Sequence[Task[I]],
        context: Any = None,
        *,
        cpus: float = 1,
        gpus: float = 0,
        threads: int | None = None,
    ) -> Iterator[Outcome[R]]:
        """``fn(context, task.item)`` for every task, one outcome each as it finishes.

        ``cpus``/``gpus``: what each Ray task reserves; ``threads``: torch threads inside a
        Ray task (a local task uses this process's setting). Ray pickles ``fn`` with
        cloudpickle: a module's function is imported by name in the workers, a local function
        is shipped by value.
        """
        for index, task in enumerate(tasks):
            try:
                value = fn(context, task.item)
            except Exception as exc:  # one task's failure must not stop the others
                log.debug("task %s failed:\n%s", task.name, traceback.format_exc())
                yield Outcome(task.name, index, error=_short(exc))
            else:
                yield Outcome(task.name, index, value=value)


class RayExecutor(Executor):
    """Runs tasks as Ray tasks (at most ``--workers`` at a time); see the module docstring."""

    name = "ray"

    def __init__(self, options: ExecutorOptions, ray: Any) -> None:
        super().__init__(options)
        self.ray = ray

    @property
    def slots(self) -> int:
        if self.options.workers:
            return self.options.workers
        return max(1, int(self.ray.cluster_resources().get("CPU", 1)))

    def map(
        self,
        fn: Callable[[Any, I], R],
        tasks: Sequence[Task[I]],
        context: Any = None,
        *,
        cpus: float = 1,
        gpus: float = 0,
        threads: int | None = None,
    ) -> Iterator[Outcome[R]]:
        """Submit up to ``--workers`` tasks at a time; yield each outcome as it finishes.

        A task never reserves more CPUs than the cluster has (it would wait forever: with
        ``--threads`` above an embedded Ray's ``--workers`` CPUs, tasks run one at a time),
        and GPUs the cluster lacks are a :class:`UsageError`.
        """
        cpus = self._fitting(cpus, gpus)
        remote = self.ray.remote(call_task)
        resources = {"num_cpus": cpus, "num_gpus": gpus, "max_retries": MAX_RETRIES}
        shared = self.ray.put(context)  # shipped once, not once per task
        limit = self.options.workers or len(tasks) or 1
        queue = list(enumerate(tasks))
        pending: dict[Any, tuple[int, Task[I]]] = {}
        try:
            while queue or pending:
                while queue and len(pending) < limit:
                    index, task = queue.pop(0)
                    submit = remote.options(name=_ray_name(task.name), **resources)
                    ref = submit.remote(fn, shared, task.item, threads)
                    pending[ref] = (index, task)
                ready, _ = self.ray.wait(list(pending), num_returns=1)
                for ref in ready:
                    index, task = pending.pop(ref)
                    yield self._outcome(ref, index, task)
        finally:
            for ref in pending:  # interrupted: do not leave work running on the cluster
                with contextlib.suppress(Exception):
                    self.ray.cancel(ref, force=True)

    def _fitting(self, cpus: float, gpus: float) -> float:
        """``cpus`` capped at the cluster's CPUs; an error if it has fewer than ``gpus`` GPUs."""
        total = self.ray.cluster_resources()
        if gpus > total.get("GPU", 0):
            raise UsageError(
                f"--gpus-per-task {gpus:g}: the Ray cluster has {total.get('GPU', 0):g} GPUs "
                "(start Ray on GPU nodes, or use --gpus-per-task 0)"
            )
        return min(cpus, total.get("CPU", cpus))

    def _outcome(self, ref: Any, index: int, task: Task[Any]) -> Outcome[Any]:
        try:
            return Outcome(task.name, index, value=self.ray.get(ref))
        except self.ray.exceptions.RayTaskError as exc:  # the task raised: report its error
            cause = exc.cause if isinstance(exc.cause, BaseException) else exc
            return Outcome(task.name, index, error=_short(cause))
        except self.ray.exceptions.RayError as exc:  # its worker died, or it was cancelled
            return Outcome(task.name, index, error=_short(exc))


class ProcessExecutor(Executor):
    """Runs every task in a child process of its own, ``jobs`` at a time (the sweep's local
    path): ``start_method`` ``fork`` (the child inherits this process's imports: torch and
    the command's modules are not imported again per task) or ``spawn`` (a fresh
    interpreter per task).

    Children are started from the calling thread, which must be the process's only thread
    for ``fork`` (a fork made while another thread holds a lock can deadlock: a
    ``multiprocessing.Pool`` forks replacement workers from a handler thread, so no pool is
    used). The parent waits on the children's result pipes; a child that dies without a
    result (killed, ``os._exit``) is a failed outcome naming its exit code.
    """

    name = "process"

    def __init__(self, options: ExecutorOptions, *, jobs: int, start_method: str) -> None:
        super().__init__(options)
        self.jobs = max(1, jobs)
        self.context = multiprocessing.get_context(start_method)

    @property
    def slots(self) -> int:
        return self.jobs

    def map(
        self,
        fn: Callable[[Any, I], R],
        tasks: Sequence[Task[I]],
        context: Any = None,
        *,
        cpus: float = 1,
        gpus: float = 0,
        threads: int | None = None,
    ) -> Iterator[Outcome[R]]:
        """``fn(context, task.item)`` in a child process per task (torch threads ``threads``);
        ``fn``, ``context`` and items must pickle for ``spawn``, as must every result."""
        queue = list(enumerate(tasks))
        running: dict[Any, tuple[int, Task[I], Any]] = {}
        try:
            while queue or running:
                while queue and len(running) < self.jobs:
                    index, task = queue.pop(0)
                    receive, send = self.context.Pipe(duplex=False)
                    proc = self.context.Process(
                        target=_child, args=(send, fn, context, task.item, threads),
                        name=_ray_name(task.name),
                    )  # fmt: skip
                    proc.start()
                    send.close()  # the child holds the only sending end: EOF when it dies
                    running[receive] = (index, task, proc)
                for receive in multiprocessing.connection.wait(list(running)):
                    index, task, proc = running.pop(receive)
                    yield _child_outcome(receive, proc, index, task)
        finally:
            for _, _, proc in running.values():  # interrupted: stop the children still running
                proc.terminate()
                proc.join()


def _child(send: Any, fn: Callable[[Any, Any], Any], context: Any, item: Any,
           threads: int | None) -> None:  # fmt: skip
    """Body of a :class:`ProcessExecutor` child: one task, its result sent to the parent."""
    try:
        result: tuple[str, Any] = ("ok", call_task(fn, context, item, threads))
    except Exception as exc:  # reported as the task's failure, like a local task's
        log.debug("task failed:\n%s", traceback.format_exc())
        result = ("error", _short(exc))
    sys.stdout.flush()
    sys.stderr.flush()
    send.send(result)
    send.close()


def _child_outcome(receive: Any, proc: Any, index: int, task: Task[Any]) -> Outcome[Any]:
    """The outcome a child sent, or a failure naming its exit code when it sent none."""
    try:
        kind, value = receive.recv()
    except EOFError:
        kind, value = "died", None
    finally:
        receive.close()
    proc.join()
    if kind == "ok":
        return Outcome(task.name, index, value=value)
    if kind == "error":
        return Outcome(task.name, index, error=value)
    return Outcome(task.name, index, error=f"its process exited with code {proc.exitcode}")


def _ray_name(name: str) -> str:
    """A task name for Ray's dashboard (Ray names must be short plain text)."""
    return "".join(c if c.isalnum() or c in "-_.:" else "_" for c in name)[:100]


def import_ray() -> Any:
    """The ``ray`` module, or a :class:`UsageError` saying how to install it."""
    try:
        import ray
    except ImportError as exc:
        raise UsageError(
            f"--executor ray needs Ray, which is not installed ({exc}); {RAY_INSTALL}"
        ) from None
    return ray


@contextlib.contextmanager
def open_executor(options: ExecutorOptions) -> Iterator[Executor]:
    """The executor ``options`` ask for; an embedded Ray is started here and shut down after."""
    if options.executor == "local":
        yield Executor(options)
        return
    token = use_auth_token(options) if options.ray_address else None
    ray = import_ray()
    if token is not None:
        _refresh_auth(ray)
    started = _connect(ray, options, token)
    try:
        yield RayExecutor(options, ray)
    finally:
        if started:
            ray.shutdown()


def use_auth_token(options: ExecutorOptions) -> str | None:
    """Point Ray at the cluster's authentication token, when one is available, and say where it
    came from (None: no token, the cluster must run without authentication).

    ``--ray-auth-token-path`` wins (Ray's ``RAY_AUTH_TOKEN_PATH``); else ``RAY_AUTH_TOKEN``,
    ``RAY_AUTH_TOKEN_PATH`` or ``~/.ray/auth_token``, where Ray looks. Ray's client uses a
    token for an explicit address only with ``RAY_AUTH_MODE=token``, which is set here when a
    token is available and the mode is not set (a token is harmless on a cluster without
    authentication). An explicit ``RAY_AUTH_MODE`` is respected.
    """
    flag = options.ray_auth_token_path
    if flag is not None:
        path = Path(flag).expanduser()
        if not path.is_file():
            raise UsageError(f"--ray-auth-token-path: {path} is not a file; {AUTH_HINT}")
        os.environ["RAY_AUTH_TOKEN_PATH"] = str(path.resolve())
        os.environ.pop("RAY_AUTH_TOKEN", None)
        os.environ["RAY_AUTH_MODE"] = "token"
        return f"--ray-auth-token-path {path}"
    source = _token_source()
    mode = os.environ.get("RAY_AUTH_MODE")
    if source is None or (mode is not None and mode.lower() != "token"):
        return None
    os.environ["RAY_AUTH_MODE"] = "token"
    return source


def _token_source() -> str | None:
    """Where Ray would read a token from: the variable or file, or None."""
    if os.environ.get("RAY_AUTH_TOKEN"):
        return "RAY_AUTH_TOKEN"
    path = os.environ.get("RAY_AUTH_TOKEN_PATH")
    if path:
        return f"RAY_AUTH_TOKEN_PATH={path}" if Path(path).expanduser().is_file() else None
    default = Path.home() / ".ray" / "auth_token"
    return str(default) if default.is_file() else None


def _refresh_auth(ray: Any) -> None:
    """Make an already imported Ray read the authentication variables again (it caches them
    when first imported); nothing to do for a fresh import."""
    with contextlib.suppress(Exception):  # Ray's internals: absent in other versions, or fakes
        raylet = importlib.import_module("ray._raylet")
        raylet.Config.initialize("")
        raylet.AuthenticationTokenLoader.instance().reset_cache()


@contextlib.contextmanager
def _stderr_captured() -> Iterator[list[str]]:
    """Collect what this process (Ray's C++ client included) writes to file descriptor 2 in
    the block; the lines are in the yielded list afterwards (and are not shown)."""
    import tempfile

    lines: list[str] = []
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as tmp:
        os.dup2(tmp.fileno(), 2)
        try:
            yield lines
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            tmp.seek(0)
            lines.extend(tmp.read().decode("utf-8", "replace").splitlines())


def probe_address(address: str, timeout: float = PROBE_TIMEOUT_S) -> None:
    """Raise :class:`UsageError` when a ``HOST:PORT`` (or ``ray://HOST:PORT``) Ray address
    accepts no TCP connection within ``timeout`` seconds.

    Ray itself retries an unreachable cluster (a closed port, a host that does not resolve)
    for minutes; a plain connect says at once that nothing listens there. ``auto`` and other
    addresses without a port are left to Ray.
    """
    host, sep, port = address.removeprefix("ray://").rpartition(":")
    if not (sep and host and port.isdigit()):
        return
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout):
            pass
    except (OSError, UnicodeError) as exc:
        raise UsageError(
            f"--executor ray: cannot start or reach {address} (nothing accepts connections "
            f"there: {exc}); start the cluster (ray start --head) or drop --ray-address for an "
            "embedded Ray"
        ) from None


def _connect(ray: Any, options: ExecutorOptions, token: str | None = None) -> bool:
    """Connect to Ray as ``options`` say (``token``: where the authentication token came
    from, :func:`use_auth_token`); True when this call started a session to end."""
    if ray.is_initialized():
        log.info("using the Ray session already open in this process")
        return False
    kwargs: dict[str, Any] = {"include_dashboard": False, "configure_logging": False}
    if options.ray_address:
        probe_address(options.ray_address)
        kwargs["address"] = options.ray_address
    else:  # Ray nices its workers (15); here they share the machine like local runs do
        kwargs["num_cpus"] = options.workers or os.cpu_count() or 1
        kwargs["_system_config"] = {"worker_niceness": 0}
    where = options.ray_address or "an embedded Ray"
    error: BaseException | None = None
    # a cluster's refusal is logged by Ray's C++ client, not raised: read it from stderr (an
    # embedded Ray is not captured: the processes it starts would keep writing to the capture)
    capture = _stderr_captured() if options.ray_address else contextlib.nullcontext([])
    with capture as output:
        try:
            ray.init(**kwargs)
        except Exception as exc:  # ConnectionError, RuntimeError, Ray's AuthenticationError
            error = exc
    refused = _auth_refusal(output, error)
    if refused:
        raise UsageError(_auth_message(where, token, refused)) from None
    if output:
        print("\n".join(output), file=sys.stderr)
    if error is not None:
        if not isinstance(error, ConnectionError | RuntimeError | ValueError):
            raise error
        raise UsageError(f"--executor ray: cannot start or reach {where} ({error})") from None
    log.info("Ray: %s", ray.cluster_resources())
    return True


def _auth_refusal(output: Sequence[str], error: BaseException | None) -> str:
    """Ray's words for an authentication failure (its log lines or its exception), or ''."""
    texts = [*output, f"{type(error).__name__}: {error}" if error is not None else ""]
    for text in texts:
        if any(word in text for word in AUTH_FAILURES):
            return text.split("RPC error: ")[-1].strip()[:200]
    return ""


def _auth_message(where: str, token: str | None, refused: str) -> str:
    """One line for a cluster that refused this client: which token was sent, how to give one."""
    if token is None:
        return (
            f"--executor ray: {where} requires token authentication and no token was given "
            f"(Ray: {refused}); {AUTH_HINT}"
        )
    return (
        f"--executor ray: {where} refused the authentication token from {token} (Ray: "
        f"{refused}); {AUTH_HINT}"
    )


__all__ = [
    "CommandFailed",
    "CommandRun",
    "Executor",
    "ExecutorOptions",
    "GpuTaskOptions",
    "Outcome",
    "ProcessExecutor",
    "RayExecutor",
    "Task",
    "TasksFailed",
    "call_task",
    "failure_report",
    "import_ray",
    "make_shards",
    "open_executor",
    "probe_address",
    "run_command",
    "run_in_log",
    "use_auth_token",
    "write_in_order",
]
