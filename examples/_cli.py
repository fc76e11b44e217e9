"""The one flag every example shares: which backend to compile with."""

from __future__ import annotations

import argparse


def backend_from_args(description: str, argv: list[str] | None) -> str:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--backend", choices=["numba", "numpy"], default="numba")
    return parser.parse_args(argv).backend
