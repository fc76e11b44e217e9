"""Shared by the tests/test_backend_*.py modules: a disk cache that survives between runs.

GRAPHC_CACHE_DIR points at pytest's own cache folder (.pytest_cache/d/graphc-numba),
so a rerun loads machine code instead of compiling, without touching the user's cache.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest


@pytest.fixture(scope="module", autouse=True)
def graphc_cache_dir(request: pytest.FixtureRequest) -> Iterator[str]:
    directory = str(request.config.cache.mkdir("graphc-numba"))
    previous = os.environ.get("GRAPHC_CACHE_DIR")
    os.environ["GRAPHC_CACHE_DIR"] = directory
    yield directory
    if previous is None:
        del os.environ["GRAPHC_CACHE_DIR"]
    else:
        os.environ["GRAPHC_CACHE_DIR"] = previous
