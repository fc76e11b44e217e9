"""The `graphc` command line: show a define-then-run script's graphs (layer L5).

    graphc show   script.py[:NAME] [--raw]        the printed graph
    graphc source script.py[:NAME] [--backend B]  the generated code
    graphc dot    script.py[:NAME] -o out.dot [--format svg|png] [--values VALUES] [--simplified]
    graphc stats  script.py[:NAME] [--backend B]  node counts per pass, compile time, cache
    graphc cache  [info|clear|limit [SIZE]]       the graph cache (graphc/cachecommand.py)
    graphc warmup [--dtype float64|float32]       compile the package's kernels once, after installing

NAME is first looked up among the script's module-level names (the script
runs as `__graphc__`, so its `if __name__ == "__main__":` block does not
run); if it is not there, or there is no NAME, the script runs as a program
(`--args`) until it first calls a compiled function, and NAME is one of the
functions it compiled (graphc/runscript.py). Mistakes (no such file, no such
name, a name that is not a graph, a script that fails, a file that cannot be
written) end with a one-line message and exit code 2, never a traceback.
Imports: the graphc package (api, printing, simplify, viz, runscript,
cachecommand). Entry point: main.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .cachecommand import add_parser as add_cache_parser
from .cachecommand import plural
from .errors import GraphcError
from .ir import Node, toposort

USAGE_ERROR = 2


class CommandError(Exception):
    """A mistake on the command line: printed as one line, exit code 2."""


@dataclass
class Target:
    """What NAME in the script is: its outputs, and the compiled function if it is one."""

    script: Path
    name: str
    outputs: list[Node]
    function: Any  # a gc.Function, or None for tensors
    namespace: dict[str, Any]
    declared: list[Node] | None = None  # compile's inputs, in order, for a recorded compile
    output_names: list[str | None] | None = None  # compile(names=...) of a recorded compile
    tensor_names: dict[Node, str] = field(default_factory=dict)  # found while the script ran

    @property
    def inputs(self) -> list[Node]:
        if self.function is not None:
            return list(self.function.inputs)
        if self.declared is not None:
            return list(self.declared)
        return [n for n in toposort(self.outputs) if n.op.name == "input"]

    def variable_names(self) -> dict[Node, str]:
        """The script's own names for the tensors it built (first name wins), output names first."""
        names: dict[Node, str] = {}
        for node, name in zip(self.outputs, self.output_names or ()):
            if name:
                names.setdefault(node, name)
        for key, value in self.namespace.items():
            if isinstance(value, Node) and not key.startswith("_") and value not in names:
                names[value] = key
        for node, name in self.tensor_names.items():
            names.setdefault(node, name)
        return names


def _is_graph(value: Any) -> bool:
    from .api import Function

    return isinstance(value, (Node, Function)) or (
        isinstance(value, (list, tuple)) and bool(value) and all(isinstance(i, Node) for i in value))


def _describe_graphs(namespace: dict[str, Any]) -> str:
    found = sorted(k for k, v in namespace.items() if not k.startswith("_") and _is_graph(v))
    return ", ".join(found) if found else "none"


def _from_namespace(script: Path, name: str, namespace: dict[str, Any]) -> Target:
    from .api import Function

    value = namespace[name]
    if isinstance(value, Function):
        return Target(script, name, list(value.outputs), value, namespace)
    if isinstance(value, Node):
        return Target(script, name, [value], None, namespace)
    if isinstance(value, (list, tuple)) and value and all(isinstance(v, Node) for v in value):
        return Target(script, name, list(value), None, namespace)
    raise CommandError(
        f"{name!r} in {script} is a {type(value).__name__}, not a graph: expected a tensor, "
        f"a list of tensors or a compiled function (graphs it defines: "
        f"{_describe_graphs(namespace)})")


