"""The project around the package: README commands, .ci/run, pyproject extras, quickstart.

The README is a contract with a newcomer: its test command must be the one CI
runs, its example must run as written, and the quickstart must do what it says.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import re
import tomllib
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
TEST_COMMAND = ("python3 -m pip install -q -e '.[dev]' && python3 -m ruff check graphc "
                "&& python3 -m mypy graphc && python3 -m pytest && bash .ci/lowest_numba")
MAIN_COMMAND = "python3 -m pip install -e '.[examples]' && python3 examples/train_digits.py"


def code_blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README, flags=re.S)


def test_readme_gives_the_two_commands() -> None:
    commands = [block.strip() for block in code_blocks("sh")]
    assert MAIN_COMMAND in commands
    assert TEST_COMMAND in commands


def test_ci_runs_exactly_the_readme_test_command() -> None:
    script = (ROOT / ".ci" / "run").read_text()
    lines = [line.strip() for line in script.splitlines()]
    assert lines[0].startswith("#!") and "bash" in lines[0]
    assert "set -euo pipefail" in lines, ".ci/run must stop at the first failing command"
    commands = [line for line in lines if line and not line.startswith("#")]
    assert commands[-1] == TEST_COMMAND, ".ci/run must end with the README's test command"
    assert TEST_COMMAND.endswith("&& bash .ci/lowest_numba"), "the test command covers the lowest Numba"
    assert "/work/" not in script, ".ci/run must not depend on this machine's paths"
    assert ".ci/lowest_numba" in README, "the README must say that .ci/run also tests the lowest Numba"


def test_the_lowest_numba_run_reads_pyproject_and_names_existing_tests() -> None:
    script = (ROOT / ".ci" / "lowest_numba").read_text()
    assert "set -euo pipefail" in script and "pyproject.toml" in script
    assert '"numba==$lowest"' in script, "the venv must get exactly the lowest declared Numba"
    named = re.findall(r"tests/[\w/]+\.py", script)
    assert named and all((ROOT / path).is_file() for path in named), named
    dependencies = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    [numba] = [d for d in dependencies if d.startswith("numba")]
    assert re.search(r">=\s*[\d.]+", numba) and "<" in numba, "declare the tested range: >=lowest,<next"


def test_readme_example_runs_as_written() -> None:
    [example] = [block for block in code_blocks("python") if "gc.compile" in block]
    namespace: dict[str, object] = {}
    with contextlib.redirect_stdout(io.StringIO()) as printed:
        exec(compile(example, "README.md", "exec"), namespace)  # noqa: S102 - the README's own code
    text = printed.getvalue()
    assert "t0: f64[n] = matmul x W" in text
    loss_value = np.asarray(namespace["loss_value"])
    assert loss_value.shape == () and np.isfinite(loss_value)


def test_pyproject_declares_the_dependencies_and_extras() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["requires-python"] == ">=3.11"
    runtime = " ".join(project["dependencies"])
    for name in ("numpy", "numba", "llvmlite", "scipy", "networkx", "threadpoolctl"):
        assert name in runtime
    extras = project["optional-dependencies"]
    for name in ("pytest", "hypothesis", "ruff", "mypy", "pydot"):
        assert any(requirement.startswith(name) for requirement in extras["dev"]), name
    for name in ("scikit-learn", "tqdm"):
        assert any(requirement.startswith(name) for requirement in extras["examples"]), name
    assert project["scripts"]["graphc"] == "graphc.cli:main"


def test_quickstart_learns_and_prints_the_graph() -> None:
    spec = importlib.util.spec_from_file_location("quickstart", ROOT / "examples" / "quickstart.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    with contextlib.redirect_stdout(io.StringIO()) as printed:
        result = module.main([])
    text = printed.getvalue()
    assert f"loss at W=0: {np.log(2):.6f}" in text  # the cross-entropy of a coin flip
    assert "check_grad: the symbolic gradient agrees" in text
    assert "softplus" in text  # log(sigmoid) was stabilized before differentiating
    assert result["loss"] < 0.05  # the classes are linearly separable


def test_every_package_directory_is_a_regular_package() -> None:
    """setuptools' find_packages skips folders without __init__.py: a wheel would lack them."""
    root = Path(__file__).resolve().parent.parent / "graphc"
    for folder in [root, *[p for p in root.rglob("*") if p.is_dir()]]:
        if folder.name == "__pycache__" or not any(folder.glob("*.py")):
            continue
        assert (folder / "__init__.py").exists(), f"{folder} has modules but no __init__.py"
