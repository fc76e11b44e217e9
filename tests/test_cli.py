"""The `graphc` command line, run as a subprocess on a fixture script, error cases included.

References: the fixture's graphs loaded in-process (printed with the printer,
simplified with gc.simplify, evaluated by hand), and pydot's parser for DOT.
"""

from __future__ import annotations

import os
import re
import runpy
import shutil
import subprocess
import sys
from pathlib import Path

import pydot
import pytest

import graphc as gc
from graphc.ir import toposort

HERE = Path(__file__).resolve().parent
SCRIPT = HERE / "scripts" / "cli_graphs.py"
BROKEN = HERE / "scripts" / "cli_broken.py"
EXAMPLE = HERE.parent / "examples" / "backprop_graph.py"


def graphc(*arguments: str, env: dict[str, str] | None = None,
           cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "graphc.cli", *arguments], capture_output=True,
                          text=True, env=env, cwd=cwd, timeout=120)


@pytest.fixture(scope="module")
def fixture() -> dict:
    return runpy.run_path(str(SCRIPT), run_name="__graphc__")


def test_help_lists_every_subcommand_and_each_has_help() -> None:
    done = graphc("--help")
    assert done.returncode == 0
    for command in ("show", "source", "dot", "stats"):
        assert command in done.stdout
        sub = graphc(command, "--help")
        assert sub.returncode == 0 and "SCRIPT.py:NAME" in sub.stdout
    assert "--raw" in graphc("show", "--help").stdout
    assert "--format" in graphc("dot", "--help").stdout


def test_show_prints_the_simplified_graph_and_raw_the_graph_as_built(fixture: dict) -> None:
    done = graphc("show", f"{SCRIPT}:outputs")
    assert done.returncode == 0, done.stderr
    simplified = gc.simplify(fixture["outputs"])
    assert gc.format_graph(simplified) in done.stdout
    ops = [sum(1 for n in toposort(g) if n.inputs) for g in (fixture["outputs"], simplified)]
    assert ops[1] < ops[0] and f"({ops[0]} ops -> {ops[1]}" in done.stdout
    raw = graphc("show", "--raw", f"{SCRIPT}:outputs")
    assert raw.returncode == 0 and gc.format_graph(fixture["outputs"]) in raw.stdout
    single = graphc("show", "--raw", f"{SCRIPT}:loss")
    assert gc.format_graph([fixture["loss"]]) in single.stdout


def test_show_of_a_compiled_function(fixture: dict) -> None:
    done = graphc("show", f"{SCRIPT}:step")
    step = fixture["step"]
    assert done.returncode == 0 and gc.format_graph(step.outputs, step.inputs) in done.stdout
    raw = graphc("show", "--raw", f"{SCRIPT}:step")
    assert raw.returncode == 0 and "keeps only its simplified graph" in raw.stderr


def test_source_of_a_function_and_of_tensors(fixture: dict) -> None:
    done = graphc("source", f"{SCRIPT}:step")
    assert done.returncode == 0 and done.stdout.strip() == fixture["step"].source.strip()
    tensors = graphc("source", "--backend", "numpy", f"{SCRIPT}:outputs")
    compiled = gc.compile([fixture["x"], fixture["w"], fixture["b"]], fixture["outputs"],
                          backend="numpy")
    assert tensors.returncode == 0 and tensors.stdout.strip() == compiled.source.strip()


def test_stats_reports_passes_compile_time_and_cache(fixture: dict) -> None:
    done = graphc("stats", "--backend", "numpy", f"{SCRIPT}:outputs")
    assert done.returncode == 0, done.stderr
    simplified = gc.simplify(fixture["outputs"])
    nodes = len(toposort(simplified))
    assert f"3 outputs, {nodes} nodes" in done.stdout
    for name in ("cse", "fold_constants", "algebraic", "stabilize", "dce"):
        assert re.search(rf"round 1 {name}\s+ops", done.stdout)
    assert re.search(r"compile: \d+\.\d+ s \(backend numpy\)", done.stdout)
    assert "cache:" in done.stdout
    function = graphc("stats", f"{SCRIPT}:step")
    assert function.returncode == 0 and "compile: done when the script ran" in function.stdout


