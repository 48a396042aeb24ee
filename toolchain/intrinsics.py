"""Intrinsics: the one registry of the dialect's names, and the intrinsics' checking and lowering.

`INTRINSICS` maps every callable that `qkernel.dialect` exports to kernel code (hardware and
memory primitives, the compile-time forms `cast`/`sizeof`/`offsetof`/`addr_of`, and `kfmt`) to an
`Intrinsic`: how check.py types a call (`check`), how lower.py emits it (`lower`), how a constant
expression folds it (`fold`, for sizeof/offsetof), whether a call ends a function (`noreturn`), and
which kernel modules its lowering calls into (`needs`, loaded by resolve.py when the name is
imported). `DIALECT_NAMES`, the names a kernel module may import from `qkernel.dialect`, is derived
from it and the few non-callable names below; tests/toolchain/test_registry.py checks that this
registry and qkernel/dialect.py list the same names. Port I/O, MSR, control-register, hlt and fence
intrinsics clobber memory: stores before them are complete when they execute (the qcall protocol
relies on it).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

import llvmlite.ir as ir

from .types import (BOOL, I32, INT_TYPES, U8, U16, U32, U64, UNTYPED_INT, VOID, ArrayType, FnType,
                    IntType, NullType, PtrType, Type, UntypedIntType)

if TYPE_CHECKING:
    from .check import FunctionChecker
    from .lower import FunctionLowerer
    from .resolve import ModuleInfo
    from .typeexpr import Env


@dataclass(frozen=True)
class Intrinsic:
    name: str
    check: Callable[["FunctionChecker", ast.Call, str], Type]
    lower: Callable[["FunctionLowerer", ast.Call, str], "ir.Value | None"] | None  # None: folded
    fold: Callable[["Env", "ModuleInfo", ast.Call], int] | None = None
    noreturn: bool = False      # a call ends the function for the missing-return check
    needs: tuple[str, ...] = ()  # kernel modules the lowering calls into


INTRINSICS: dict[str, Intrinsic] = {}


def _register(names: str, lower: Callable | None = None, **kw: object) -> Callable:
    """Decorates a check function; registers it (and `lower`) for every name in `names`."""
    def add(check: Callable) -> Callable:
        for n in names.split():
            assert n not in INTRINSICS, n
            INTRINSICS[n] = Intrinsic(n, check, lower, **kw)  # type: ignore[arg-type]
        return check
    return add


# The rest of the dialect: names that are not called as intrinsics.
DIALECT_TYPES = frozenset(INT_TYPES)                       # u8 ... i64 (also conversions)
TYPE_FORMS = frozenset({"ptr", "array", "fn"})             # ptr[T], array[T, N], fn[[A], R]
DECORATORS = frozenset({"struct", "export", "inline", "noinline"})
DIALECT_VALUES = frozenset({"NULL", "Final"})
# Names qkernel.dialect defines for CPython only (a kernel module cannot import them).
CPYTHON_ONLY = frozenset({"DialectError", "layout", "Layout"})
# Builtins kernel Python names in an error instead of "not defined" (the builtins it has, bool,
# len, ord and range, are handled by check_calls.py and check.py).
REJECTED_BUILTINS = frozenset({"print", "range", "int", "str", "isinstance", "type", "getattr", "object"})

_PORT_OUT = {"outb": U8, "outw": U16, "outl": U32}
_PORT_IN = {"inb": U8, "inw": U16, "inl": U32}
_READ_REG = {"read_cr0": "%cr0", "read_cr2": "%cr2", "read_cr3": "%cr3", "read_cr4": "%cr4",
             "read_rsp": "%rsp", "read_rbp": "%rbp"}
_WRITE_REG = {"write_cr0": "%cr0", "write_cr3": "%cr3", "write_cr4": "%cr4"}
_PLAIN = {"halt": "hlt", "pause": "pause", "fence": "mfence", "trap": "ud2"}


def _argc(ck: "FunctionChecker", node: ast.Call, n: int, name: str) -> None:
    if len(node.args) != n:
        raise ck.err(node, f"{name}() takes {n} argument{'s' * (n != 1)}, got {len(node.args)}")


def _scalar_ptr(ck: "FunctionChecker", node: ast.expr, name: str) -> Type:
    t = ck.expr(node)
    if not isinstance(t, PtrType) or not isinstance(t.target, IntType):
        raise ck.err(node, f"{name}() needs a pointer to an integer, got {t}")
    node.qconv = t  # type: ignore[attr-defined]
    return t.target


def _any_ptr(ck: "FunctionChecker", node: ast.expr, name: str) -> None:
    t = ck.expr(node)
    if isinstance(t, ArrayType) and ck.is_lvalue(node):
        node.qconv = PtrType(t.elem)  # type: ignore[attr-defined]
        return
    if not isinstance(t, PtrType):
        raise ck.err(node, f"{name}() needs a pointer, got {t}")
    node.qconv = t  # type: ignore[attr-defined]


def _asm_call(lw: "FunctionLowerer", ret: ir.Type, text: str, constraints: str, args: list) -> ir.Value:
    ftype = ir.FunctionType(ret, [a.type for a in args])
    return lw.b.asm(ftype, text, constraints, args, side_effect=True)


# ---------------------------------------------------------------- compile-time forms


def _lower_cast(lw: "FunctionLowerer", node: ast.Call, name: str) -> ir.Value:
    return lw.value_as(node.args[-1], node.qt)  # type: ignore[attr-defined]


@_register("cast", _lower_cast)
def _check_cast(ck: "FunctionChecker", node: ast.Call, name: str) -> Type:
    if len(node.args) != 2:
        raise ck.err(node, "cast takes a type and a value: cast(ptr[T], x)")
    t = ck.env.resolve_type(ck.mod, node.args[0])
    t = ck.call_cast(node, t, node.args[1:], "cast")
    node.qcall = ("intrinsic", "cast")  # type: ignore[attr-defined]  (call_cast recorded ("cast", t))
    return t


def _fold_sizeof(env: "Env", mod: "ModuleInfo", node: ast.Call) -> int:
    if len(node.args) != 1:
        raise mod.error(node, "sizeof takes a type")
    return env.sizeof(mod, node.args[0])


def _fold_offsetof(env: "Env", mod: "ModuleInfo", node: ast.Call) -> int:
    if len(node.args) != 2:
        raise mod.error(node, "offsetof takes a type and a field name")
    return env.offsetof(mod, node)


def _check_folded(ck: "FunctionChecker", node: ast.Call, name: str) -> Type:
    node.qconst = INTRINSICS[name].fold(ck.env, ck.mod, node)  # type: ignore[attr-defined,misc]
    return UNTYPED_INT


_register("sizeof", fold=_fold_sizeof)(_check_folded)
_register("offsetof", fold=_fold_offsetof)(_check_folded)


def _lower_addr_of(lw: "FunctionLowerer", node: ast.Call, name: str) -> ir.Value:
    return lw.address(node.args[0])


@_register("addr_of", _lower_addr_of)
def _check_addr_of(ck: "FunctionChecker", node: ast.Call, name: str) -> Type:
    _argc(ck, node, 1, name)
    t = ck.expr(node.args[0])
    if not ck.is_lvalue(node.args[0]):
        raise ck.err(node.args[0], "addr_of() needs a variable, a field or an element")
    return PtrType(t)


# ---------------------------------------------------------------- port I/O, MSRs, registers


def _lower_port_out(lw: "FunctionLowerer", node: ast.Call, name: str) -> None:
    port, val = lw.value(node.args[0]), lw.value(node.args[1])
    reg = {"outb": "al", "outw": "ax", "outl": "eax"}[name]
    _asm_call(lw, ir.VoidType(), f"out %{reg}, %dx", f"{{{reg}}},{{dx}},~{{memory}}", [val, port])


@_register("outb outw outl", _lower_port_out)
def _check_port_out(ck: "FunctionChecker", node: ast.Call, name: str) -> Type:
    _argc(ck, node, 2, name)
    ck.coerce(node.args[0], U16, f"{name} port")
    ck.coerce(node.args[1], _PORT_OUT[name], f"{name} value")
    return VOID


def _lower_port_in(lw: "FunctionLowerer", node: ast.Call, name: str) -> ir.Value:
    reg = {"inb": "al", "inw": "ax", "inl": "eax"}[name]
    return _asm_call(lw, _PORT_IN[name].llvm, f"in %dx, %{reg}", f"={{{reg}}},{{dx}},~{{memory}}",
                     [lw.value(node.args[0])])


@_register("inb inw inl", _lower_port_in)
def _check_port_in(ck: "FunctionChecker", node: ast.Call, name: str) -> Type:
    _argc(ck, node, 1, name)
    ck.coerce(node.args[0], U16, f"{name} port")
    return _PORT_IN[name]


def _lower_rdmsr(lw: "FunctionLowerer", node: ast.Call, name: str) -> ir.Value:
    b = lw.b
    pair = ir.LiteralStructType([ir.IntType(32), ir.IntType(32)])
    r = _asm_call(lw, pair, "rdmsr", "={eax},={edx},{ecx},~{memory}", [lw.value(node.args[0])])
    lo = b.zext(b.extract_value(r, 0), ir.IntType(64))
    hi = b.zext(b.extract_value(r, 1), ir.IntType(64))
    return b.or_(lo, b.shl(hi, ir.Constant(ir.IntType(64), 32)))


@_register("rdmsr", _lower_rdmsr)
def _check_rdmsr(ck: "FunctionChecker", node: ast.Call, name: str) -> Type:
    _argc(ck, node, 1, name)
    ck.coerce(node.args[0], U32, "MSR number")
    return U64


def _lower_wrmsr(lw: "FunctionLowerer", node: ast.Call, name: str) -> None:
    b = lw.b
    v = lw.value(node.args[1])
    lo = b.trunc(v, ir.IntType(32))
    hi = b.trunc(b.lshr(v, ir.Constant(ir.IntType(64), 32)), ir.IntType(32))
    _asm_call(lw, ir.VoidType(), "wrmsr", "{ecx},{eax},{edx},~{memory}", [lw.value(node.args[0]), lo, hi])


@_register("wrmsr", _lower_wrmsr)
def _check_wrmsr(ck: "FunctionChecker", node: ast.Call, name: str) -> Type:
    _argc(ck, node, 2, name)
    ck.coerce(node.args[0], U32, "MSR number")
    ck.coerce(node.args[1], U64, "MSR value")
    return VOID


def _lower_read_reg(lw: "FunctionLowerer", node: ast.Call, name: str) -> ir.Value:
    return _asm_call(lw, ir.IntType(64), f"mov {_READ_REG[name]}, $0", "=r,~{memory}", [])


@_register(" ".join(_READ_REG), _lower_read_reg)
def _check_read_reg(ck: "FunctionChecker", node: ast.Call, name: str) -> Type:
    _argc(ck, node, 0, name)
    return U64


def _lower_write_reg(lw: "FunctionLowerer", node: ast.Call, name: str) -> None:
    _asm_call(lw, ir.VoidType(), f"mov $0, {_WRITE_REG[name]}", "r,~{memory}", [lw.value(node.args[0])])


@_register(" ".join(_WRITE_REG), _lower_write_reg)
def _check_write_reg(ck: "FunctionChecker", node: ast.Call, name: str) -> Type:
    _argc(ck, node, 1, name)
    ck.coerce(node.args[0], U64, f"{name} value")
    return VOID


def _check_no_args(ck: "FunctionChecker", node: ast.Call, name: str) -> Type:
    _argc(ck, node, 0, name)
    return VOID


def _lower_plain(lw: "FunctionLowerer", node: ast.Call, name: str) -> None:
    _asm_call(lw, ir.VoidType(), _PLAIN[name], "~{memory}", [])


def _lower_unreachable(lw: "FunctionLowerer", node: ast.Call, name: str) -> None:
    lw.b.unreachable()
    lw.start_dead_block()


_register("halt pause fence", _lower_plain)(_check_no_args)
_register("trap", _lower_plain, noreturn=True)(_check_no_args)
_register("unreachable", _lower_unreachable, noreturn=True)(_check_no_args)


# ---------------------------------------------------------------- atomics, volatiles, memory


class _VolatileLoad(ir.instructions.LoadInstr):
    def descr(self, buf: list) -> None:
        [val] = self.operands
        buf.append(f"load volatile {self.type}, {val.type} {val.get_reference()}\n")


class _VolatileStore(ir.instructions.StoreInstr):
    def descr(self, buf: list) -> None:
        val, ptr = self.operands
        buf.append(f"store volatile {val.type} {val.get_reference()}, {ptr.type} {ptr.get_reference()}\n")


_MEMOP_ARGC = {"atomic_cas": 3, "atomic_fetch_add": 2, "atomic_load": 1, "atomic_store": 2,
               "volatile_load": 1, "volatile_store": 2}


def _lower_memop(lw: "FunctionLowerer", node: ast.Call, name: str) -> ir.Value | None:
    b, args = lw.b, node.args
    if name == "atomic_cas":
        r = b.cmpxchg(lw.value(args[0]), lw.value(args[1]), lw.value(args[2]), "seq_cst", "seq_cst")
        return b.extract_value(r, 0)
    if name == "atomic_fetch_add":
        return b.atomic_rmw("add", lw.value(args[0]), lw.value(args[1]), "seq_cst")
    t: Type = args[0].qt.target  # type: ignore[attr-defined]
    if name == "atomic_load":
        return b.load_atomic(lw.value(args[0]), "seq_cst", t.size, typ=t.llvm)
    if name == "atomic_store":
        b._insert(ir.instructions.StoreAtomicInstr(b.block, lw.value(args[1]), lw.value(args[0]),
                                                   "seq_cst", t.size))
        return None
    if name == "volatile_load":
        instr = _VolatileLoad(b.block, lw.value(args[0]), typ=t.llvm)
        b._insert(instr)
        return instr
    instr = _VolatileStore(b.block, lw.value(args[1]), lw.value(args[0]))
    b._insert(instr)
    return None


@_register(" ".join(_MEMOP_ARGC), _lower_memop)
def _check_memop(ck: "FunctionChecker", node: ast.Call, name: str) -> Type:
    _argc(ck, node, _MEMOP_ARGC[name], name)
    t = _scalar_ptr(ck, node.args[0], name)
    for a in node.args[1:]:
        ck.coerce(a, t, f"{name} operand")
    return VOID if name.endswith("store") else t


def _lower_mem(lw: "FunctionLowerer", node: ast.Call, name: str) -> ir.Value | None:
    b = lw.b
    vals = [lw.value(a) for a in node.args]
    if name == "memset":
        vals[1] = b.zext(vals[1], ir.IntType(32))
    ret = {"memcpy": ir.PointerType(), "memset": ir.PointerType(), "memcmp": ir.IntType(32)}[name]
    r = b.call(lw.runtime_function(name, ret, [v.type for v in vals]), vals)
    return r if name == "memcmp" else None


@_register("memcpy memset memcmp", _lower_mem)
def _check_mem(ck: "FunctionChecker", node: ast.Call, name: str) -> Type:
    args = node.args
    _argc(ck, node, 3, name)
    _any_ptr(ck, args[0], name)
    if name == "memset":
        ck.coerce(args[1], U8, "memset byte")
    else:
        _any_ptr(ck, args[1], name)
    ck.coerce(args[2], U64, f"{name} length")
    return I32 if name == "memcmp" else VOID


# ---------------------------------------------------------------- inline asm


def _lower_asm(lw: "FunctionLowerer", node: ast.Call, name: str) -> ir.Value | None:
    args = node.args
    text, constraints = args[0].value, args[1].value  # type: ignore[attr-defined]
    vals = [lw.value(a) for a in args[2:]]
    ret = ir.IntType(64) if constraints.startswith("=") else ir.VoidType()
    r = _asm_call(lw, ret, text, constraints, vals)
    return r if constraints.startswith("=") else None


@_register("asm", _lower_asm)
def _check_asm(ck: "FunctionChecker", node: ast.Call, name: str) -> Type:
    args = node.args
    if len(args) < 2 or not all(isinstance(a, ast.Constant) and isinstance(a.value, str) for a in args[:2]):
        raise ck.err(node, 'asm takes a template and a constraint string: asm("mov %cr3, $0", "=r")')
    parts = [p.strip() for p in args[1].value.split(",") if p.strip()]  # type: ignore[attr-defined]
    outputs = [p for p in parts if p.startswith("=")]
    inputs = [p for p in parts if not p.startswith(("=", "~"))]
    if len(outputs) > 1 or (outputs and not parts[0].startswith("=")):
        raise ck.err(args[1], "asm supports one output, and it comes first in the constraints")
    if len(inputs) != len(args) - 2:
        raise ck.err(args[1], f"asm constraints name {len(inputs)} input operand"
                              f"{'s' * (len(inputs) != 1)} but {len(args) - 2} "
                              f"{'were' if len(args) != 3 else 'was'} given")
    for a in args[2:]:
        t = ck.expr(a)
        if isinstance(t, UntypedIntType):
            ck.coerce(a, U64, "asm operand")
        elif isinstance(t, (IntType, PtrType, FnType)) or t == BOOL:
            a.qconv = t  # type: ignore[attr-defined]
        elif isinstance(t, NullType):
            ck.coerce(a, PtrType(U8), "asm operand")
        else:
            raise ck.err(a, f"asm operands are scalars, not {t}")
    return U64 if args[1].value.startswith("=") else VOID  # type: ignore[attr-defined]


# ---------------------------------------------------------------- formatting (kfmt.py)

from .kfmt import FMT_MODULE, check_kfmt, lower_kfmt  # noqa: E402  (kfmt.py needs nothing from here)

_register("kfmt", lower_kfmt, needs=(FMT_MODULE,))(check_kfmt)


# ---------------------------------------------------------------- the derived views

DIALECT_NAMES = frozenset(INTRINSICS) | DIALECT_TYPES | TYPE_FORMS | DECORATORS | DIALECT_VALUES


def check_intrinsic(ck: "FunctionChecker", node: ast.Call, name: str) -> Type:
    entry = INTRINSICS.get(name)
    if entry is None:
        raise ck.err(node, f"'{name}' cannot be called here")
    node.qcall = ("intrinsic", name)  # type: ignore[attr-defined]
    return entry.check(ck, node, name)


def lower_intrinsic(lw: "FunctionLowerer", node: ast.Call, name: str) -> ir.Value | None:
    entry = INTRINSICS[name]
    assert entry.lower is not None, f"intrinsic {name} is folded, never lowered"
    return entry.lower(lw, node, name)


__all__ = ["DIALECT_NAMES", "INTRINSICS", "Intrinsic", "check_intrinsic", "lower_intrinsic"]