def load(spec: str, script_arguments: str | None = None) -> Target:
    """Find the graph SPEC names, or raise CommandError saying what is wrong.

    `script.py:NAME`: NAME among the script's module-level graphs (the script
    runs without its __main__ block); if it is not there, or for a bare
    `script.py`, the script runs as a program (`script_arguments` its command
    line) until it first calls a compiled function, and NAME is one of the
    functions it compiled (bare: the first).
    """
    from .runscript import ScriptError, namespace, record

    script_text, colon, name = spec.rpartition(":")
    if not colon or not name.strip() or "/" in name or name.endswith(".py"):
        script_text, name = spec, ""
    script = Path(script_text)
    found: dict[str, Any] = {}
    try:
        if name:
            found = namespace(script)
            if name in found:
                return _from_namespace(script, name, found)
        run = record(script, shlex.split(script_arguments or ""))
    except ScriptError as exc:
        if name and found:  # it loaded, NAME is not there, and running it as a program failed
            raise CommandError(f"{script} defines no name {name!r} (graphs it defines: "
                               f"{_describe_graphs(found)}; run as a program: {exc})") from None
        raise CommandError(str(exc)) from None
    compiled = {r.name: r for r in run.compiled}
    chosen = compiled.get(name) if name else next(iter(compiled.values()), None)
    if chosen is not None:
        if run.failure:
            print(f"graphc: note: {run.failure}; showing what it compiled before",
                  file=sys.stderr)
        if not name and len(compiled) > 1:
            print(f"graphc: {script} compiles {', '.join(compiled)}; showing {chosen.name} "
                  f"(choose with {script}:NAME)", file=sys.stderr)
        return Target(script, chosen.name, list(chosen.outputs), None, run.globals,
                      list(chosen.inputs), chosen.output_names, run.tensor_names)
    if name in run.globals:
        return _from_namespace(script, name, run.globals)
    graphs = sorted(set(_describe_graphs({**found, **run.globals}).split(", ")) - {"none"})
    listing = ", ".join(list(compiled) + [g for g in graphs if g not in compiled]) or "none"
    if name:
        raise CommandError(f"{script} defines no name {name!r} (graphs it defines or compiles "
                           f"when run: {listing})")
    raise CommandError(f"{script} compiled nothing before it ended (module-level graphs: "
                       f"{listing}); name one with {script}:NAME")


def _compile(target: Target, backend: str) -> tuple[Any, float | None]:
    """The target's compiled function (compiled now, timed, unless it already is one)."""
    if target.function is not None:
        return target.function, None
    from .api import compile

    start = time.perf_counter()
    function = compile(target.inputs, target.outputs, backend=backend,
                       names=target.output_names, tiered=False)  # the compile is what is shown
    return function, time.perf_counter() - start


# ---------------------------------------------------------------- subcommands

def show(arguments: argparse.Namespace) -> int:
    from .printing import format_graph
    from .simplify import simplify

    target = load(arguments.target, arguments.args)
    inputs = target.inputs
    if target.function is not None:
        if arguments.raw:
            print("graphc: a compiled function keeps only its simplified graph; showing that",
                  file=sys.stderr)
        print(f"# {target.name}: the compiled function's graph (after simplification)")
        print(format_graph(target.outputs, inputs))
        return 0
    if arguments.raw:
        print(f"# {target.name}: the graph as built (before simplification)")
        print(format_graph(target.outputs, inputs))
        return 0
    simplified = simplify(list(target.outputs))
    before = sum(1 for n in toposort(target.outputs) if n.inputs)
    after = sum(1 for n in toposort(simplified) if n.inputs)
    print(f"# {target.name}: after simplification ({before} ops -> {after}; "
          "--raw shows the graph as built)")
    print(format_graph(simplified, inputs))
    return 0


def source(arguments: argparse.Namespace) -> int:
    target = load(arguments.target, arguments.args)
    function, _ = _compile(target, arguments.backend)
    print(function.source)
    return 0


