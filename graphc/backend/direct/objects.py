"""Where the direct path keeps a kernel's object code, and whether a kernel has any (no LLVM here).

Owns: `source_digest` (the direct path's own code, part of every object
file's name), `object_name` and `has_object`. Why apart from engine.py: the
tiered start asks whether a graph is warm before anything imports llvmlite's
binding (backend/tiered_process.py).
"""

from __future__ import annotations

import functools
import hashlib
import os
from pathlib import Path


@functools.cache
def source_digest() -> str:
    """The direct path's own code (this package's files)."""
    here = Path(__file__).parent
    text = "".join((here / name).read_text() for name in sorted(os.listdir(here)) if name.endswith(".py"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def object_name(kernel_path: Path, key: str) -> Path:
    """`__pycache__/<kernel module>.<source digest>-<key digest>.direct.o`, beside Numba's
    machine code of the same module (so `graphc cache` counts and clears it)."""
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    return kernel_path.parent / "__pycache__" / f"{kernel_path.stem}.{source_digest()}-{digest}.direct.o"


def has_object(kernel_path: Path) -> bool:
    """Whether this version of the direct path saved object code for the kernel (any signature)."""
    pattern = f"{kernel_path.stem}.{source_digest()}-*.direct.o"
    return any((kernel_path.parent / "__pycache__").glob(pattern))
