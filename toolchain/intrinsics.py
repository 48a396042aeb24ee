"""Intrinsics: the dialect's hardware and memory primitives, type-checked and lowered.

`check_intrinsic` gives each intrinsic call its type (check.py); `lower_intrinsic` emits its
LLVM IR (lower.py). Port I/O, MSR, control-register, hlt and fence intrinsics clobber memory:
stores before them are complete when they execute (the qcall protocol relies on it).
"""

from __future__ import annotations

import ast
from typing import TYPE_CHECKING

import llvmlite.ir as ir

from .types import (BOOL, I32, U8, U16, U32, U64, VOID, ArrayType, FnType, IntType, NullType,
                    PtrType, Type, UntypedIntType)

if TYPE_CHECKING:
    from .check import FunctionChecker
    from .lower import FunctionLowerer

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


def check_intrinsic(ck: "FunctionChecker", node: ast.Call, name: str) -> Type:
    args = node.args
    if name == "addr_of":
        _argc(ck, node, 1, name)
        t = ck.expr(args[0])
        if not ck.is_lvalue(args[0]):
            raise ck.err(args[0], "addr_of() needs a variable, a field or an element")
        return PtrType(t)
    if name in _PORT_OUT:
        _argc(ck, node, 2, name)
        ck.coerce(args[0], U16, f"{name} port")
        ck.coerce(args[1], _PORT_OUT[name], f"{name} value")
        return VOID
    if name in _PORT_IN:
        _argc(ck, node, 1, name)
        ck.coerce(args[0], U16, f"{name} port")
        return _PORT_IN[name]
    if name == "rdmsr":
        _argc(ck, node, 1, name)
        ck.coerce(args[0], U32, "MSR number")
        return U64
    if name == "wrmsr":
        _argc(ck, node, 2, name)
        ck.coerce(args[0], U32, "MSR number")
        ck.coerce(args[1], U64, "MSR value")
        return VOID
    if name in _READ_REG:
        _argc(ck, node, 0, name)
        return U64
    if name in _WRITE_REG:
        _argc(ck, node, 1, name)
        ck.coerce(args[0], U64, f"{name} value")
        return VOID
    if name in _PLAIN or name == "unreachable":
        _argc(ck, node, 0, name)
        return VOID
    if name in ("atomic_cas", "atomic_fetch_add", "atomic_load", "atomic_store",
                "volatile_load", "volatile_store"):
        n = {"atomic_cas": 3, "atomic_fetch_add": 2, "atomic_store": 2, "volatile_store": 2}.get(name, 1)
        _argc(ck, node, n, name)
        t = _scalar_ptr(ck, args[0], name)
        for a in args[1:]:
            ck.coerce(a, t, f"{name} operand")
        return VOID if name.endswith("store") else t
    if name in ("memcpy", "memset", "memcmp"):
        _argc(ck, node, 3, name)
        _any_ptr(ck, args[0], name)
        if name == "memset":
            ck.coerce(args[1], U8, "memset byte")
        else:
            _any_ptr(ck, args[1], name)
        ck.coerce(args[2], U64, f"{name} length")
        return I32 if name == "memcmp" else VOID
    if name == "asm":
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
            elif isinstance(t, (IntType, PtrType, FnType)):
                a.qconv = t  # type: ignore[attr-defined]
            elif t == BOOL:
                a.qconv = t  # type: ignore[attr-defined]
            elif isinstance(t, NullType):
                ck.coerce(a, PtrType(U8), "asm operand")
            else:
                raise ck.err(a, f"asm operands are scalars, not {t}")
        return U64 if args[1].value.startswith("=") else VOID  # type: ignore[attr-defined]
    raise ck.err(node, f"intrinsic '{name}' cannot be called here")


def _asm(lw: "FunctionLowerer", ret: ir.Type, text: str, constraints: str, args: list) -> ir.Value:
    ftype = ir.FunctionType(ret, [a.type for a in args])
    return lw.b.asm(ftype, text, constraints, args, side_effect=True)


class _VolatileLoad(ir.instructions.LoadInstr):
    def descr(self, buf: list) -> None:
        [val] = self.operands
        buf.append(f"load volatile {self.type}, {val.type} {val.get_reference()}\n")


