"""``fewshot <command> [args]``: the console script; same as ``python -m fewshot.<command>``."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence

COMMANDS = {
    "split": "split a supernet into sub-supernets with a metric (the main job)",
    "score": "score architectures with zero-cost metrics, correlate with NATS-Bench",
    "train": "train the leaves of a split tree, search them, evaluate against NATS-Bench",
    "distance": "split distance (internal/external consistency) across trees and seeds",
    "refine": "refine a design space (AnyNet or NB201) by a zero-cost predictor's bootstrap",
    "search": "zero-cost-guided NAS on NAS-Bench-201 (RAND, AE, RL, BP; leaves; proxy filter)",
}


def usage() -> str:
    """The command list, one line each."""
    width = max(map(len, COMMANDS))
    lines = [f"  {name:<{width}}  {doc}" for name, doc in COMMANDS.items()]
    return (
        "usage: fewshot <command> [options]   (fewshot <command> --help for its options)\n\n"
        "commands:\n" + "\n".join(lines)
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Dispatch to ``fewshot.<command>.main``; an unknown command says so (exit code 2)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(usage())
        return 0
    if argv[0] not in COMMANDS:
        print(f"fewshot: unknown command {argv[0]!r}\n\n{usage()}", file=sys.stderr)
        return 2
    module = importlib.import_module(f"fewshot.{argv[0]}")
    return int(module.main(argv[1:]) or 0)


if __name__ == "__main__":
    sys.exit(main())