def dot(arguments: argparse.Namespace) -> int:
    from .viz import INSTALL_HINT, render, to_dot

    target = load(arguments.target, arguments.args)
    values = None
    if arguments.values is not None:
        values = target.namespace.get(arguments.values)
        if not isinstance(values, dict):
            raise CommandError(f"--values {arguments.values}: {target.script} has no dict of "
                               f"input values by that name")
    graph = target.function if target.function is not None else target.outputs
    if target.function is not None and not arguments.simplified:
        print("graphc: a compiled function keeps only its simplified graph; drawing that",
              file=sys.stderr)
    text = to_dot(graph, values=values, names=target.variable_names(),
                  simplified=arguments.simplified)
    if arguments.output is None:
        if arguments.format:
            raise CommandError("--format needs -o/--output: where to write the DOT file")
        sys.stdout.write(text)
        return 0
    path = Path(arguments.output)
    path.write_text(text, encoding="utf-8")
    if not arguments.format:
        print(f"wrote {path}")
        return 0
    picture = render(path, arguments.format)
    if picture is None:
        print(f"wrote {path}; {INSTALL_HINT}", file=sys.stderr)
        return 0
    print(f"wrote {path} and {picture}")
    return 0


def stats(arguments: argparse.Namespace) -> int:
    from .simplify import PassRecord
    from .viz import classify

    target = load(arguments.target, arguments.args)
    function, seconds = _compile(target, arguments.backend)
    nodes = toposort(function.outputs)
    parts = classify(list(function.outputs))
    counts = {kind: sum(1 for n in nodes if n.op.name == kind) for kind in ("input", "constant")}
    operations = len(nodes) - counts["input"] - counts["constant"]
    sizes = [f"{sum(1 for n in nodes if parts[n] == part)} {part}"
             for part in ("forward", "backward", "update")
             if part == "forward" or any(parts[n] == part for n in nodes)]
    print(f"{target.name}: {plural(len(function.outputs), 'output', 'outputs')}, "
          f"{plural(len(nodes), 'node', 'nodes')} ({plural(counts['input'], 'input', 'inputs')}, "
          f"{plural(counts['constant'], 'constant', 'constants')}, "
          f"{plural(operations, 'op', 'ops')}; {', '.join(sizes)})")
    report = dict(function.stats)
    simplified = report.pop("simplify", None)
    if simplified:
        ending = "converged" if simplified["converged"] else "capped"
        print(f"simplify: {simplified['ops_before']} -> {simplified['ops_after']} ops in "
              f"{plural(simplified['rounds'], 'round', 'rounds')} ({ending}, "
              f"{simplified['seconds'] * 1e3:.2f} ms)")
        for record in simplified["passes"]:
            print("  " + str(PassRecord(**record)))
    else:
        print("simplify: not run")
    if seconds is not None:
        print(f"compile: {seconds:.3f} s (backend {function.backend})")
    else:
        print(f"compile: done when the script ran (backend {function.backend})")
    cache = {k: v for k, v in report.items() if "cache" in k}
    if "cache_hit" in cache:
        details = [f"{k} {v}" for k, v in cache.items() if k != "cache_hit"]
        print(f"cache: {'hit' if cache['cache_hit'] else 'miss'}"
              + (f" ({', '.join(details)})" if details else ""))
    elif cache:
        print("cache: " + ", ".join(f"{k} {v}" for k, v in cache.items()))
    elif function.backend == "numpy":
        print("cache: none (the numpy backend interprets the graph; nothing is compiled)")
    else:
        print("cache: not reported by this backend")
    for key, value in report.items():
        if key not in cache and key not in ("backend", "output_names"):
            print(f"{key}: {_format_stat(value)}")
    return 0


def warmup(arguments: argparse.Namespace) -> int:
    from .warmup import warm_up

    start = time.perf_counter()
    warm_up(arguments.dtype or ["float64", "float32"])
    print(f"warmed up in {time.perf_counter() - start:.1f} s: later processes load the kernels, "
          "helpers and block interpreter from graphc's Numba cache")
    return 0


