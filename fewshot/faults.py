"""What a command does about the faults a cluster user meets: two writers, preemption, a full disk.

- **One writer per run folder** (:func:`lock_folder`): a command that writes a run folder
  (or a leaf of one) holds ``FOLDER/.fewshot.lock`` while it runs. The file names the holder
  (host, pid, start time, command); a second command on the folder exits 2 at once naming it
  (:class:`FolderLocked`). On one host the lock is an ``flock`` the kernel releases when its
  process dies, so a lock left by a killed command is recognised at once (its pid is gone)
  and taken over with one line saying so; on a shared file system seen from another host, a
  lock whose heartbeat (the file's modification time, renewed every
  :data:`HEARTBEAT_S` seconds) is older than :data:`STALE_S` seconds is stale. The processes
  one command starts (DDP ranks, the sweep's children, an embedded Ray's workers) share its
  lock: the holder's token is put into their environment (:data:`TOKEN_ENV`), and a folder
  held under the same token is theirs too. Locks are released when the command's
  :func:`fewshot.cli.run_main` returns (:func:`release_since`).
- **Preemption** (:func:`preemption_signal`, :class:`Preempted`): ``run_main`` turns SIGTERM
  into :class:`Preempted`; training defers it (:func:`defer_preemption`) to its next step
  boundary, where it saves a checkpoint first (:mod:`fewshot.training.trainer`).
- **A full disk** is an ``OSError`` (``ENOSPC``/``EDQUOT``) that :func:`disk_full_message`
  turns into one line naming the path and the space needed.

Imports nothing from the library but :mod:`fewshot.errors`; every command uses it.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import logging
import os
import shutil
import signal
import socket
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

from fewshot.errors import UsageError

log = logging.getLogger("fewshot")

LOCK_NAME = ".fewshot.lock"
"""The lock file a writing command holds in its run folder (removed when it ends)."""
TOKEN_ENV = "FEWSHOT_LOCK_TOKEN"
"""Environment variable carrying the lock token of the command that started this process."""
HEARTBEAT_S = float(os.environ.get("FEWSHOT_LOCK_HEARTBEAT_S", "30"))
"""Seconds between two renewals of a held lock's modification time."""
STALE_S = float(os.environ.get("FEWSHOT_LOCK_STALE_S", "600"))
"""A lock of another host whose heartbeat is older than this many seconds is stale."""
DISK_ERRNOS = (errno.ENOSPC, errno.EDQUOT)


class FolderLocked(UsageError):
    """Another command holds the run folder's lock (printed as one line, exit 2)."""


# -- one writer per run folder --------------------------------------------------------------------


@dataclass
class FolderLock:
    """A lock this process holds on ``folder`` (``fd`` is None when shared with the
    command that started this process)."""

    folder: Path
    fd: int | None
    count: int = 1
    stop: threading.Event = field(default_factory=threading.Event)


_held: dict[Path, FolderLock] = {}
_order: list[Path] = []


def _token() -> str:
    """This command's lock token (made once, inherited by the processes it starts)."""
    token = os.environ.get(TOKEN_ENV)
    if not token:
        token = os.environ[TOKEN_ENV] = uuid.uuid4().hex
    return token


def _command() -> str:
    """This process's command line as a user typed it (``python -m fewshot.train RUN ...``)."""
    main = sys.modules.get("__main__")
    spec = getattr(main, "__spec__", None)
    head = (
        ["python", "-m", spec.name.removesuffix(".__main__")] if spec else ["python", sys.argv[0]]
    )
    return " ".join([*head, *sys.argv[1:]])[:300]


def _describe(holder: dict[str, Any]) -> str:
    started = holder.get("started")
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(started)) if started else "?"
    return (
        f"host {holder.get('host', '?')}, pid {holder.get('pid', '?')}, started {when}, "
        f"command: {holder.get('command', '?')}"
    )


def _read_holder(fd: int) -> dict[str, Any]:
    os.lseek(fd, 0, os.SEEK_SET)
    raw = os.read(fd, 65536)
    try:
        holder = json.loads(raw.decode("utf-8")) if raw.strip() else {}
    except (UnicodeDecodeError, json.JSONDecodeError):
        return {"unreadable": True}
    return holder if isinstance(holder, dict) else {"unreadable": True}


def _pid_alive(pid: Any) -> bool:
    try:
        os.kill(int(pid), 0)
    except (ProcessLookupError, ValueError, TypeError):
        return False
    except PermissionError:
        return True
    return True


