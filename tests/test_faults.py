"""fewshot.faults and the atomic writer: run-folder locks (held, refused, stale, shared), a full
disk as one line with nothing partial left, preemption deferred to a step boundary."""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fewshot import faults
from fewshot.cli import run_main
from fewshot.io import atomic_write, atomic_write_text
from tests.conftest import REPO_ROOT

HOLD = """
import sys, time
from fewshot.faults import lock_folder
lock_folder(sys.argv[1])
print("held", flush=True)
time.sleep(float(sys.argv[2]))
"""


def _holder(folder: Path, seconds: float = 60.0) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
    env.pop(faults.TOKEN_ENV, None)
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(folder), str(seconds)],
        env=env, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    return proc


@pytest.fixture(autouse=True)
def _own_token(monkeypatch):
    """Each test is its own command: a fresh lock token, no locks left held."""
    monkeypatch.delenv(faults.TOKEN_ENV, raising=False)
    mark = faults.held_count()
    yield
    faults.release_since(mark)


def test_a_second_command_is_refused_naming_the_holder(tmp_path):
    proc = _holder(tmp_path / "run")
    try:
        start = time.monotonic()
        with pytest.raises(faults.FolderLocked) as info:
            faults.lock_folder(tmp_path / "run")
        assert time.monotonic() - start < 5
        message = str(info.value)
        assert f"pid {proc.pid}" in message and "host " in message and "started " in message
        assert "fewshot.faults" not in message and str(tmp_path / "run") in message
    finally:
        proc.kill()
        proc.wait()


def test_a_lock_left_by_a_killed_command_is_taken_over_with_one_line(tmp_path, caplog):
    proc = _holder(tmp_path / "run")
    proc.kill()
    proc.wait()
    assert (tmp_path / "run" / faults.LOCK_NAME).is_file()  # SIGKILL leaves the file
    with caplog.at_level("WARNING", logger="fewshot"):
        lock = faults.lock_folder(tmp_path / "run")
    lines = [r.getMessage() for r in caplog.records if "stale" in r.getMessage()]
    assert len(lines) == 1 and f"pid {proc.pid}" in lines[0]
    holder = json.loads((tmp_path / "run" / faults.LOCK_NAME).read_text())
    assert holder["pid"] == os.getpid()
    faults.release(lock)
    assert not (tmp_path / "run" / faults.LOCK_NAME).exists()


def test_another_hosts_lock_is_held_until_its_heartbeat_is_stale(tmp_path, monkeypatch, caplog):
    folder = tmp_path / "run"
    folder.mkdir()
    record = {"host": "elsewhere", "pid": 1, "started": time.time(), "command": "x", "token": "t"}
    (folder / faults.LOCK_NAME).write_text(json.dumps(record))
    with pytest.raises(faults.FolderLocked, match="host elsewhere"):
        faults.lock_folder(folder)
    old = time.time() - faults.STALE_S - 5
    os.utime(folder / faults.LOCK_NAME, (old, old))
    with caplog.at_level("WARNING", logger="fewshot"):
        faults.lock_folder(folder)
    assert any("stale" in r.getMessage() for r in caplog.records)


def test_locks_are_reentrant_and_released_when_the_command_returns(tmp_path):
    def main(_argv):
        faults.lock_folder(tmp_path / "a")
        faults.lock_folder(tmp_path / "a")
        with faults.holding(tmp_path / "b"):
            assert (tmp_path / "b" / faults.LOCK_NAME).is_file()
        assert not (tmp_path / "b" / faults.LOCK_NAME).exists()
        assert (tmp_path / "a" / faults.LOCK_NAME).is_file()
        return 0

    outer = faults.lock_folder(tmp_path / "outer")  # a command that ran this one in-process
    assert run_main(main, []) == 0
    assert not (tmp_path / "a" / faults.LOCK_NAME).exists()
    assert (tmp_path / "outer" / faults.LOCK_NAME).is_file()
    faults.release(outer)


