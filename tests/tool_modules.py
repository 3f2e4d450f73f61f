"""Import a script of ``tools/`` as a module (they are not a package), for its tests."""

from __future__ import annotations

import importlib.util
import sys
from types import ModuleType

from tests.conftest import REPO_ROOT


def load_tool(name: str) -> ModuleType:
    """``tools/<name>.py`` imported as module ``name`` (registered in ``sys.modules``, which
    dataclasses need)."""
    spec = importlib.util.spec_from_file_location(name, REPO_ROOT / "tools" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module
