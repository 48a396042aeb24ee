"""kfmt(lp, b"fmt", args...): a formatting intrinsic checked at compile time.

The format is a bytes literal; its conversions are matched against the arguments' count and types
when the call is checked, and the call is lowered to the sequence of `qkernel.lib.fmt` calls that
prints it (`put_str` for literal text, `put_char` for one byte, then `put_signed`, `put_dec`,
`put_hex`, `put_str`, `put_char` per conversion). The fmt module is loaded by resolve.py when a
module imports `kfmt` (the registry entry's `needs`), so its functions are called by their link
symbols (`qkernel.lib.fmt.put_hex`) without the user importing them. All arguments are evaluated
first, left to right, then printed (as CPython's `qkernel.dialect.kfmt` does).

| conversion | argument | printed by |
|---|---|---|
| %d | signed integer (or a constant) | put_signed (as i64) |
| %u | unsigned integer (or a constant >= 0) | put_dec (as u64) |
| %x | unsigned integer, pointer or function pointer | put_hex: 0x-prefixed, lowercase, no leading zeros |
| %s | ptr[u8], a bytes literal or an array[u8, N] | put_str (up to the NUL) |
| %c | u8 (or a constant 0..255, e.g. ord(b"a")) | put_char |
| %% | - | a literal '%' |
No widths, flags or length modifiers.
"""

from __future__ import annotations

import ast
from typing import TYPE_CHECKING

from .decls import FuncDecl, StructDecl
from .types import I64, U8, U64, ArrayType, FnType, IntType, PtrType, Type, UntypedIntType, VOID

if TYPE_CHECKING:
    import llvmlite.ir as ir

    from .check import FunctionChecker
    from .lower import FunctionLowerer

FMT_MODULE = "qkernel.lib.fmt"
CONVERSIONS = {"d": "put_signed", "u": "put_dec", "x": "put_hex", "s": "put_str", "c": "put_char"}


class FormatError(ValueError):
    def __init__(self, message: str, offset: int) -> None:
        super().__init__(message)
        self.offset = offset  # of the offending byte in the format


def parse_format(fmt: bytes) -> list[tuple[str, bytes]]:
    """[("text", b"..."), ("conv", b"x"), ...]; raises FormatError for a bad format."""
    out: list[tuple[str, bytes]] = []
    text = bytearray()
    i = 0
    while i < len(fmt):
        c = fmt[i]
        if c == 0:
            raise FormatError("a kfmt format cannot contain a NUL byte", i)
        if c != ord("%"):
            text.append(c)
            i += 1
            continue
        if i + 1 >= len(fmt):
            raise FormatError("the kfmt format ends with a lone '%' (write %% for a literal '%')", i)
        conv = chr(fmt[i + 1])
        if conv == "%":
            text.append(ord("%"))
        elif conv in CONVERSIONS:
            if text:
                out.append(("text", bytes(text)))
                text = bytearray()
            out.append(("conv", conv.encode()))
        elif conv in "0123456789-+ #.lhz":
            raise FormatError(f"kfmt has no widths, flags or length modifiers ('%{conv}...'); "
                              "use %d %u %x %s %c or %%", i)
        else:
            raise FormatError(f"unknown kfmt conversion '%{conv}' (kfmt knows %d %u %x %s %c and %%)", i)
        i += 2
    if text:
        out.append(("text", bytes(text)))
    return out


def _line_type(ck: "FunctionChecker") -> Type:
    fmod = ck.env.prog.modules.get(FMT_MODULE)
    line = ck.env.prog.lookup(fmod, "Line") if fmod is not None else None
    if not isinstance(line, StructDecl) or line.stype is None:
        raise AssertionError(f"{FMT_MODULE} was not loaded or has no struct Line")
    return PtrType(line.stype)


