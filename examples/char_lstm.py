"""A character-level LSTM language model trained on graphc's own docs, the sequence loop a gc.scan.

The text is the repository's docs/*.md. One training step -- the LSTM run
over a batch of sequences by `gc.scan` (time-major, carry = (h, c)), the
cross-entropy of the next character at every step, the gradients (a reverse
scan) and an Adam update -- is ONE compiled function, whatever the sequence
length. Each epoch prints its mean loss with a progress bar; at the end a
second compiled function (one LSTM step and a softmax) samples a line of text.
The loss starts at log(vocabulary) (uniform guessing) and must fall.

    python3 examples/char_lstm.py [--backend numpy] [--epochs 3] [--hidden 64]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

import graphc as gc

DOCS = Path(__file__).resolve().parent.parent / "docs"


def corpus(limit: int) -> str:
    """The docs' text (code blocks included), the first `limit` characters."""
    return "".join(p.read_text(encoding="utf-8") for p in sorted(DOCS.glob("*.md")))[:limit]


def lstm_cell(params: dict[str, Any]) -> Any:
    """(h, c), x -> (h, c): the four gates from one matmul each for x and h."""
    def cell(h: Any, c: Any, x: Any) -> tuple[Any, Any]:
        z = x @ params["Wx"] + h @ params["Wh"] + params["b"]
        size = h.shape[-1]
        i = gc.sigmoid(z[..., :size])
        f = gc.sigmoid(z[..., size:2 * size])
        o = gc.sigmoid(z[..., 2 * size:3 * size])
        g = gc.tanh(z[..., 3 * size:])
        c = f * c + i * g
        return o * gc.tanh(c), c
    return cell


def build_params(vocabulary: int, hidden: int) -> dict[str, Any]:
    return {"Wx": gc.input("Wx", (vocabulary, 4 * hidden)), "Wh": gc.input("Wh", (hidden, 4 * hidden)),
            "b": gc.input("b", (4 * hidden,)), "Wy": gc.input("Wy", (hidden, vocabulary)),
            "by": gc.input("by", (vocabulary,))}


def initial_values(vocabulary: int, hidden: int, rng: np.random.Generator) -> list[np.ndarray]:
    bias = np.zeros(4 * hidden)
    bias[hidden:2 * hidden] = 1.0  # forget gate open at the start
    return [rng.normal(scale=0.1, size=(vocabulary, 4 * hidden)),
            rng.normal(scale=1 / np.sqrt(hidden), size=(hidden, 4 * hidden)), bias,
            rng.normal(scale=0.1, size=(hidden, vocabulary)), np.zeros(vocabulary)]


def sequence_loss(params: dict[str, Any], inputs: Any, targets: Any, hidden: int) -> Any:
    """Mean next-character cross-entropy over (time, batch) one-hot inputs and targets."""
    cell = lstm_cell(params)

    def step(carry: Any, xs: Any) -> tuple[Any, Any]:
        h, c = carry
        x, target = xs
        h, c = cell(h, c, x)
        log_p = gc.log_softmax(h @ params["Wy"] + params["by"], axis=-1)
        return (h, c), -gc.sum(target * log_p)
    batch = inputs.shape[1]
    zeros = gc.broadcast_to(gc.constant(np.zeros(hidden)), (batch, hidden))
    _, losses = gc.scan(step, (zeros, zeros), (inputs, targets))
    return gc.sum(losses) / (inputs.shape[0] * batch)


def bar(done: int, total: int, width: int = 24) -> str:
    filled = width * done // max(total, 1)
    return "[" + "#" * filled + "." * (width - filled) + "]"


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=["numba", "numpy"], default="numba")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--length", type=int, default=32)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--chars", type=int, default=20000)
    parser.add_argument("--lr", type=float, default=0.01)
    args = parser.parse_args(argv)
    text = corpus(args.chars)
    alphabet = sorted(set(text))
    index = {ch: k for k, ch in enumerate(alphabet)}
    codes = np.array([index[ch] for ch in text])
    vocabulary, hidden = len(alphabet), args.hidden

    params = build_params(vocabulary, hidden)
    chars_in = gc.input("chars_in", ("T", "B"), dtype="int64")
    chars_out = gc.input("chars_out", ("T", "B"), dtype="int64")
    loss = sequence_loss(params, gc.one_hot(chars_in, vocabulary), gc.one_hot(chars_out, vocabulary),
                         hidden)
    names = list(params.values())
    update = gc.optim.adam(names, gc.grad(loss, names), lr=args.lr)
    start = time.perf_counter()
    train = gc.compile([chars_in, chars_out, *names, *update.state],
                       [loss, *update.new_params, *update.new_state], backend=args.backend)
    compile_seconds = time.perf_counter() - start

    rng = np.random.default_rng(0)
    values = initial_values(vocabulary, hidden, rng)
    state = update.init_state(values)
    per_batch = args.length * args.batch
    batches = max(1, (len(codes) - 1) // per_batch)
    history = []
    print(f"{len(text)} characters of docs/*.md, {vocabulary} distinct; LSTM hidden {hidden}, "
          f"sequences of {args.length}, batches of {args.batch}; one compiled step "
          f"({compile_seconds:.1f} s to compile, {args.backend}); uniform guessing: "
          f"{np.log(vocabulary):.3f}")
    for epoch in range(args.epochs):
        offsets = rng.permutation(len(codes) - args.length - 1)[:batches * args.batch]
        total, started = 0.0, time.perf_counter()
        for k in range(batches):
            starts = offsets[k * args.batch:(k + 1) * args.batch]
            window = np.stack([codes[s:s + args.length + 1] for s in starts], axis=1)
            value, *rest = train(window[:-1], window[1:], *values, *state)
            values, state = update.split(rest)
            total += float(value)
            sys.stdout.write(f"\repoch {epoch + 1} {bar(k + 1, batches)} loss {total / (k + 1):.3f}")
            sys.stdout.flush()
        history.append(total / batches)
        print(f"\repoch {epoch + 1} {bar(batches, batches)} loss {history[-1]:.3f} "
              f"({time.perf_counter() - started:.1f} s)")
    line = sample(params, values, alphabet, hidden, args.backend, rng)
    print(f"sample: {line!r}")
    return {"losses": history, "uniform": float(np.log(vocabulary)), "sample": line}


def sample(params: dict[str, Any], values: list[np.ndarray], alphabet: list[str], hidden: int,
           backend: str, rng: np.random.Generator, length: int = 80) -> str:
    """One line of text, a character at a time, from a compiled single LSTM step."""
    h, c = gc.input("h", (1, hidden)), gc.input("c", (1, hidden))
    char = gc.input("char", (1,), dtype="int64")
    h2, c2 = lstm_cell(params)(h, c, gc.one_hot(char, len(alphabet)))
    probabilities = gc.softmax(h2 @ params["Wy"] + params["by"], axis=-1)
    step = gc.compile([h, c, char, *params.values()], [h2, c2, probabilities], backend=backend)
    state_h, state_c = np.zeros((1, hidden)), np.zeros((1, hidden))
    current, out = alphabet.index("\n") if "\n" in alphabet else 0, []
    for _ in range(length):
        state_h, state_c, p = step(state_h, state_c, np.array([current]), *values)
        current = int(rng.choice(len(alphabet), p=p[0] / p[0].sum()))
        if alphabet[current] == "\n" and out:
            break
        out.append(alphabet[current])
    return "".join(out)


if __name__ == "__main__":
    main()
