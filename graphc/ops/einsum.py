"""`einsum` (numpy.einsum subscripts) as a composition of existing ops, so it needs no op of its own.

Owns the subscript parser and the lowering: a letter repeated inside one operand
takes a diagonal, a letter only one operand has and the output lacks is summed
at once, then operands are contracted left to right. Each contraction is a
batched matmul (transpose to batch x free x contracted, flatten the groups,
`matmul`, reshape back): BLAS in the numba backend. A group whose flattening
would need two unknown sizes falls back to a broadcast multiply and a sum. VJPs
and batching rules come from the ops used. Imports: ir, layer L0, base and the
shape, elementwise, reduce, linalg and matrix families.
"""

from __future__ import annotations

import string
from collections.abc import Sequence
from typing import Any

from .. import shapes
from ..errors import GraphcError, ShapeError
from ..ir import Node
from .base import as_tensor, function
from .elementwise import multiply
from .linalg import matmul
from .matrix import diagonal
from .reduce import sum
from .shape import expand_dims, reshape, transpose

Term = tuple[Node, str]  # an operand and the letter of each of its axes


def _parse(subscripts: str, operands: Sequence[Node]) -> tuple[list[str], str]:
    """Per-operand letters (ellipses spelt out as capitals) and the output letters."""
    text = subscripts.replace(" ", "")
    inputs_text, arrow, output_text = text.partition("->")
    parts = inputs_text.split(",")
    if len(parts) != len(operands):
        raise GraphcError(f"einsum: the subscripts name {len(parts)} operands, "
                          f"{len(operands)} were given")
    for part in parts + [output_text]:
        if any(c not in string.ascii_letters and c != "." for c in part) or \
                part.replace("...", "").count(".") or part.count("...") > 1:
            raise GraphcError(f"einsum: invalid subscripts {subscripts!r} "
                              "(letters and one '...' per operand)")
    if any(c in string.ascii_uppercase for c in text):
        raise GraphcError("einsum: use lower-case subscript letters (graphc spells '...' with capitals)")
    ellipsis_rank = 0
    for part, x in zip(parts, operands):
        named = len(part.replace("...", ""))
        if ("..." in part and x.ndim < named) or ("..." not in part and x.ndim != named):
            raise ShapeError(f"einsum: operand subscripts {part!r} do not fit rank {x.ndim}")
        if "..." in part:
            ellipsis_rank = max(ellipsis_rank, x.ndim - named)
    capitals = string.ascii_uppercase[:ellipsis_rank]
    letters = [part.replace("...", capitals[ellipsis_rank - (x.ndim - len(part) + 3):])
               if "..." in part else part for part, x in zip(parts, operands)]
    if arrow:
        output = output_text.replace("...", capitals)
        if "..." not in output_text and ellipsis_rank and capitals:
            raise GraphcError("einsum: the output must keep the '...' of the operands")
    else:
        counts = "".join(letters)
        output = capitals + "".join(sorted(c for c in set(counts) if c.islower() and counts.count(c) == 1))
    for c in output:
        if output.count(c) > 1 or not any(c in term for term in letters):
            raise GraphcError(f"einsum: output subscript {c!r} is repeated or names no input axis")
    return letters, output


def _check_sizes(terms: Sequence[Term]) -> None:
    seen: dict[str, shapes.Size] = {}
    for x, letters in terms:
        for letter, size in zip(letters, x.shape):
            if letter.isupper() or letter not in seen:  # '...' axes broadcast, as in NumPy
                seen.setdefault(letter, size)
                continue
            if isinstance(size, int) and isinstance(seen[letter], int) and size != seen[letter]:
                raise ShapeError(f"einsum: subscript {letter!r} has sizes {seen[letter]} and {size}")
            shapes.require_equal(seen[letter], size)


def _diagonals(x: Node, letters: str) -> Term:
    """Take the diagonal for each letter repeated inside one operand ('ii->i')."""
    while True:
        repeated = next((c for c in letters if letters.count(c) > 1), None)
        if repeated is None:
            return x, letters
        first = letters.index(repeated)
        second = letters.index(repeated, first + 1)
        x = diagonal(x, 0, first, second)
        letters = "".join(c for i, c in enumerate(letters) if i not in (first, second)) + repeated


