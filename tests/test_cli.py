"""The `graphc` command line, run as a subprocess on a fixture script, error cases included.

References: the fixture's graphs loaded in-process (printed with the printer,
simplified with gc.simplify, evaluated by hand), and pydot's parser for DOT.
"""

from __future__ import annotations

import contextlib
import io
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
from graphc.cli import main
from graphc.ir import toposort

HERE = Path(__file__).resolve().parent
SCRIPT = HERE / "scripts" / "cli_graphs.py"
BROKEN = HERE / "scripts" / "cli_broken.py"
EXAMPLE = HERE.parent / "examples" / "backprop_graph.py"


def graphc(*arguments: str, env: dict[str, str] | None = None,
           cwd: Path | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "graphc.cli", *arguments], capture_output=True,
                          text=True, env=env, cwd=cwd, timeout=timeout)


def in_process(*arguments: str) -> subprocess.CompletedProcess[str]:
    """`graphc ARGS` through graphc.cli.main here: the command's parser, handlers and error path.

    Why: every `graphc` process starts Python and imports graphc (~0.6 s of CPU); the help
    texts and error messages need no process of their own. Each test that uses this also
    runs at least one real process (`graphc`), for the exit code and stderr a user sees.
    An exception main() lets through fails the test, as a traceback would.
    """
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(list(arguments))
        except SystemExit as exc:  # argparse: --help, a usage error
            code = exc.code if isinstance(exc.code, int) else 1
    return subprocess.CompletedProcess(["graphc", *arguments], code, out.getvalue(), err.getvalue())


@pytest.fixture(scope="module")
def fixture() -> dict:
    return runpy.run_path(str(SCRIPT), run_name="__graphc__")


def test_help_lists_every_subcommand_and_each_has_help() -> None:
    done = graphc("--help")
    assert done.returncode == 0
    sub = graphc("show", "--help")
    assert sub.returncode == 0 and "SCRIPT.py[:NAME]" in sub.stdout and "--raw" in sub.stdout
    for command in ("show", "source", "dot", "stats"):
        assert command in done.stdout
        sub = in_process(command, "--help")
        assert sub.returncode == 0 and "SCRIPT.py[:NAME]" in sub.stdout
    dot_help = " ".join(in_process("dot", "--help").stdout.split())
    assert "--format" in dot_help and "--simplified" in dot_help
    assert "the graph as built" in dot_help and "after gc.simplify" in dot_help
    cache_help = " ".join(in_process("cache", "--help").stdout.split())
    assert "info" in cache_help and "clear" in cache_help and "least recently used" in cache_help


def test_show_prints_the_simplified_graph_and_raw_the_graph_as_built(fixture: dict) -> None:
    done = graphc("show", f"{SCRIPT}:outputs")
    assert done.returncode == 0, done.stderr
    simplified = gc.simplify(fixture["outputs"])
    assert gc.format_graph(simplified) in done.stdout
    ops = [sum(1 for n in toposort(g) if n.inputs) for g in (fixture["outputs"], simplified)]
    assert ops[1] < ops[0] and f"({ops[0]} ops -> {ops[1]}" in done.stdout
    raw = in_process("show", "--raw", f"{SCRIPT}:outputs")
    assert raw.returncode == 0 and gc.format_graph(fixture["outputs"]) in raw.stdout
    single = in_process("show", "--raw", f"{SCRIPT}:loss")
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
    tensors = in_process("source", "--backend", "numpy", f"{SCRIPT}:outputs")
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
    function = in_process("stats", f"{SCRIPT}:step")
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
    to_stdout = in_process("dot", f"{SCRIPT}:loss")
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
    # A compile slower than notices.SLOW (a loaded machine) adds its two notice lines: not the hint.
    lines = [line for line in done.stderr.strip().splitlines()
             if not line.startswith(("graphc: compiling ", "graphc: compiled "))]
    assert len(lines) == 1 and "apt-get install graphviz" in lines[0]


@pytest.mark.parametrize("command", ["show", "source", "dot", "stats"])
def test_errors_are_one_line_with_exit_code_2(command: str, tmp_path: Path) -> None:
    cases = {
        f"{tmp_path}/missing.py:loss": "no such script",
        f"{SCRIPT}:nope": "defines no name 'nope'",
        f"{SCRIPT}:not_a_graph": "'not_a_graph' in .* is a int, not a graph",
        f"{SCRIPT}:empty": "'empty' in .* is a list, not a graph",
        f"{BROKEN}:x": "running .*cli_broken.py failed: RuntimeError: this script is broken "
                       r"on purpose \(at .*cli_broken.py:3\)",
        str(BROKEN): r"running .*cli_broken.py failed: RuntimeError",
    }
    if command != "show":  # the loading code is shared: the three errors the issue names
        cases = dict(list(cases.items())[:3])
    for number, (target, message) in enumerate(cases.items()):
        done = (graphc if number == 0 else in_process)(command, target)  # one real process each
        assert done.returncode == 2, (target, done.stderr)
        assert done.stdout == ""
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("graphc: error: "), done.stderr
        assert re.search(message, lines[0]), lines[0]


