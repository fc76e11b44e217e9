"""The `graphc` command line (layer L5). Subcommands arrive with the inspection issue."""

from __future__ import annotations

import argparse
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    from . import __version__

    parser = argparse.ArgumentParser(
        prog="graphc", description="graphc: symbolic differentiation compiler tools")
    parser.add_argument("--version", action="version", version=f"graphc {__version__}")
    parser.parse_args(argv)
    parser.print_help()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
