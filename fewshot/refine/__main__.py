"""``python -m fewshot.refine``: design-space refinement with a zero-cost predictor."""

import sys

from fewshot.refine.cli import main

if __name__ == "__main__":
    sys.exit(main())