def test_dot_option_errors(tmp_path: Path) -> None:
    done = graphc("dot", f"{SCRIPT}:loss", "--values", "not_a_graph")
    assert done.returncode == 2 and "no dict of input values" in done.stderr
    done = in_process("dot", f"{SCRIPT}:loss", "--format", "svg")
    assert done.returncode == 2 and "--format needs -o" in done.stderr
    done = in_process("dot", f"{SCRIPT}:loss", "--format", "gif", "-o", str(tmp_path / "a.dot"))
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


def test_warmup_help_and_a_bad_dtype() -> None:
    """`graphc warmup` itself (a cold warm-up: its report, the user's cache left alone) runs once,
    in tests/test_warmup.py, which then checks that it pre-built what small graphs use."""
    done = graphc("warmup", "--help")
    assert done.returncode == 0 and "--dtype" in done.stdout
    wrong = in_process("warmup", "--dtype", "float16")
    assert wrong.returncode == 2 and "float16" in wrong.stderr


# ---------------------------------------------------------------- scripts that compile when run

PROGRAM = HERE / "scripts" / "cli_program.py"
DIGITS = HERE.parent / "examples" / "train_digits.py"


def _program_graph(width: int) -> tuple[list, list, list]:
    """The fixture program's step, built here in-process as the reference."""
    spec = runpy.run_path(str(PROGRAM), run_name="reference")
    model = spec["build"](width)
    gradient = gc.grad(model["loss"], model["w"])
    return [model["x"], model["w"]], [model["loss"], gradient], [model["prediction"]]


def test_show_finds_what_a_program_compiles_inside_main() -> None:
    inputs, outputs, _ = _program_graph(5)
    done = graphc("show", str(PROGRAM), "--args=--width 5")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("# step: after simplification")
    assert gc.format_graph(gc.simplify(outputs), inputs) in done.stdout
    assert "compiles step, value_only; showing step" in done.stderr
    assert "compiled; training now" in done.stderr  # the script's prints go to stderr
    raw = graphc("show", "--raw", f"{PROGRAM}:value_only", "--args", "--width 5")
    assert raw.returncode == 0 and "model/t1: f64[n] = tanh model/t0" in raw.stdout


def test_source_and_dot_of_a_program_use_its_names(tmp_path: Path) -> None:
    done = graphc("source", f"{PROGRAM}:step")  # numba: the names and scopes in the code
    assert done.returncode == 0, done.stderr
    assert "return (loss, d_w)" in done.stdout
    assert re.search(r"= tanh t\d+  \[scope model\]", done.stdout)
    out = tmp_path / "step.dot"
    done = graphc("dot", f"{PROGRAM}:step", "-o", str(out))
    assert done.returncode == 0, done.stderr
    (graph,) = pydot.graph_from_dot_data(out.read_text())
    names = {n.get_name().strip('"') for n in graph.get_nodes()}
    for sub in graph.get_subgraphs():
        names |= {n.get_name().strip('"') for n in sub.get_nodes()}
        for inner in sub.get_subgraphs():
            names |= {n.get_name().strip('"') for n in inner.get_nodes()}
    assert {"loss", "d_w", "prediction", "x", "w"} <= names


def test_program_failures_are_one_line() -> None:
    done = graphc("show", str(PROGRAM), "--args=--fail")
    assert done.returncode == 0  # the failure comes after the compiles: the graphs exist
    assert "note: running" in done.stderr and "on purpose (at " in done.stderr
    done = graphc("show", f"{PROGRAM}:nope")
    assert done.returncode == 2 and "defines no name 'nope'" in done.stderr
    assert "step, value_only" in done.stderr
    done = graphc("show", str(PROGRAM), "--args=--width")
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and lines[-1].startswith("graphc: error: ") and "exited" in lines[-1]
    assert "Traceback" not in done.stderr
    # Compiled, then exited: the graphs it compiled are whole, so they are shown.
    done = graphc("show", str(SCRIPT))
    assert done.returncode == 0 and done.stdout.startswith("# step: after simplification")
    assert "note: " in done.stderr and "exited (code the command line must not run" in done.stderr


