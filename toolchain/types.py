"""The kernel-Python type system: integer, bool, pointer, array, struct and function types.

Each Type knows its C size and alignment (x86-64 SysV rules), its LLVM register type (`llvm`) and
its LLVM in-memory type (`mem`; differs only for bool: i1 in registers, i8 in memory). Struct field
offsets computed here are the ones `offsetof` folds and the ones LLVM uses (non-packed literal
structs with the x86-64 data layout follow the same C rules).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import llvmlite.ir as ir

PTR = ir.PointerType()


class Type:
    size: int = 0
    align: int = 1
    name: str = "?"

    @property
    def llvm(self) -> ir.Type:
        raise NotImplementedError(type(self).__name__)  # every concrete type overrides this

    @property
    def mem(self) -> ir.Type:
        return self.llvm

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True, eq=True)
class IntType(Type):
    bits: int
    signed: bool

    @property
    def name(self) -> str:  # type: ignore[override]
        return f"{'i' if self.signed else 'u'}{self.bits}"

    @property
    def size(self) -> int:  # type: ignore[override]
        return self.bits // 8

    @property
    def align(self) -> int:  # type: ignore[override]
        return self.bits // 8

    @property
    def llvm(self) -> ir.Type:
        return ir.IntType(self.bits)

    @property
    def min(self) -> int:
        return -(1 << (self.bits - 1)) if self.signed else 0

    @property
    def max(self) -> int:
        return (1 << (self.bits - 1)) - 1 if self.signed else (1 << self.bits) - 1

    def wrap(self, value: int) -> int:
        value &= (1 << self.bits) - 1
        if self.signed and value >> (self.bits - 1):
            value -= 1 << self.bits
        return value

    def __str__(self) -> str:
        return self.name


class BoolType(Type):
    name = "bool"
    size = 1
    align = 1

    @property
    def llvm(self) -> ir.Type:
        return ir.IntType(1)

    @property
    def mem(self) -> ir.Type:
        return ir.IntType(8)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, BoolType)

    def __hash__(self) -> int:
        return hash("bool")


class VoidType(Type):
    name = "None"

    @property
    def llvm(self) -> ir.Type:
        return ir.VoidType()

    def __eq__(self, other: object) -> bool:
        return isinstance(other, VoidType)

    def __hash__(self) -> int:
        return hash("void")


class UntypedIntType(Type):
    """The type of an integer literal or a Final constant expression before context fixes it."""

    name = "int literal"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, UntypedIntType)

    def __hash__(self) -> int:
        return hash("untyped-int")


class NullType(Type):
    """The type of NULL: converts to any pointer or function-pointer type."""

    name = "NULL"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, NullType)

    def __hash__(self) -> int:
        return hash("null")


@dataclass(frozen=True, eq=True)
class PtrType(Type):
    target: Type

    size = 8  # type: ignore[assignment]
    align = 8  # type: ignore[assignment]

    @property
    def name(self) -> str:  # type: ignore[override]
        return f"ptr[{self.target}]"

    @property
    def llvm(self) -> ir.Type:
        return PTR

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True, eq=True)
class ArrayType(Type):
    elem: Type
    count: int

    @property
    def name(self) -> str:  # type: ignore[override]
        return f"array[{self.elem}, {self.count}]"

    @property
    def size(self) -> int:  # type: ignore[override]
        return self.elem.size * self.count

    @property
    def align(self) -> int:  # type: ignore[override]
        return self.elem.align

    @property
    def llvm(self) -> ir.Type:
        return ir.ArrayType(self.elem.mem, self.count)

    def __str__(self) -> str:
        return self.name


@dataclass(eq=False)
class StructType(Type):
    """A C-layout struct. Identity is by declaration (two structs with equal fields differ)."""

    qualname: str
    packed: bool = False
    fields: list[tuple[str, Type]] = field(default_factory=list)
    offsets: dict[str, int] = field(default_factory=dict)
    complete: bool = False
    _size: int = 0
    _align: int = 1

    @property
    def name(self) -> str:  # type: ignore[override]
        return self.qualname.rsplit(".", 1)[-1]

    def finish(self) -> None:
        """Computes offsets, size and alignment from `fields` (C rules, or packed)."""
        off, align = 0, 1
        for fname, ftype in self.fields:
            a = 1 if self.packed else ftype.align
            off = (off + a - 1) // a * a
            self.offsets[fname] = off
            off += ftype.size
            align = max(align, a)
        self._align = align
        self._size = (off + align - 1) // align * align
        self.complete = True

    @property
    def size(self) -> int:  # type: ignore[override]
        return self._size

    @property
    def align(self) -> int:  # type: ignore[override]
        return self._align

    def field_index(self, fname: str) -> int | None:
        for i, (n, _) in enumerate(self.fields):
            if n == fname:
                return i
        return None

    def field_type(self, fname: str) -> Type | None:
        i = self.field_index(fname)
        return None if i is None else self.fields[i][1]

    @property
    def llvm(self) -> ir.Type:
        return ir.LiteralStructType([t.mem for _, t in self.fields], packed=self.packed)

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True, eq=True)
class FnType(Type):
    params: tuple[Type, ...]
    ret: Type

    size = 8  # type: ignore[assignment]
    align = 8  # type: ignore[assignment]

    @property
    def name(self) -> str:  # type: ignore[override]
        return f"fn[[{', '.join(map(str, self.params))}], {self.ret}]"

    @property
    def llvm(self) -> ir.Type:
        return PTR

    def llvm_fn(self) -> ir.FunctionType:
        return ir.FunctionType(self.ret.llvm, [p.llvm for p in self.params])

    def __str__(self) -> str:
        return self.name


BOOL = BoolType()
VOID = VoidType()
UNTYPED_INT = UntypedIntType()
NULL = NullType()
U8, U16, U32, U64 = (IntType(b, False) for b in (8, 16, 32, 64))
I8, I16, I32, I64 = (IntType(b, True) for b in (8, 16, 32, 64))
INT_TYPES: dict[str, IntType] = {t.name: t for t in (U8, U16, U32, U64, I8, I16, I32, I64)}


def is_int(t: Type) -> bool:
    return isinstance(t, (IntType, UntypedIntType))


def is_scalar(t: Type) -> bool:
    return isinstance(t, (IntType, BoolType, PtrType, FnType))