def _alive(holder: dict[str, Any], age: float, flocked: bool | None) -> bool:
    """Whether the command that wrote ``holder`` still holds the lock. ``flocked``: whether
    this process could take the ``flock`` (None: the file system has no ``flock``)."""
    if not holder or holder.get("unreadable"):
        return False
    if holder.get("host") == socket.gethostname():
        # on one host the kernel's flock is the truth; without flock, the pid
        return not flocked if flocked is not None else _pid_alive(holder.get("pid"))
    return age < STALE_S


def _try_flock(fd: int) -> bool | None:
    """True: this process holds the flock now; False: another does; None: no flock here."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    except OSError as exc:
        if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            return False
        return None  # ENOLCK, ENOSYS, EOPNOTSUPP: a file system without flock
    return True


def _open_lock(path: Path) -> tuple[int, bool | None]:
    """Open ``path`` and try its flock, retrying when the file was replaced meanwhile."""
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        flocked = _try_flock(fd)
        try:
            same = os.fstat(fd).st_ino == os.stat(path).st_ino
        except FileNotFoundError:
            same = False
        if same:
            return fd, flocked
        os.close(fd)  # released and removed by its holder between open and flock: again


def lock_folder(folder: str | os.PathLike[str], *, wait: float = 0.0) -> FolderLock:
    """Hold ``folder``'s lock for this command (made with the folder; re-entrant).

    Raises :class:`FolderLocked` naming the holder when another command holds it after
    ``wait`` seconds; a stale lock (its process gone, or its heartbeat too old) is taken over
    with one warning line. The lock is released by :func:`release` or when
    :func:`fewshot.cli.run_main` returns.
    """
    folder = Path(folder).resolve()
    if folder in _held:
        _held[folder].count += 1
        return _held[folder]
    folder.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + wait
    while True:
        lock = _attempt(folder)
        if lock is not None:
            break
        if time.monotonic() >= deadline:
            raise _refusal(folder)
        time.sleep(min(1.0, max(0.05, deadline - time.monotonic())))
    _held[folder] = lock
    _order.append(folder)
    return lock


def _attempt(folder: Path) -> FolderLock | None:
    """One try at ``folder``'s lock: held (or shared), or None while another command holds it."""
    path = folder / LOCK_NAME
    fd, flocked = _open_lock(path)
    holder = _read_holder(fd)
    try:
        age = time.time() - os.fstat(fd).st_mtime
    except OSError:
        age = 0.0
    if holder.get("token") == _token() and holder.get("pid") != os.getpid():
        os.close(fd)  # the command that started this process holds it: shared
        return FolderLock(folder, None)
    if _alive(holder, age, flocked):
        os.close(fd)
        return None
    if flocked is False:  # another process's flock, though its record says it is gone
        os.close(fd)
        return None
    if holder:
        log.warning(
            "%s: taking over a stale lock (%s)",
            folder,
            "unreadable" if holder.get("unreadable") else _describe(holder),
        )
    _write_holder(fd)
    lock = FolderLock(folder, fd)
    threading.Thread(target=_heartbeat, args=(path, lock.stop), daemon=True).start()
    return lock


def _write_holder(fd: int) -> None:
    record = {
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "started": time.time(),
        "command": _command(),
        "token": _token(),
    }
    os.ftruncate(fd, 0)
    os.lseek(fd, 0, os.SEEK_SET)
    os.write(fd, (json.dumps(record) + "\n").encode("utf-8"))
    os.fsync(fd)


def _heartbeat(path: Path, stop: threading.Event) -> None:
    while not stop.wait(HEARTBEAT_S):
        with contextlib.suppress(OSError):
            os.utime(path)


def _refusal(folder: Path) -> FolderLocked:
    path = folder / LOCK_NAME
    try:
        holder = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        holder = {}
    return FolderLocked(
        f"{folder} is in use by another command ({_describe(holder)}); wait for it to end, or "
        f"remove {path} if that command is gone"
    )


def release(lock: FolderLock) -> None:
    """Release ``lock`` (once per :func:`lock_folder` call); the last release removes the file."""
    lock.count -= 1
    if lock.count > 0:
        return
    _held.pop(lock.folder, None)
    if lock.folder in _order:
        _order.remove(lock.folder)
    lock.stop.set()
    if lock.fd is None:
        return
    with contextlib.suppress(OSError):
        (lock.folder / LOCK_NAME).unlink()
    with contextlib.suppress(OSError):
        os.close(lock.fd)  # closing releases the flock