def test_dot_writes_parseable_annotated_dot(tmp_path: Path) -> None:
    out = tmp_path / "graph.dot"
    done = graphc("dot", f"{SCRIPT}:outputs", "-o", str(out), "--values", "values")
    assert done.returncode == 0, done.stderr
    (graph,) = pydot.graph_from_dot_data(out.read_text())
    names = {s.get_name() for s in graph.get_subgraphs()}
    assert names == {"cluster_forward", "cluster_backward"}
    text = out.read_text()
    # prediction = 1*0.5 + 2*(-1) + 3*2 + 0.25 = 4.75, loss = (4.75 - 1)^2, d loss/d b = 2*3.75
    assert "prediction = " in text and "value 4.75" in text
    assert "value 14.06" in text and "grad 7.5" in text
    to_stdout = graphc("dot", f"{SCRIPT}:loss")
    assert to_stdout.returncode == 0 and pydot.graph_from_dot_data(to_stdout.stdout)


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz dot is not installed")
def test_dot_renders_svg_and_png(tmp_path: Path) -> None:
    for format in ("svg", "png"):
        out = tmp_path / f"backprop_{format}.dot"
        done = graphc("dot", f"{EXAMPLE}:loss", "--values", "values", "-o", str(out),
                      "--format", format)
        assert done.returncode == 0, done.stderr
        picture = out.with_suffix("." + format)
        assert out.exists() and picture.exists() and picture.stat().st_size > 1000
    assert "<svg" in (tmp_path / "backprop_svg.svg").read_text()
    assert (tmp_path / "backprop_png.png").read_bytes()[:4] == b"\x89PNG"


def test_dot_without_graphviz_still_writes_dot_and_says_how_to_install(tmp_path: Path) -> None:
    empty = tmp_path / "bin"
    empty.mkdir()
    env = {**os.environ, "PATH": str(empty)}
    out = tmp_path / "graph.dot"
    done = graphc("dot", f"{SCRIPT}:loss", "-o", str(out), "--format", "svg", env=env)
    assert done.returncode == 0
    assert pydot.graph_from_dot_data(out.read_text())
    assert not out.with_suffix(".svg").exists()
    assert len(done.stderr.strip().splitlines()) == 1 and "apt-get install graphviz" in done.stderr


@pytest.mark.parametrize("command", ["show", "source", "dot", "stats"])
def test_errors_are_one_line_with_exit_code_2(command: str, tmp_path: Path) -> None:
    cases = {
        f"{tmp_path}/missing.py:loss": "no such script",
        f"{SCRIPT}:nope": "defines no name 'nope'",
        f"{SCRIPT}:not_a_graph": "'not_a_graph' in .* is a int, not a graph",
        f"{SCRIPT}:empty": "'empty' in .* is a list, not a graph",
        f"{BROKEN}:x": "running .*cli_broken.py failed: RuntimeError: this script is broken",
        str(SCRIPT): "expected SCRIPT.py:NAME",
    }
    if command != "show":  # the loading code is shared: the three errors the issue names
        cases = dict(list(cases.items())[:3])
    for target, message in cases.items():
        done = graphc(command, target)
        assert done.returncode == 2, (target, done.stderr)
        assert done.stdout == ""
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("graphc: error: "), done.stderr
        assert re.search(message, lines[0]), lines[0]


def test_dot_option_errors(tmp_path: Path) -> None:
    done = graphc("dot", f"{SCRIPT}:loss", "--values", "not_a_graph")
    assert done.returncode == 2 and "no dict of input values" in done.stderr
    done = graphc("dot", f"{SCRIPT}:loss", "--format", "svg")
    assert done.returncode == 2 and "--format needs -o" in done.stderr
    done = graphc("dot", f"{SCRIPT}:loss", "--format", "gif", "-o", str(tmp_path / "a.dot"))
    assert done.returncode == 2 and "invalid choice" in done.stderr


def test_console_script_is_installed() -> None:
    program = shutil.which("graphc", path=str(Path(sys.executable).parent))
    if program is None:
        pytest.skip("the graphc console script is not installed next to this Python")
    done = subprocess.run([program, "show", f"{SCRIPT}:loss"], capture_output=True, text=True)
    assert done.returncode == 0 and "-> " in done.stdout


def test_example_script_numbers(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, str(EXAMPLE), "--backend", "numpy"],
                          capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "loss = 3, d loss/d w = 2, d loss/d b = 1" in done.stdout
    assert (tmp_path / "backprop.dot").exists()


def test_warmup_compiles_and_checks_every_kind_of_graph(tmp_path: Path) -> None:
    """`graphc warmup` compiles its graphs in a temporary graph cache, checked against NumPy."""
    environment = dict(os.environ, GRAPHC_CACHE_DIR=str(tmp_path))
    done = graphc("warmup", "--dtype", "float64", env=environment)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert [line.split(":")[0].split(None, 1)[1] for line in lines[:3]] == [
        "every kernel in a fused loop", "a large graph (block interpreter)",
        "a small network (BLAS, log-softmax rows)"]
    assert "(1 interpreted group)" in lines[1] and lines[3].startswith("warmed up in")
    assert not any(tmp_path.iterdir())  # the user's graph cache is left alone
    assert "--dtype" in graphc("warmup", "--help").stdout
