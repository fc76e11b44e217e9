"""DOT and networkx export: structure, parsing, values, gradients and local derivatives.

References are independent of graphc's autodiff: hand-derived numbers for the
textbook example, central finite differences of each op's NumPy reference for
local derivatives, and finite differences of the whole loss for gradients.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pydot
import pytest

import graphc as gc
from graphc.interpret import evaluate
from graphc.ir import toposort
from graphc.viz import describe_value, render


def parse(text: str) -> pydot.Dot:
    graphs = pydot.graph_from_dot_data(text)
    assert graphs and len(graphs) == 1
    return graphs[0]


def all_nodes(graph: pydot.Dot) -> dict[str, pydot.Node]:
    defaults = ("node", "edge", "graph")  # unquoted: attribute defaults, not nodes
    nodes = {n.get_name().strip('"'): n for n in graph.get_nodes() if n.get_name() not in defaults}
    for sub in graph.get_subgraphs():
        nodes.update(all_nodes(sub))
    return nodes


def plain(label: str) -> str:
    """An HTML-like label as text: tags dropped, lines joined by ' | '."""
    return re.sub(r"<[^>]*>", "", label.replace("<br/>", " | ")).strip("<> |")


def backward_edges(graph: pydot.Dot) -> dict[tuple[str, str], list[float]]:
    found: dict[tuple[str, str], list[float]] = {}
    for edge in graph.get_edges():
        if edge.get("dir") == "back":
            key = (edge.get_source().strip('"'), edge.get_destination().strip('"'))
            found.setdefault(key, []).append(float(edge.get("label").strip('"')))
    return found


@pytest.fixture(scope="module")
def textbook() -> dict:
    x, w, b, y_true = (gc.input(n) for n in ("x", "w", "b", "y_true"))
    prediction = x * w + b
    loss = abs(y_true - prediction)
    dw, db = gc.grad(loss, [w, b])
    return dict(x=x, w=w, b=b, y_true=y_true, prediction=prediction, loss=loss, dw=dw, db=db,
                values={"x": 2.0, "w": 3.0, "b": 1.0, "y_true": 4.0})


# ---------------------------------------------------------------- structure

def test_networkx_attributes_match_the_graph() -> None:
    x = gc.input("x", shape=("n", 3), dtype="float32")
    W = gc.input("W", shape=(3, 2), dtype="float32")
    y = gc.sum(gc.sigmoid(x @ W))
    graph = gc.to_networkx(y)
    assert graph.number_of_nodes() == len(toposort([y]))
    assert graph.nodes["x"]["op"] == "input" and graph.nodes["x"]["shape"] == ("n", 3)
    assert graph.nodes["x"]["dtype"] == "float32" and graph.nodes["x"]["name"] == "x"
    ops = sorted(d["op"] for _, d in graph.nodes(data=True))
    assert ops == sorted(["input", "input", "matmul", "sigmoid", "sum"])
    (output,) = [k for k, d in graph.nodes(data=True) if d["output"]]
    assert graph.nodes[output]["op"] == "sum" and graph.nodes[output]["shape"] == ()
    matmul = next(k for k, d in graph.nodes(data=True) if d["op"] == "matmul")
    assert graph.edges["x", matmul]["position"] == 0 and graph.edges["W", matmul]["position"] == 1


def test_a_tensor_used_twice_by_one_op_keeps_both_positions() -> None:
    x = gc.input("x")
    graph = gc.to_networkx(x * x)
    (edge,) = graph.edges(data=True)
    assert edge[2]["positions"] == (0, 1)
    dot = parse(gc.to_dot(x * x))
    assert len([e for e in dot.get_edges() if e.get_source().strip('"') == "x"]) == 2


def test_dot_parses_and_labels_op_type_and_name() -> None:
    x = gc.input("x", shape=(3,))
    y = gc.sum(gc.exp(x) * 2.0 - gc.constant(np.arange(3.0)))
    text = gc.to_dot(y)
    nodes = all_nodes(parse(text))
    assert len(nodes) == len(toposort([y]))
    labels = {k: plain(n.get("label")) for k, n in nodes.items()}
    assert "x" in labels["x"] and "input f64[3]" in labels["x"]
    assert any("exp(x)" in v and "f64[3]" in v for v in labels.values())
    assert any("sum(" in v and "axis=(0,)" in v and "f64[]" in v for v in labels.values())
    assert any("constant f64[3]" in v and "[0, 1, 2]" in v for v in labels.values())


def test_inputs_named_like_dot_keywords_stay_nodes() -> None:
    names = ("node", "edge", "graph", "strict", "subgraph")
    inputs = [gc.input(n) for n in names]
    y = inputs[0] * inputs[1] - inputs[2] + inputs[3] / inputs[4]
    nodes = all_nodes(parse(gc.to_dot(y)))
    assert len(nodes) == len(toposort([y]))
    for name in names:
        assert plain(nodes[name].get("label")).startswith(f"{name} | input f64[]")


def test_inputs_constants_outputs_and_ops_look_different() -> None:
    x = gc.input("x", shape=(2,))
    y = gc.sum(x * gc.constant(np.array([1.0, 2.0])))
    nodes = all_nodes(parse(gc.to_dot(y)))
    graph = gc.to_networkx(y)
    kinds = {k: ("output" if d["output"] else d["kind"]) for k, d in graph.nodes(data=True)}
    looks = {kind: (nodes[k].get("fillcolor"), nodes[k].get("peripheries"), nodes[k].get("style"))
             for k, kind in kinds.items()}
    assert set(kinds.values()) == {"input", "constant", "op", "output"}
    assert len(set(looks.values())) == 4


def test_argument_positions_only_on_non_commutative_ops() -> None:
    a, b = gc.input("a"), gc.input("b")
    y = (a - b) + (a * b) + a / b
    graph = gc.to_networkx(y)
    dot = parse(gc.to_dot(y))
    for edge in dot.get_edges():
        source, target = edge.get_source().strip('"'), edge.get_destination().strip('"')
        op = graph.nodes[target]["op"]
        label = edge.get("label")
        if op in ("subtract", "divide"):
            assert label.strip('"') == str(graph.edges[source, target]["position"])
        else:
            assert label is None, (op, label)


def test_forward_and_backward_nodes_in_separate_clusters(textbook: dict) -> None:
    outputs = [textbook["loss"], textbook["dw"], textbook["db"]]
    dot = parse(gc.to_dot(outputs))
    clusters = {s.get_name().strip('"'): set(all_nodes(s)) for s in dot.get_subgraphs()}
    assert set(clusters) == {"cluster_forward", "cluster_backward"}
    graph = gc.to_networkx(outputs)
    key = dict(zip(toposort(outputs), _keys(graph, toposort(outputs))))
    # Reference: forward = what the loss needs; the rest was built by gc.grad.
    forward = {key[n] for n in toposort([textbook["loss"]])}
    assert clusters["cluster_forward"] == forward
    assert clusters["cluster_backward"] == set(graph.nodes) - forward
    assert len(clusters["cluster_backward"]) >= 2


def test_backward_cluster_holds_exactly_what_only_the_gradients_need() -> None:
    x = gc.input("x", shape=(4,))
    loss = gc.sum(gc.tanh(x) ** 2)
    gradient = gc.grad(loss, x)
    graph = gc.to_networkx([loss, gradient])
    needed_by_loss = len(toposort([loss]))
    parts = [d["part"] for _, d in graph.nodes(data=True)]
    assert parts.count("forward") == needed_by_loss
    assert parts.count("backward") == len(toposort([loss, gradient])) - needed_by_loss


# ---------------------------------------------------------------- values

def test_textbook_backprop_diagram_carries_the_numbers(textbook: dict) -> None:
    dot = parse(gc.to_dot(textbook["loss"], values=textbook["values"],
                          names={textbook["prediction"]: "prediction", textbook["loss"]: "loss"}))
    labels = {k: plain(n.get("label")) for k, n in all_nodes(dot).items()}
    assert "value 3 | grad 2" in labels["w"] and "value 1 | grad 1" in labels["b"]
    assert "value 2 | grad 3" in labels["x"] and "value 4 | grad -1" in labels["y_true"]
    assert "value 7 | grad 1" in labels["prediction"] and "value 3 | grad 1" in labels["loss"]
    along = backward_edges(dot)
    # The red arrows carry the gradient flowing back along each edge, as in a
    # hand-drawn backprop diagram: from the prediction to w and b they read
    # 1 (prediction -> error), 1 (x*w -> prediction), 1 (b -> prediction), 2 (w -> x*w).
    product = next(k for k, v in labels.items() if "x * w" in v)
    error = next(k for k, v in labels.items() if "y_true - prediction" in v)
    assert along[("prediction", error)] == [1.0]
    assert along[(product, "prediction")] == [1.0]
    assert along[("b", "prediction")] == [1.0]
    assert along[("w", product)] == [2.0]
    assert along[("x", product)] == [3.0]
    assert along[("y_true", error)] == [-1.0]
    assert along[(error, "loss")] == [-1.0]  # d|e|/de at e = -3


def test_edges_keep_the_local_derivative_for_the_chain_rule(textbook: dict) -> None:
    """Each arrow is grad(consumer) x local derivative; the local one is kept on the edge."""
    graph = gc.to_networkx(textbook["loss"], values=textbook["values"],
                           names={textbook["prediction"]: "prediction", textbook["loss"]: "loss"})
    for _, target, data in graph.edges(data=True):
        for local, flow in zip(data["derivatives"], data["flows"]):
            if local is None:
                continue
            assert flow == pytest.approx(float(graph.nodes[target]["gradient"]) * float(local))
    locals_ = {(u, v): d["derivatives"][0] for u, v, d in graph.edges(data=True)}
    assert locals_[("prediction", next(v for u, v in locals_ if u == "prediction"))] == -1.0


def test_chain_rule_holds_on_the_picture(textbook: dict) -> None:
    """grad(u) = sum of the arrows leaving u (the gradient flowing back along each), from the DOT."""
    dot = parse(gc.to_dot(textbook["loss"], values=textbook["values"]))
    grads = {k: float(re.search(r"grad (\S+)", plain(n.get("label"))).group(1))
             for k, n in all_nodes(dot).items()}
    along = backward_edges(dot)
    for node, gradient in grads.items():
        outgoing = [flow for (u, _), flows in along.items() if u == node for flow in flows]
        if outgoing:
            assert gradient == pytest.approx(sum(outgoing))


def finite_difference(function, point: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """Jacobian of function at point by central differences: shape out.shape + point.shape."""
    point = np.asarray(point, dtype=np.float64)
    base = np.asarray(function(point))
    result = np.zeros(base.shape + point.shape)
    for index in np.ndindex(point.shape):
        step = np.zeros_like(point)
        step[index] = eps
        difference = (np.asarray(function(point + step)) - np.asarray(function(point - step)))
        result[(...,) + index] = difference / (2 * eps)
    return result


def test_local_derivatives_and_gradients_match_finite_differences() -> None:
    x = gc.input("x", shape=(2,))
    s = gc.input("s")
    hidden = gc.tanh(x * s) / (1.5 + gc.square(x))
    loss = gc.log(gc.sum(gc.exp(hidden)) + s * s)
    values = {x: np.array([0.3, -1.2]), s: 0.7}
    graph = gc.to_networkx(loss, values=values)
    order = toposort([loss])
    feed = {x: values[x], s: np.asarray(values[s])}
    env = dict(zip(order, evaluate(order, feed)))
    key = {n: k for n, k in zip(order, _keys(graph, order))}
    checked = 0
    for node in order:
        data = graph.nodes[key[node]]
        if node.op.name == "constant":
            assert "gradient" not in data  # constants get no gradient on the picture
            continue
        # gradient: nudge this node's value, re-run everything downstream
        gradient = finite_difference(lambda v, n=node: evaluate([loss], {**feed, n: v})[0],
                                     env[node])
        np.testing.assert_allclose(data["gradient"], gradient, rtol=1e-6, atol=1e-8)
        for position, source in enumerate(node.inputs):
            local = graph.edges[key[source], key[node]]["derivatives"][
                graph.edges[key[source], key[node]]["positions"].index(position)]
            if source.op.name == "constant":
                assert local is None
                continue
            arguments = [env[i] for i in node.inputs]

            def op_at(v, p=position, n=node, args=arguments):
                return n.op.impl(*(v if i == p else a for i, a in enumerate(args)), **n.attr)

            np.testing.assert_allclose(local, finite_difference(op_at, env[source]),
                                       rtol=1e-6, atol=1e-8)
            checked += 1
    assert checked >= 8


def _keys(graph, order):
    """Node keys in toposort order: to_networkx adds nodes in that order."""
    keys = list(graph.nodes)
    assert len(keys) == len(order)
    return keys


def test_large_values_are_summarised_and_local_derivatives_skipped() -> None:
    x = gc.input("x", shape=(50,))
    loss = gc.sum(gc.exp(x))
    data = np.linspace(-1, 1, 50)
    graph = gc.to_networkx(loss, values={"x": data})
    exp_key = next(k for k, d in graph.nodes(data=True) if d["op"] == "exp")
    assert graph.edges["x", exp_key]["derivatives"] == (None,)  # a 50x50 Jacobian: not drawn
    label = plain(all_nodes(parse(gc.to_dot(loss, values={"x": data})))[exp_key].get("label"))
    assert "(50,)" in label and f"max {np.exp(1):.4g}" in label
    assert f"mean {np.mean(np.exp(data)):.4g}" in label


def test_describe_value() -> None:
    assert describe_value(np.float64(-0.0)) == "0"
    assert describe_value(2.0) == "2" and describe_value(np.array([[0.125]])) == "0.125"
    assert describe_value(np.array([1.0, 2.5])) == "[1, 2.5]"
    assert describe_value(np.array([[1, 2], [3, 4]])) == "[[1, 2]\n[3, 4]]"
    assert describe_value(np.array([True, False])) == "[True, False]"
    big = np.array([1.0, np.nan, 3.0, 5.0, 0.0, 2.0, np.inf])
    assert describe_value(big) == "(7,) min 0 mean 2.2 max 5 (2 not finite)"


def test_values_errors_name_the_input(textbook: dict) -> None:
    with pytest.raises(gc.GraphcError, match="no value for input.*y_true"):
        gc.to_dot(textbook["loss"], values={"x": 2.0, "w": 3.0, "b": 1.0})
    with pytest.raises(gc.GraphcError, match="'z' is not an input"):
        gc.to_dot(textbook["loss"], values={**textbook["values"], "z": 1.0})
    with pytest.raises(gc.GraphcError, match="expects a tensor"):
        gc.to_dot(3)
    with pytest.raises(gc.GraphcError, match="'a:b' is not a Python identifier"):
        gc.to_dot(textbook["loss"], names={textbook["prediction"]: "a:b"})
    with pytest.raises(gc.InputError, match="'x'"):
        gc.to_dot(textbook["loss"], values={**textbook["values"], "x": "two"})


# ---------------------------------------------------------------- compiled functions, files

def test_compiled_function_dot_is_its_optimized_graph(textbook: dict, tmp_path: Path) -> None:
    outputs = [textbook["loss"], textbook["dw"], textbook["db"]]
    f = gc.compile([textbook["x"], textbook["w"], textbook["b"], textbook["y_true"]], outputs,
                   backend="numpy")
    path = tmp_path / "f.dot"
    text = gc.to_dot(f, path)
    assert path.read_text() == text
    nodes = all_nodes(parse(text))
    assert set(nodes) == set(f.graph.nodes)
    assert len(nodes) == len(toposort(f.outputs))
    assert set(all_nodes(parse(gc.to_dot(f.graph)))) == set(nodes)
    annotated = all_nodes(parse(gc.to_dot(f, values=textbook["values"])))
    assert "grad 2" in plain(annotated["w"].get("label"))


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz dot is not installed")
def test_renders_to_svg_with_graphviz(textbook: dict, tmp_path: Path) -> None:
    path = tmp_path / "backprop.dot"
    gc.to_dot([textbook["loss"], textbook["dw"]], path, values=textbook["values"])
    svg = render(path, "svg")
    assert svg == tmp_path / "backprop.svg"
    text = svg.read_text()
    assert "<svg" in text and "grad 2" in text and "cluster_backward" in text


def test_networkx_and_pydot_are_imported_lazily() -> None:
    code = "import sys, graphc; print(sorted({'networkx', 'pydot'} & set(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


# ---------------------------------------------------------------- a plain install, quoting

def test_dot_needs_no_pydot(tmp_path: Path) -> None:
    """A plain `pip install graphc` (no pydot) draws: to_dot must not import it."""
    code = ("import sys; sys.modules['pydot'] = None\n"  # `import pydot` now raises ImportError
            "import graphc as gc\n"
            "x = gc.input('x'); y = gc.sum(gc.exp(x) * 2.0)\n"
            "print(gc.to_dot([y, gc.grad(y, x)]), end='')\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    nodes = all_nodes(parse(done.stdout))  # pydot here is only the independent parser
    assert "x" in nodes and len(nodes) >= 4


AWKWARD = ['plain', 'with space', 'quote " inside', 'back\\slash', 'trailing\\', 'new\nline',
           'node', 'Graph', '<angle>', '', '1.5', 'x->y', 'ünïcödé']


def test_quoted_strings_read_back_as_written() -> None:
    from graphc.dotfile import attributes, quote

    lines = ["digraph g {"]
    for number, text in enumerate(AWKWARD):
        lines.append(f"  {quote(text)} {attributes({'tooltip': text, 'label': text})};")
        lines.append(f"  n{number} [tooltip={quote(text)}];")
    text = "\n".join(lines + ["}"])
    graph = parse(text)
    found = {n.get_name() for n in graph.get_nodes()}
    assert len([n for n in found if not n.startswith("n")]) >= len(set(AWKWARD)) - 1
    for number, original in enumerate(AWKWARD):
        (node,) = graph.get_node(f"n{number}")
        raw = node.get("tooltip")
        assert raw is not None
        if raw.startswith('"'):  # DOT's own unescaping of a quoted string: \" -> ", \\ -> \
            raw = raw[1:-1].replace('\\"', '"').replace("\\\\", "\\").replace("\\n", "\n")
        assert raw == original
    if shutil.which("dot"):
        done = subprocess.run(["dot", "-Tsvg"], input=text, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr


# ---------------------------------------------------------------- real models

def test_scopes_are_clusters_and_name_prefixes() -> None:
    x = gc.input("x", shape=("n", 3))
    W1, W2 = gc.input("W1", shape=(3, 4)), gc.input("W2", shape=(4, 2))
    with gc.scope("encoder"):
        with gc.scope("layer1"):
            h = gc.relu(x @ W1)
        h2 = gc.tanh(h @ W2)
    loss = gc.sum(h2)
    assert (h.scope, h2.scope, loss.scope) == ("encoder/layer1", "encoder", "")
    printed = gc.format_graph([loss])
    assert "encoder/layer1/t0: f64[n,4] = matmul x W1" in printed
    assert "encoder/t2: f64[n,2] = matmul encoder/layer1/t1 W2" in printed
    dot = parse(gc.to_dot(loss))
    (encoder,) = [s for s in dot.get_subgraphs() if s.get("label") == "encoder"]
    (layer1,) = [s for s in encoder.get_subgraphs() if s.get("label") == "layer1"]
    assert set(all_nodes(layer1)) == {"encoder/layer1/t0", "encoder/layer1/t1"}
    assert set(all_nodes(encoder)) - set(all_nodes(layer1)) == {"encoder/t2", "encoder/t3"}
    with pytest.raises(gc.GraphcError, match="non-empty name"):
        with gc.scope("a/b"):
            pass


def test_simplified_nodes_stay_in_their_scope() -> None:
    """Nodes the simplifier rebuilds, and the stable forms its rules put in, keep the scope."""
    x = gc.input("x", shape=(3,))
    with gc.scope("layer1"):
        hidden = gc.log(1 + gc.exp(x * 2.0)) * 3.0  # log(1 + exp(z)) becomes softplus(z)
    (simplified,) = gc.simplify([gc.sum(hidden)])
    scopes = {n.op.name: n.scope for n in gc.ir.toposort([simplified]) if n.inputs}
    assert scopes == {"multiply": "layer1", "softplus": "layer1", "sum": ""}, scopes


def test_constants_print_shortest_in_their_own_dtype() -> None:
    x = gc.input("x", shape=(3,), dtype="float32")
    lr = gc.astype(gc.constant(3e-3), "float32")
    beta2 = 0.999
    y = gc.sum((1 - beta2) * x) * gc.constant(np.float32(0.003)) + lr
    printed = gc.format_graph([y])
    assert "0.001 * x" in printed and "0.003:f32" in printed
    assert "0.0010000000000000009" not in printed and "0.003000000026077032" not in printed
    # Each literal reads back as the very number the graph holds, in its dtype.
    for text in re.findall(r"([0-9.e+-]+):f32", printed):
        assert np.float32(text) == np.float32(0.003)
    z = gc.input("z") * (1 - beta2)
    assert "0.0010000000000000009" in gc.format_graph([z])  # float64: that is the value
    labels = [plain(n.get("label")) for n in all_nodes(parse(gc.to_dot(y))).values()]
    assert any("0.001 * x" in label for label in labels)
    simplified = [plain(n.get("label")) for n in
                  all_nodes(parse(gc.to_dot(y, simplified=True))).values()]
    assert not any("000000" in label for label in simplified), simplified


def test_output_names_from_compile_name_the_picture() -> None:
    x, w = gc.input("x", shape=(3,)), gc.input("w", shape=(3,))
    loss = gc.sum((x * w - 1.0) ** 2)
    f = gc.compile([x, w], [loss, gc.grad(loss, w)], backend="numpy", names=["loss", None])
    nodes = all_nodes(parse(gc.to_dot(f)))
    assert {"loss", "d_w"} <= set(nodes)
    assert nodes["loss"].get("peripheries") == "2" and nodes["d_w"].get("peripheries") == "2"


def test_forward_backward_and_update_are_apart() -> None:
    x = gc.input("x", shape=("n", 3))
    W, b = gc.input("W", shape=(3, 2)), gc.input("b", shape=(2,))
    loss = gc.mean(gc.softplus(x @ W + b))
    grads = gc.grad(loss, [W, b])
    update = gc.optim.adam([W, b], grads, lr=1e-3)
    outputs = [loss, *update.new_params, *update.new_state]
    graph = gc.to_networkx(outputs)
    key = dict(zip(toposort(outputs), _keys(graph, toposort(outputs))))
    dot = parse(gc.to_dot(outputs))
    clusters = {s.get_name().strip('"'): set(all_nodes(s)) for s in dot.get_subgraphs()}
    assert set(clusters) == {"cluster_forward", "cluster_backward", "cluster_update"}
    # Reference: forward = what the loss needs; backward = what the gradients add to it;
    # update = everything else (the optimizer's arithmetic, state and step counter).
    forward = {key[n] for n in toposort([loss])}
    backward = {key[n] for n in toposort([loss, *grads])} - forward
    assert clusters["cluster_forward"] == forward
    assert clusters["cluster_backward"] == backward
    assert clusters["cluster_update"] == set(graph.nodes) - forward - backward
    assert {"W_m", "W_v", "adam_step"} <= clusters["cluster_update"]


def test_simplified_picture_is_the_graph_compile_runs() -> None:
    x = gc.input("x", shape=(3,))
    y = gc.sum(gc.log(gc.exp(x)) * 1.0 + 0.0)
    as_built = all_nodes(parse(gc.to_dot(y)))
    simplified = all_nodes(parse(gc.to_dot(y, simplified=True)))
    assert len(as_built) == len(toposort([y]))
    assert len(simplified) == len(toposort(gc.simplify([y]))) < len(as_built)