def test_more_failures_end_in_one_line_without_traceback(tmp_path: Path) -> None:
    bad_syntax = tmp_path / "bad.py"
    bad_syntax.write_text("x = (\n")
    nothing = tmp_path / "nothing.py"
    nothing.write_text("import graphc as gc\nx = gc.input('x')\ny = x * 2\nvals = {'q': 1.0}\n")
    cases = [
        (("show", f"{bad_syntax}:x"), "SyntaxError"),
        (("show", str(bad_syntax)), "SyntaxError"),
        (("show", str(nothing)), r"compiled nothing .*module-level graphs: x, y"),
        (("dot", f"{SCRIPT}:loss", "-o", str(tmp_path / "no" / "such" / "dir.dot")),
         "No such file or directory"),
        (("dot", f"{nothing}:y", "--values", "vals"), "to_dot values: 'q' is not an input"),
        (("dot", f"{nothing}:y", "-o", str(tmp_path / "y.dot"), "--format", "svg",
          "--values", "x"), "no dict of input values"),
        (("cache", "limit", "lots"), "not a size"),
    ]
    for number, (arguments, message) in enumerate(cases):
        done = (graphc if number in (0, len(cases) - 1) else in_process)(*arguments)
        lines = done.stderr.strip().splitlines()
        assert done.returncode == 2, (arguments, done.stderr)
        assert "Traceback" not in done.stderr, done.stderr
        assert lines and lines[-1].startswith("graphc: error: "), done.stderr
        assert re.search(message, lines[-1]), lines[-1]


def test_show_of_the_digits_example_is_its_training_step() -> None:
    """`graphc show examples/train_digits.py` shows the step it compiles (without training)."""
    pytest.importorskip("sklearn")
    done = graphc("show", "--raw", str(DIGITS), "--args=--hidden 8 --optimizer sgd")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("# train_step: the graph as built")
    declared = done.stdout.splitlines()[1]
    assert declared.split("  ")[:4] == ["x: f32[n,64]", "labels: i64[n]", "W1: f32[64,8]",
                                        "b1: f32[8]"]
    outputs = done.stdout.strip().splitlines()[-1]
    assert outputs.startswith("-> ") and len(outputs.split(", ")) == 1 + 4 + 4  # loss, W', v'
    assert "layer1/" in done.stdout and "loss/" in done.stdout


# ---------------------------------------------------------------- graphc cache

