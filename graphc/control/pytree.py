"""Nested tuples/lists of tensors as a flat list plus a structure (JAX's pytrees, minimal).

Owns `flatten`, `unflatten` and `paths` (how an entry is named in errors:
`carry[1][0]`). A `None` entry is an empty subtree (a scan body may return
`None` for its per-step output). Imports: nothing of graphc (layer L3, used by
graphc.control).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

Structure = Any  # None for a leaf, "none" for None, (type, [child structures]) otherwise


def flatten(tree: Any) -> tuple[list[Any], Structure]:
    """Leaves in order (None entries dropped) and the structure to rebuild the tree."""
    if tree is None:
        return [], "none"
    if isinstance(tree, (tuple, list)):
        leaves: list[Any] = []
        children = []
        for item in tree:
            item_leaves, item_structure = flatten(item)
            leaves.extend(item_leaves)
            children.append((len(item_leaves), item_structure))
        return leaves, (type(tree), children)
    return [tree], None


def unflatten(structure: Structure, leaves: Sequence[Any]) -> Any:
    """The tree `flatten` took apart, with `leaves` in place of its leaves."""
    if structure is None:
        return leaves[0]
    if structure == "none":
        return None
    kind, children = structure
    out, start = [], 0
    for count, child in children:
        out.append(unflatten(child, leaves[start:start + count]))
        start += count
    return kind(*out) if hasattr(kind, "_fields") else kind(out)


def paths(structure: Structure, prefix: str) -> list[str]:
    """A readable name per leaf: `carry`, `carry[0]`, `carry[1][2]`."""
    if structure is None:
        return [prefix]
    if structure == "none":
        return []
    _, children = structure
    return [path for k, (_, child) in enumerate(children) for path in paths(child, f"{prefix}[{k}]")]


def describe(structure: Structure) -> str:
    """The shape of a tree in words, for structure-mismatch errors: `(tensor, [tensor, None])`."""
    if structure is None:
        return "tensor"
    if structure == "none":
        return "None"
    kind, children = structure
    inner = ", ".join(describe(child) for _, child in children)
    return f"[{inner}]" if kind is list else f"({inner}{',' if len(children) == 1 else ''})"
