"""Fixture for tests/test_cli.py: a script that fails while it is loaded."""

raise RuntimeError("this script is broken on purpose")