def test_processes_a_command_starts_share_its_lock(tmp_path):
    faults.lock_folder(tmp_path / "run")
    child = subprocess.run(
        [sys.executable, "-c", "import sys; from fewshot.faults import lock_folder; "
         "print(lock_folder(sys.argv[1]).fd is None)", str(tmp_path / "run")],
        env=dict(os.environ, PYTHONPATH=str(REPO_ROOT)), capture_output=True, text=True,
    )  # fmt: skip
    assert child.returncode == 0 and child.stdout.strip() == "True", child.stderr


def test_a_held_folder_exits_2_with_one_line(tmp_path, capsys):
    proc = _holder(tmp_path / "run")
    try:
        assert run_main(lambda _: faults.lock_folder(tmp_path / "run") and 0, []) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("error: ") and "in use" in err[0]
    finally:
        proc.kill()
        proc.wait()


def _full(limit: int):
    """An ``os.fdopen`` whose files take ``limit`` bytes, then raise ENOSPC."""
    real = os.fdopen

    def fdopen(fd, mode="r", *args, **kwargs):
        f = real(fd, mode, *args, **kwargs)
        write = f.write

        def limited(data):
            if len(data) > limit:
                write(bytes(data[:limit]))
                raise OSError(errno.ENOSPC, "No space left on device")
            return write(data)

        f.write = limited
        return f

    return fdopen


def test_a_full_disk_leaves_the_previous_file_and_no_temp_file(tmp_path, monkeypatch):
    path = tmp_path / "result.json"
    atomic_write_text(path, "old\n")
    monkeypatch.setattr("fewshot.io.os.fdopen", _full(10))
    with pytest.raises(OSError) as info:
        atomic_write(path, lambda f: f.write(b"x" * 200_000))
    assert info.value.errno == errno.ENOSPC and info.value.filename == str(path)
    assert "200 KB" in info.value.strerror
    assert path.read_text() == "old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["result.json"]


def test_a_full_disk_is_one_line_and_exit_2(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr("fewshot.io.os.fdopen", _full(10))
    rc = run_main(lambda _: atomic_write_text(tmp_path / "x.txt", "y" * 5000) and 0, [])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1
    assert "no space left on device to write 5000 bytes" in err[0]
    assert str(tmp_path / "x.txt") in err[0] and "free there" in err[0]
    assert "run the same command again" in err[0]
    assert list(tmp_path.iterdir()) == []


def test_preemption_is_deferred_to_the_training_loop_then_raised():
    handlers = faults.install_signal_handlers()
    try:
        with pytest.raises(faults.Preempted) as info, faults.defer_preemption():
            os.kill(os.getpid(), signal.SIGTERM)
            assert faults.preemption_signal() == signal.SIGTERM  # recorded, not raised
        assert info.value.exit_code == 143
        assert faults.preemption_signal() is None
        with pytest.raises(faults.Preempted):  # outside training: at once
            os.kill(os.getpid(), signal.SIGTERM)
    finally:
        faults.restore_signal_handlers(handlers)


def test_run_main_turns_sigterm_into_one_line_and_exit_143(capsys):
    def main(_argv):
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)

    assert run_main(main, []) == 143
    err = capsys.readouterr().err
    assert "interrupted by SIGTERM" in err and "run the same command again" in err


def test_removing_outputs_keeps_the_locks_their_command_holds(tmp_path):
    from fewshot.run_folder import remove_outputs

    leaf = tmp_path / "leaves" / "1"
    faults.lock_folder(leaf)
    (leaf / "checkpoints").mkdir()
    (leaf / "checkpoints" / "last.ckpt").write_bytes(b"x")
    (tmp_path / "leaves" / "2").mkdir()
    (tmp_path / "leaves" / "2" / "weights.pt").write_bytes(b"x")
    remove_outputs(tmp_path / "leaves")
    assert [p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file()] == [
        Path("leaves/1") / faults.LOCK_NAME
    ]
    remove_outputs(tmp_path / "absent.json")  # nothing there: nothing to do