def _format_stat(value: Any) -> str:
    """Timings dicts ({stage: seconds}) as `stage 1.2 ms, ...`; anything else as it is."""
    if isinstance(value, dict) and all(isinstance(v, float) for v in value.values()):
        return ", ".join(f"{k} {v * 1e3:.1f} ms" for k, v in value.items())
    return str(value)


# ---------------------------------------------------------------- parser

TARGET_HELP = ("SCRIPT.py:NAME runs the script without its __main__ block and takes NAME from "
               "it (a tensor, a list of tensors or a compiled function); if NAME is not there, "
               "or for a bare SCRIPT.py, the script runs as a program (with --args) until it "
               "first calls a compiled function, and NAME is a function it compiled (bare: "
               "the first), named after the script's variable")


def _parser() -> argparse.ArgumentParser:
    from . import __version__

    parser = argparse.ArgumentParser(
        prog="graphc", description="graphc: see the graphs, gradients and generated code of a "
        "define-then-run script, and manage graphc's caches. " + TARGET_HELP + ".")
    parser.add_argument("--version", action="version", version=f"graphc {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    def command(name: str, summary: str, handler: Any) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=summary, description=summary + ". " + TARGET_HELP)
        sub.add_argument("target", metavar="SCRIPT.py[:NAME]",
                         help="a script, and a tensor, list of tensors or compiled function in it")
        sub.add_argument("--args", metavar="ARGS",
                         help="the script's own command line when it runs as a program, "
                         "e.g. --args='--hidden 8'")
        sub.set_defaults(handler=handler)
        return sub

    sub = command("show", "print the graph, one equation per line (simplified, unless --raw)", show)
    sub.add_argument("--raw", action="store_true", help="the graph as built, before simplification")
    for name, summary, handler in (
            ("source", "print the generated code (forward and backward in one function)", source),
            ("stats", "node counts per pass, compile time, cache hit or miss", stats)):
        sub = command(name, summary, handler)
        sub.add_argument("--backend", choices=["numba", "numpy"], default="numba",
                         help="backend to compile tensors with (default numba)")
    sub = command("dot", "write the graph as Graphviz DOT, optionally rendered to svg/png. The "
                  "picture is the graph as built (your ops, gc.scope clusters, forward / "
                  "backward / update parts) unless --simplified; a compiled function keeps "
                  "only its simplified graph", dot)
    sub.add_argument("-o", "--output", help="DOT file to write (default: standard output)")
    sub.add_argument("--format", choices=["svg", "png"],
                     help="also render OUTPUT with Graphviz's dot, next to it")
    sub.add_argument("--values", metavar="VALUES",
                     help="name of a dict in the script mapping inputs (or their names) to "
                     "values: annotate values, gradients and local derivatives")
    sub.add_argument("--simplified", action="store_true",
                     help="draw the graph after gc.simplify (what compile runs), not as built")
    sub = commands.add_parser(
        "warmup", help="compile graphc's kernels, helpers and block interpreter once, "
        "after installing, so the first real run does not", description=warmup.__doc__ or
        "compile graphc's kernels, helpers and block interpreter once, after installing")
    sub.add_argument("--dtype", action="append", choices=["float64", "float32"],
                     help="warm up this dtype only (repeatable; default both)")
    sub.set_defaults(handler=warmup)
    add_cache_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one subcommand; mistakes print `graphc: error: ...` and return 2."""
    parser = _parser()
    arguments = parser.parse_args(argv)
    if arguments.command is None:
        parser.print_help()
        return 0
    try:
        return int(arguments.handler(arguments))
    except BrokenPipeError:  # `graphc show ... | head`
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except (CommandError, GraphcError, OSError) as exc:
        message = " ".join(str(exc).split())
        print(f"graphc: error: {message}", file=sys.stderr)
        return USAGE_ERROR


if __name__ == "__main__":
    raise SystemExit(main())