def _sum_out(term: Term, keep: set[str]) -> Term:
    x, letters = term
    axes = tuple(i for i, c in enumerate(letters) if c not in keep)
    if not axes:
        return term
    return sum(x, axis=axes), "".join(c for c in letters if c in keep)


def _permute(x: Node, letters: str, order: str) -> Node:
    axes = tuple(letters.index(c) for c in order)
    return x if axes == tuple(range(len(axes))) else transpose(x, axes)


def _flat_size(x: Node, letters: str, group: str) -> shapes.Size | None:
    """The product of a group's sizes, or None when it cannot be written as a reshape."""
    sizes = [x.shape[letters.index(c)] for c in group]
    if len(sizes) == 1:
        return sizes[0]
    total = shapes.product(sizes)
    return total if isinstance(total, int) else None


def _contract(left: Term, right: Term, keep: set[str]) -> Term:
    """The two operands contracted over the letters they share that `keep` lacks."""
    (a, la), (b, lb) = left, right
    batch = "".join(c for c in la if c in lb and c in keep)
    summed = "".join(c for c in la if c in lb and c not in keep)
    a_only = "".join(c for c in la if c not in lb)
    b_only = "".join(c for c in lb if c not in la)
    result_letters = batch + a_only + b_only
    groups = [(a, la, a_only), (a, la, summed), (b, lb, b_only)]
    flat = [1 if not g else _flat_size(x, letters, g) for x, letters, g in groups]
    if any(size is None for size in flat):
        return _broadcast_contract(left, right, keep)
    a_batch = tuple(a.shape[la.index(c)] for c in batch)
    b_batch = tuple(b.shape[lb.index(c)] for c in batch)
    lhs = reshape(_permute(a, la, batch + a_only + summed), a_batch + (flat[0], flat[1]))
    rhs = reshape(_permute(b, lb, batch + summed + b_only), b_batch + (flat[1], flat[2]))
    product = matmul(lhs, rhs)
    sizes = tuple(a.shape[la.index(c)] for c in a_only) + tuple(b.shape[lb.index(c)] for c in b_only)
    return reshape(product, product.shape[:len(batch)] + sizes), result_letters


def _broadcast_contract(left: Term, right: Term, keep: set[str]) -> Term:
    """The same contraction by a broadcast multiply and a sum (no BLAS)."""
    (a, la), (b, lb) = left, right
    union = la + "".join(c for c in lb if c not in la)
    aligned = []
    for x, letters in ((a, la), (b, lb)):
        present = "".join(c for c in union if c in letters)
        x = _permute(x, letters, present)
        missing = tuple(i for i, c in enumerate(union) if c not in letters)
        aligned.append(expand_dims(x, missing) if missing else x)
    return _sum_out((multiply(aligned[0], aligned[1]), union), keep)


@function
def einsum(subscripts: str, *operands: Any) -> Node:
    """numpy.einsum with explicit or implicit output and '...'; contractions run as matmuls."""
    if not isinstance(subscripts, str):
        raise GraphcError("einsum takes the subscripts string first, as numpy.einsum does")
    if not operands:
        raise GraphcError("einsum needs at least one operand")
    tensors = [as_tensor(x) for x in operands]
    letters, output = _parse(subscripts, tensors)
    terms = [_diagonals(x, letter) for x, letter in zip(tensors, letters)]
    _check_sizes(terms)
    for position in range(len(terms)):
        later = set(output).union(*(term[1] for k, term in enumerate(terms) if k != position))
        terms[position] = _sum_out(terms[position], later)
    current = terms[0]
    for position in range(1, len(terms)):
        later = set(output).union(*(term[1] for term in terms[position + 1:]))
        current = _contract(current, terms[position], later)
    current = _sum_out(current, set(output))
    return _permute(current[0], current[1], output)