@contextlib.contextmanager
def holding(folder: str | os.PathLike[str], *, wait: float = 0.0) -> Iterator[FolderLock]:
    """:func:`lock_folder` for the duration of a ``with`` block."""
    lock = lock_folder(folder, wait=wait)
    try:
        yield lock
    finally:
        release(lock)


def held_count() -> int:
    """How many folders this process holds now (a mark for :func:`release_since`)."""
    return len(_order)


def release_since(mark: int) -> None:
    """Release every lock taken after ``mark`` (:func:`held_count`), newest first: a command's
    locks when it returns, never those of a command that ran it in-process."""
    for folder in list(reversed(_order[mark:])):
        lock = _held.get(folder)
        if lock is not None:
            lock.count = 1
            release(lock)


# -- preemption -----------------------------------------------------------------------------------


class Preempted(BaseException):
    """SIGTERM or SIGINT reached a command; a training saved its checkpoint first."""

    def __init__(self, signum: int, where: str = "") -> None:
        super().__init__(signum, where)
        self.signum, self.where = signum, where

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


_deferred = False
_pending: int | None = None


def _on_signal(signum: int, frame: FrameType | None) -> None:
    global _pending
    if _deferred and _pending is None:
        _pending = signum  # training checkpoints at its next step boundary, then raises
        log.warning(
            "received %s: saving a checkpoint at the next step boundary",
            signal.Signals(signum).name,
        )
        return
    raise Preempted(signum)


def install_signal_handlers() -> dict[int, Any]:
    """SIGTERM (and SIGINT) raise :class:`Preempted` (or are deferred, see
    :func:`defer_preemption`); returns the previous handlers. Main thread only."""
    if threading.current_thread() is not threading.main_thread():
        return {}
    previous = {}
    for signum in (signal.SIGTERM, signal.SIGINT):
        previous[signum] = signal.signal(signum, _on_signal)
    return previous


def restore_signal_handlers(previous: dict[int, Any]) -> None:
    for signum, handler in previous.items():
        signal.signal(signum, handler)


@contextlib.contextmanager
def defer_preemption() -> Iterator[None]:
    """Within the block, a SIGTERM/SIGINT only records itself (:func:`preemption_signal`)
    for the training loop to act on at its next step boundary; one that arrived after the
    loop's last step is raised as :class:`Preempted` when the block ends. The handlers are
    installed for the block (main thread), so library callers outside a command get the same
    checkpoint at a step boundary."""
    global _deferred, _pending
    before = _deferred
    _deferred = True
    handlers = install_signal_handlers() if not before else {}
    try:
        yield
    except BaseException:
        if not before:
            _pending = None
        raise
    finally:
        _deferred = before
        restore_signal_handlers(handlers)
    if not before and _pending is not None:
        signum, _pending = _pending, None
        raise Preempted(signum)


def preemption_signal() -> int | None:
    """The signal received while preemption was deferred, or None."""
    return _pending


def request_preemption(signum: int = signal.SIGTERM) -> None:
    """Record ``signum`` as if it had arrived (tests, and a handler of another library)."""
    _on_signal(signum, None)


# -- a full disk ----------------------------------------------------------------------------------


def is_disk_full(exc: BaseException) -> bool:
    """Whether ``exc`` is a file system out of space (or quota)."""
    return isinstance(exc, OSError) and exc.errno in DISK_ERRNOS


def disk_full_message(exc: OSError) -> str:
    """One line for a full disk: the path, the space needed when known, the space left."""
    text = exc.strerror or "no space left on device"
    path = exc.filename
    if path is None:
        return f"{text}; free some space and run the same command again to continue"
    free = ""
    with contextlib.suppress(OSError):
        free = f", {_size(shutil.disk_usage(_existing(Path(path))).free)} free there"
    return f"{text} ({path}{free}); free some space and run the same command again to continue"


def _existing(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def _size(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GB"


__all__ = [
    "DISK_ERRNOS",
    "HEARTBEAT_S",
    "LOCK_NAME",
    "STALE_S",
    "TOKEN_ENV",
    "FolderLock",
    "FolderLocked",
    "Preempted",
    "defer_preemption",
    "disk_full_message",
    "held_count",
    "holding",
    "install_signal_handlers",
    "is_disk_full",
    "lock_folder",
    "preemption_signal",
    "release",
    "release_since",
    "request_preemption",
    "restore_signal_handlers",
]