def _entry(directory: Path, stem: str, size: int, used: float) -> None:
    (directory / "__pycache__").mkdir(parents=True, exist_ok=True)
    for path, part in ((directory / f"{stem}.py", size // 2),
                       (directory / "__pycache__" / f"{stem}.graph-5.py311.nbi", size // 4),
                       (directory / "__pycache__" / f"{stem}.graph-5.py311.1.nbc",
                        size - size // 2 - size // 4)):
        path.write_bytes(b"x" * part)
        os.utime(path, (used, used))


def test_cache_info_clear_and_limit(tmp_path: Path) -> None:
    env = {**os.environ, "GRAPHC_CACHE_DIR": str(tmp_path)}
    env.pop("GRAPHC_CACHE_LIMIT", None)
    for number in range(5):
        _entry(tmp_path, f"graphc_{number:020d}", 100_000, 1_000_000 + number)
    (tmp_path / "graphs").mkdir()
    (tmp_path / "graphs" / "abc.pickle").write_bytes(b"y" * 5000)
    os.utime(tmp_path / "graphs" / "abc.pickle", (2_000_000, 2_000_000))
    done = graphc("cache", env=env)
    assert done.returncode == 0, done.stderr
    total = sum(p.stat().st_size for p in tmp_path.rglob("*") if p.is_file())
    assert str(tmp_path) in done.stdout and "6 entries" in done.stdout
    assert f"{total / 1024:.1f} KB" in done.stdout and "500.0 MB (default)" in done.stdout
    assert "graphc's own kernels:" in done.stdout
    # A cap of 250 KB keeps the newest entries that fit: the pickle and the last two modules.
    done = graphc("cache", "limit", "250KB", env=env)
    assert done.returncode == 0 and "removed 3 entries" in done.stdout, done.stdout
    left = sorted(p.name for p in tmp_path.glob("graphc_*.py"))
    assert left == ["graphc_00000000000000000003.py", "graphc_00000000000000000004.py"]
    assert not list((tmp_path / "__pycache__").glob("graphc_00000000000000000000.*"))
    assert "250.0 KB (set with `graphc cache limit`" in graphc("cache", "info", env=env).stdout
    env_cap = graphc("cache", "limit", env={**env, "GRAPHC_CACHE_LIMIT": "1GB"})
    assert "1.0 GB ($GRAPHC_CACHE_LIMIT)" in env_cap.stdout
    (tmp_path / "locks").mkdir()
    (tmp_path / "locks" / "graphc_00000000000000000004.failed").write_text("{}")
    (tmp_path / "locks" / "graphc_00000000000000000004.lock").write_text("")  # a live lock stays
    done = graphc("cache", "clear", env=env)
    assert done.returncode == 0 and "removed 3 entries" in done.stdout
    assert "and 1 remembered compile failure " in done.stdout, done.stdout
    assert sorted(p.name for p in (tmp_path / "locks").iterdir()) == ["graphc_00000000000000000004.lock"]
    assert not list(tmp_path.glob("graphc_*")) and not list((tmp_path / "graphs").iterdir())
    assert (tmp_path / "size-limit").exists()  # the cap survives a clear


def test_compiles_keep_the_cache_under_its_cap(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    from graphc.backend import cache, cachesize

    monkeypatch.setenv("GRAPHC_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("GRAPHC_CACHE_LIMIT", "3KB")
    paths = []
    for number in range(6):  # each module ~1 KB: at most three fit
        source = f"# module {number}\n" + "x = 1\n" * 170
        path, found = cache.store(source, source)
        assert not found
        os.utime(path.with_suffix(".used"), (1_000_000 + number,) * 2)
        paths.append(path)
    cache.store("# module 1\n" + "x = 1\n" * 170, "# module 1\n" + "x = 1\n" * 170)  # used again
    assert sum(e.size for e in cachesize.entries(tmp_path)) <= 3 * 1024
    kept = {p.name for p in tmp_path.glob("graphc_*.py")}
    assert paths[1].name in kept and paths[5].name in kept and paths[0].name not in kept


# ---------------------------------------------------------------- a shared installation

KERNEL_RUN = """
import sys
from graphc.backend import cache
if sys.argv[1] == "other-user":  # cannot write the package (root owns site-packages)
    package, writable = cache.package_kernels_dir(), cache.writable
    cache.writable = lambda directory: directory != package and writable(directory)
from graphc.backend.runtime import jitted
kernel = jitted("exp_f64")
assert abs(kernel(1.0) - 2.718281828459045) < 1e-15
print(sum(kernel.stats.cache_hits.values()), sum(kernel.stats.cache_misses.values()))
print(cache.describe_kernels())
"""


def test_one_warm_up_serves_every_user_of_an_installation(tmp_path: Path) -> None:
    """Root warms the kernels inside the package; a user who cannot write there loads them."""
    site = tmp_path / "site"
    shutil.copytree(HERE.parent / "graphc", site / "graphc",
                    ignore=shutil.ignore_patterns("__pycache__"))
    env = {**os.environ, "PYTHONPATH": str(site), "XDG_CACHE_HOME": str(tmp_path / "home")}
    for variable in ("GRAPHC_KERNEL_CACHE_DIR", "NUMBA_CACHE_DIR"):
        env.pop(variable, None)

    def run(who: str) -> list[str]:
        done = subprocess.run([sys.executable, "-c", KERNEL_RUN, who], capture_output=True,
                              text=True, env=env, timeout=300, cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        return done.stdout.splitlines()

    root = run("root")
    assert root[0] == "0 1" and "next to the package" in root[1]  # compiled, saved in the package
    package_cache = site / "graphc" / "backend" / "__pycache__"
    assert list(package_cache.glob("kernels.exp_f64-*.nbi"))
    other = run("other-user")
    assert other[0] == "1 0", other  # loaded, not compiled again
    assert "this user's copy" in other[1] and str(tmp_path / "home") in other[1]
    assert list((tmp_path / "home" / "graphc-kernels").rglob("kernels.exp_f64-*.nbi"))


def test_counts_read_as_english() -> None:
    """"1 output", "1 argument", "1 round": singular for one, plural otherwise."""
    x = gc.input("x")
    f = gc.compile([x], x * 2.0, backend="numpy")
    assert "-> 1 output," in repr(f)
    assert "-> 2 outputs," in repr(gc.compile([x], [x * 2.0, x + 1.0], backend="numpy"))
    with pytest.raises(gc.InputError, match=r"expected 1 argument \(x\), got 2"):
        f(1.0, 2.0)
    with pytest.raises(gc.InputError, match=r"expected 1 argument, missing x"):
        f()
    done = graphc("stats", "--backend", "numpy", f"{SCRIPT}:loss")
    assert done.returncode == 0 and re.search(r"^loss: 1 output, \d+ nodes", done.stdout, re.M)
    assert re.search(r"in \d+ rounds? \(", done.stdout)
    assert not re.search(r"\b1 (outputs|rounds|constants|inputs)\b", done.stdout), done.stdout
