"""Shared helpers for the example tests: where the examples are, the backends, loading one.

tests/test_examples.py, test_examples_scan.py and test_examples_custom.py run
the scripts under examples/ through `load(name).main([...flags])`, so each
test sees the example's returned numbers, not just its printout.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
BACKENDS = pytest.mark.parametrize("backend", ["numpy", "numba"])


def load(name: str) -> ModuleType:
    """examples/<name>.py as a fresh module (examples/ on sys.path while it loads, for the
    helper modules examples import)."""
    sys.path.insert(0, str(EXAMPLES))
    try:
        spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(str(EXAMPLES))
