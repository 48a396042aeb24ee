"""Constant folding with kernel-Python semantics (docs/kernel-python.md, "Arithmetic").

Untyped constants (literals, untyped Final constants) fold exactly, like Python ints, except that
`//` and `%` truncate toward zero as in C. Typed results wrap to their type's width.
"""

from __future__ import annotations

import ast

from .types import IntType

_OPS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.FloorDiv: "//", ast.Mod: "%",
        ast.BitAnd: "&", ast.BitOr: "|", ast.BitXor: "^", ast.LShift: "<<", ast.RShift: ">>",
        ast.Div: "/", ast.Pow: "**", ast.MatMult: "@"}


def op_symbol(op: ast.operator) -> str:
    return _OPS.get(type(op), type(op).__name__)


def trunc_div(a: int, b: int) -> int:
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b >= 0) else -q


def fold_binop(mod, node: ast.BinOp, a: int, b: int, t: IntType | None) -> int:  # noqa: ANN001
    """a OP b; with t given, operands and result are of type t (wrapped)."""
    op = type(node.op)
    if op in (ast.FloorDiv, ast.Mod) and b == 0:
        raise mod.error(node, "division by zero in a constant expression")
    if op is ast.Add:
        r = a + b
    elif op is ast.Sub:
        r = a - b
    elif op is ast.Mult:
        r = a * b
    elif op is ast.FloorDiv:
        r = trunc_div(a, b)
    elif op is ast.Mod:
        r = a - b * trunc_div(a, b)
    elif op is ast.BitAnd:
        r = a & b
    elif op is ast.BitOr:
        r = a | b
    elif op is ast.BitXor:
        r = a ^ b
    elif op in (ast.LShift, ast.RShift):
        if t is not None:
            b &= t.bits - 1
        elif b < 0 or b > 4096:
            raise mod.error(node, f"shift count {b} out of range in a constant expression")
        r = a << b if op is ast.LShift else a >> b
    elif op is ast.Div:
        raise mod.error(node, "'/' is float division, which kernel Python does not have; use '//'")
    elif op is ast.Pow:
        if b < 0 or b > 4096:
            raise mod.error(node, f"exponent {b} out of range in a constant expression")
        r = a ** b
    else:
        raise mod.error(node, f"operator '{op_symbol(node.op)}' is not supported")
    return t.wrap(r) if t is not None else r


def fold_unary(mod, node: ast.UnaryOp, v: int, t: IntType | None = None) -> int:  # noqa: ANN001
    if isinstance(node.op, ast.USub):
        r = -v
    elif isinstance(node.op, ast.UAdd):
        r = v
    elif isinstance(node.op, ast.Invert):
        r = ~v
    elif isinstance(node.op, ast.Not):
        return int(not v)
    else:
        raise mod.error(node, "unsupported unary operator")
    return t.wrap(r) if t is not None else r


def char_constant(mod, node: ast.Call) -> int:  # noqa: ANN001
    """`ord(b"c")` for a 1-byte bytes literal: the byte, an untyped integer constant (0..255)."""
    if len(node.args) != 1 or node.keywords:
        raise mod.error(node, "ord() takes one argument, a 1-byte bytes literal: ord(b\"/\")")
    a = node.args[0]
    if isinstance(a, ast.Constant) and isinstance(a.value, str):
        raise mod.error(a, f"ord() of a str: kernel Python has no str; write ord(b{a.value!r})"
                        if len(a.value) == 1 and a.value.isascii() else
                        "ord() takes a 1-byte bytes literal, not a str")
    if not is_bytes_literal(a):
        raise mod.error(a, "ord() takes a 1-byte bytes literal (a character constant); "
                           "to read a byte at run time, index a ptr[u8]")
    if len(a.value) != 1:  # type: ignore[attr-defined]
        raise mod.error(a, f"ord() takes a 1-byte bytes literal, got {len(a.value)} bytes "  # type: ignore[attr-defined]
                           f"({a.value!r})")  # type: ignore[attr-defined]
    return a.value[0]  # type: ignore[attr-defined]


def byte_at(mod, node: ast.Subscript, i: int) -> int:  # noqa: ANN001
    """`b"..."[i]` for a constant index i: the byte, an untyped constant (0..255)."""
    data: bytes = node.value.value  # type: ignore[attr-defined]
    if isinstance(i, bool) or not 0 <= i < len(data):
        raise mod.error(node.slice, f"index {i} is out of range for the {len(data)}-byte literal {data!r}")
    return data[i]


def is_bytes_literal(node: ast.expr) -> bool:
    return isinstance(node, ast.Constant) and isinstance(node.value, bytes)