class _VolatileStore(ir.instructions.StoreInstr):
    def descr(self, buf: list) -> None:
        val, ptr = self.operands
        buf.append(f"store volatile {val.type} {val.get_reference()}, {ptr.type} {ptr.get_reference()}\n")


def lower_intrinsic(lw: "FunctionLowerer", node: ast.Call, name: str) -> ir.Value | None:
    b = lw.b
    args = node.args
    if name == "addr_of":
        return lw.address(args[0])
    if name in _PORT_OUT:
        port, val = lw.value(args[0]), lw.value(args[1])
        reg = {"outb": "al", "outw": "ax", "outl": "eax"}[name]
        _asm(lw, ir.VoidType(), f"out %{reg}, %dx", f"{{{reg}}},{{dx}},~{{memory}}", [val, port])
        return None
    if name in _PORT_IN:
        reg = {"inb": "al", "inw": "ax", "inl": "eax"}[name]
        return _asm(lw, _PORT_IN[name].llvm, f"in %dx, %{reg}", f"={{{reg}}},{{dx}},~{{memory}}",
                    [lw.value(args[0])])
    if name == "rdmsr":
        pair = ir.LiteralStructType([ir.IntType(32), ir.IntType(32)])
        r = _asm(lw, pair, "rdmsr", "={eax},={edx},{ecx},~{memory}", [lw.value(args[0])])
        lo = b.zext(b.extract_value(r, 0), ir.IntType(64))
        hi = b.zext(b.extract_value(r, 1), ir.IntType(64))
        return b.or_(lo, b.shl(hi, ir.Constant(ir.IntType(64), 32)))
    if name == "wrmsr":
        v = lw.value(args[1])
        lo = b.trunc(v, ir.IntType(32))
        hi = b.trunc(b.lshr(v, ir.Constant(ir.IntType(64), 32)), ir.IntType(32))
        _asm(lw, ir.VoidType(), "wrmsr", "{ecx},{eax},{edx},~{memory}", [lw.value(args[0]), lo, hi])
        return None
    if name in _READ_REG:
        return _asm(lw, ir.IntType(64), f"mov {_READ_REG[name]}, $0", "=r,~{memory}", [])
    if name in _WRITE_REG:
        _asm(lw, ir.VoidType(), f"mov $0, {_WRITE_REG[name]}", "r,~{memory}", [lw.value(args[0])])
        return None
    if name in _PLAIN:
        _asm(lw, ir.VoidType(), _PLAIN[name], "~{memory}", [])
        return None
    if name == "unreachable":
        b.unreachable()
        lw.start_dead_block()
        return None
    if name == "atomic_cas":
        r = b.cmpxchg(lw.value(args[0]), lw.value(args[1]), lw.value(args[2]), "seq_cst", "seq_cst")
        return b.extract_value(r, 0)
    if name == "atomic_fetch_add":
        return b.atomic_rmw("add", lw.value(args[0]), lw.value(args[1]), "seq_cst")
    t: Type = args[0].qt.target if name.startswith(("atomic", "volatile")) else VOID  # type: ignore[attr-defined]
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
    if name == "volatile_store":
        instr = _VolatileStore(b.block, lw.value(args[1]), lw.value(args[0]))
        b._insert(instr)
        return None
    if name in ("memcpy", "memset", "memcmp"):
        vals = [lw.value(a) for a in args]
        if name == "memset":
            vals[1] = b.zext(vals[1], ir.IntType(32))
        ret = {"memcpy": ir.PointerType(), "memset": ir.PointerType(), "memcmp": ir.IntType(32)}[name]
        r = b.call(lw.runtime_function(name, ret, [v.type for v in vals]), vals)
        return r if name == "memcmp" else None
    if name == "asm":
        text, constraints = args[0].value, args[1].value  # type: ignore[attr-defined]
        vals = [lw.value(a) for a in args[2:]]
        ret = ir.IntType(64) if constraints.startswith("=") else ir.VoidType()
        r = _asm(lw, ret, text, constraints, vals)
        return r if constraints.startswith("=") else None
    raise AssertionError(f"intrinsic {name} has no lowering")


__all__ = ["check_intrinsic", "lower_intrinsic"]
