"""Run ``-m MODULE ARGS`` or ``SCRIPT.py ARGS`` (as ``python`` would) in this process and SIGKILL it at
training step ``$FEWSHOT_KILL_AT_STEP`` of the first supernet that reaches it: a preempted job.

Used by the kill-and-resume and fault-injection tests:
``python tests/training/resume_driver.py -m fewshot.train ...``. Other faults, by variable:

- ``$FEWSHOT_KILL_SIGNAL`` (a name such as ``SIGTERM``): send that signal instead, once;
- ``$FEWSHOT_PAUSE_AT_STEP`` with ``$FEWSHOT_RESUME_FILE``: at that step, wait until the file
  exists (a run that holds its run folder while a second command starts);
- ``$FEWSHOT_KILL_IN_SAVE``: SIGKILL while the Nth checkpoint (1-based) is being saved, after
  its temporary file is written and before it is renamed into place;
- ``$FEWSHOT_DISK_BYTES``: every atomic write (checkpoints, weights, results) fails with
  ``ENOSPC`` once this many bytes were written in all (a full disk, where no size-limited
  file system can be mounted).
"""

from __future__ import annotations

import errno
import os
import runpy
import signal
import sys
import time
from pathlib import Path

from fewshot import io
from fewshot.training import module


def _kill_at_step() -> None:
    step = int(os.environ.get("FEWSHOT_KILL_AT_STEP", "-1"))
    pause = int(os.environ.get("FEWSHOT_PAUSE_AT_STEP", "-1"))
    signum = getattr(signal, os.environ.get("FEWSHOT_KILL_SIGNAL", "SIGKILL"))
    original = module.LeafModule.step_loss  # once per optimiser step, fused steps too
    sent: list[int] = []

    def step_loss(self, batch):
        if self.global_step == pause:
            resume = Path(os.environ["FEWSHOT_RESUME_FILE"])
            while not resume.exists():
                time.sleep(0.05)
        if self.global_step == step and not sent:
            sent.append(signum)
            os.kill(os.getpid(), signum)
        return original(self, batch)

    module.LeafModule.step_loss = step_loss


def _kill_in_save(n: int) -> None:
    real = io.os.replace
    saves: list[str] = []

    def replace(src, dst):
        if str(dst).endswith(".ckpt"):
            saves.append(str(dst))
            if len(saves) == n:
                os.kill(os.getpid(), signal.SIGKILL)
        return real(src, dst)

    io.os.replace = replace


def _disk_of(budget: int) -> None:
    real = io.os.fdopen
    used = [0]

    def fdopen(fd, mode="r", *args, **kwargs):
        f = real(fd, mode, *args, **kwargs)
        write = f.write

        def limited(data):
            room = budget - used[0]
            if len(data) > room:
                write(bytes(data[: max(room, 0)]))
                used[0] = budget
                raise OSError(errno.ENOSPC, "No space left on device")
            used[0] += len(data)
            return write(data)

        f.write = limited
        return f

    io.os.fdopen = fdopen


def main() -> None:
    _kill_at_step()
    if "FEWSHOT_KILL_IN_SAVE" in os.environ:
        _kill_in_save(int(os.environ["FEWSHOT_KILL_IN_SAVE"]))
    if "FEWSHOT_DISK_BYTES" in os.environ:
        _disk_of(int(os.environ["FEWSHOT_DISK_BYTES"]))
    if sys.argv[1] == "-m":
        sys.argv = sys.argv[2:]
        runpy.run_module(sys.argv[0], run_name="__main__", alter_sys=True)
    else:
        sys.argv = sys.argv[1:]
        runpy.run_path(sys.argv[0], run_name="__main__")


if __name__ == "__main__":
    main()
