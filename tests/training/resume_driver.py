"""Run ``-m MODULE ARGS`` or ``SCRIPT.py ARGS`` (as ``python`` would) in this process and SIGKILL it at
training step ``$FEWSHOT_KILL_AT_STEP`` of the first supernet that reaches it: a preempted job.
``$FEWSHOT_KILL_SIGNAL`` (a name such as ``SIGTERM``) sends another signal instead, once.

Used by the kill-and-resume tests: ``python tests/training/resume_driver.py -m fewshot.train ...``.
"""

from __future__ import annotations

import os
import runpy
import signal
import sys

from fewshot.training import module


def main() -> None:
    step = int(os.environ["FEWSHOT_KILL_AT_STEP"])
    signum = getattr(signal, os.environ.get("FEWSHOT_KILL_SIGNAL", "SIGKILL"))
    original = module.LeafModule.training_step
    sent = []

    def training_step(self, batch, batch_idx):
        if self.global_step == step and not sent:
            sent.append(signum)
            os.kill(os.getpid(), signum)
        return original(self, batch, batch_idx)

    module.LeafModule.training_step = training_step
    if sys.argv[1] == "-m":
        sys.argv = sys.argv[2:]
        runpy.run_module(sys.argv[0], run_name="__main__", alter_sys=True)
    else:
        sys.argv = sys.argv[1:]
        runpy.run_path(sys.argv[0], run_name="__main__")


if __name__ == "__main__":
    main()