def _check_arg(ck: "FunctionChecker", a: ast.expr, conv: str, n: int) -> None:
    t = ck.expr(a)
    what = f"kfmt value {n} (%{conv})"
    if conv == "d":
        if not (isinstance(t, UntypedIntType) or isinstance(t, IntType) and t.signed):
            raise ck.err(a, f"{what} prints a signed integer, got {t}"
                            + ("; use %u, or convert with i64(...)" if isinstance(t, IntType) else ""))
        ck.coerce(a, I64, what)
    elif conv == "u":
        if not (isinstance(t, UntypedIntType) or isinstance(t, IntType) and not t.signed):
            raise ck.err(a, f"{what} prints an unsigned integer, got {t}"
                            + ("; use %d, or convert with u64(...)" if isinstance(t, IntType) else ""))
        ck.coerce(a, U64, what)
    elif conv == "x":
        if isinstance(t, (PtrType, FnType)):
            a.qconv = U64  # type: ignore[attr-defined]  (printed as its address)
            return
        if not (isinstance(t, UntypedIntType) or isinstance(t, IntType) and not t.signed):
            raise ck.err(a, f"{what} prints an unsigned integer or a pointer, got {t}"
                            + ("; convert with u64(...)" if isinstance(t, IntType) else ""))
        ck.coerce(a, U64, what)
    elif conv == "s":
        if not (t == PtrType(U8) or isinstance(t, ArrayType) and t.elem == U8):
            raise ck.err(a, f"{what} prints a NUL-terminated ptr[u8] (or an array[u8, N]), got {t}")
        ck.coerce(a, PtrType(U8), what)
    else:
        ck.coerce(a, U8, what)


def _at_byte(ck: "FunctionChecker", lit: ast.Constant, offset: int) -> ast.AST:
    """A location at byte `offset` of the literal when its source spells the bytes plainly
    (one line, no escapes), else the literal itself."""
    line = ck.mod.src.lines[lit.lineno - 1] if 0 < lit.lineno <= len(ck.mod.src.lines) else ""
    seg = line[lit.col_offset:lit.end_col_offset] if lit.end_lineno == lit.lineno else ""
    if len(seg) >= 3 and seg[0] in "bB" and seg[1] in "'\"" and "\\" not in seg \
            and seg[2:-1].encode("latin-1", "replace") == lit.value:
        at = ast.Constant(None)
        at.lineno, at.col_offset = lit.lineno, lit.col_offset + 2 + offset
        return at
    return lit


def check_kfmt(ck: "FunctionChecker", node: ast.Call, name: str) -> Type:
    args = node.args
    if len(args) < 2 or not (isinstance(args[1], ast.Constant) and isinstance(args[1].value, bytes)):
        raise ck.err(node, 'kfmt takes a ptr[Line], a bytes literal format and the values: '
                           'kfmt(lp, b"rip=%x", rip)')
    lt = _line_type(ck)
    t = ck.expr(args[0])
    if t != lt:
        raise ck.err(args[0], f"kfmt writes into a {lt} ({FMT_MODULE}.Line), got {t}")
    args[0].qconv = lt  # type: ignore[attr-defined]
    try:
        pieces = parse_format(args[1].value)
    except FormatError as e:
        raise ck.err(_at_byte(ck, args[1], e.offset), str(e)) from None
    convs = [p[1].decode() for p in pieces if p[0] == "conv"]
    values = args[2:]
    if len(convs) != len(values):
        listed = " ".join("%" + c for c in convs) or "none"
        raise ck.err(args[1], f"the kfmt format has {len(convs)} conversion{'s' * (len(convs) != 1)} "
                              f"({listed}) but {len(values)} value{'s' * (len(values) != 1)} "
                              f"{'were' if len(values) != 1 else 'was'} given")
    for i, (a, c) in enumerate(zip(values, convs)):
        _check_arg(ck, a, c, i + 1)
    node.qfmt = pieces  # type: ignore[attr-defined]
    return VOID


def lower_kfmt(lw: "FunctionLowerer", node: ast.Call, name: str) -> None:
    import llvmlite.ir as ir
    fmod = lw.ml.env.prog.modules[FMT_MODULE]

    def call(fname: str, v: "ir.Value") -> None:
        d = fmod.decls[fname]
        assert isinstance(d, FuncDecl)
        lw.b.call(lw.ml.func_ref(d), [lp, v])

    lp = lw.value(node.args[0])
    values = iter([lw.value(a) for a in node.args[2:]])  # evaluated first, left to right
    for kind, data in node.qfmt:  # type: ignore[attr-defined]
        if kind == "text" and len(data) == 1:
            call("put_char", ir.Constant(ir.IntType(8), data[0]))
        elif kind == "text":
            call("put_str", lw.ml.bytes_const(data))
        else:
            call(CONVERSIONS[data.decode()], next(values))


__all__ = ["CONVERSIONS", "FMT_MODULE", "check_kfmt", "lower_kfmt", "parse_format"]
