"""Kernel Python: the CPython-loadable definitions of the dialect.

Kernel modules do `from qkernel.dialect import u64, ptr, struct, ...`. Under CPython these
definitions give the integer types their C wrap-around semantics (so pure-integer kernel code can
be run and tested in CPython, and editors/mypy/ruff see real names); under `qkc` the compiler
treats this module as built in and never compiles it. docs/kernel-python.md is the specification;
the arithmetic here and the compiler's lowering must agree (tests/toolchain/test_differential.py
checks that they do).

Hardware intrinsics (port I/O, MSRs, control registers, inline asm) only exist in compiled code:
calling them under CPython raises DialectError.
"""

from __future__ import annotations

from typing import Final as Final  # re-exported: `X: Final = 4096` is a compile-time constant

__all__ = [
    "Final", "DialectError",
    "u8", "u16", "u32", "u64", "i8", "i16", "i32", "i64",
    "ptr", "array", "fn", "struct", "export", "inline", "noinline",
    "cast", "sizeof", "offsetof", "addr_of", "NULL", "layout", "Layout",
    "asm", "outb", "outw", "outl", "inb", "inw", "inl",
    "rdmsr", "wrmsr", "read_cr0", "read_cr2", "read_cr3", "read_cr4",
    "write_cr0", "write_cr3", "write_cr4", "read_rsp", "read_rbp", "halt", "pause", "trap",
    "unreachable",
    "atomic_cas", "atomic_fetch_add", "atomic_load", "atomic_store", "fence",
    "volatile_load", "volatile_store",
    "memcpy", "memset", "memcmp", "kfmt",
]


class DialectError(RuntimeError):
    """Raised when CPython runs something that only exists in compiled kernel code."""


# --------------------------------------------------------------------------- integers


def _wrap(value: int, bits: int, signed: bool) -> int:
    value &= (1 << bits) - 1
    if signed and value >> (bits - 1):
        value -= 1 << bits
    return value


def _trunc_div(a: int, b: int) -> int:
    """C division: the quotient truncated toward zero."""
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b >= 0) else -q


class _Int(int):
    """Base of the fixed-width integer types. Instances are already wrapped."""

    BITS: int = 64
    SIGNED: bool = False

    def __new__(cls, value: int = 0) -> "_Int":
        return int.__new__(cls, _wrap(int(value), cls.BITS, cls.SIGNED))

    # The result type of a binary operation (docs/kernel-python.md, "Arithmetic").
    def _peer(self, other: object) -> type["_Int"]:
        if isinstance(other, bool):
            raise TypeError(f"cannot mix {type(self).__name__} and bool; cast explicitly")
        if isinstance(other, _Int):
            a, b = type(self), type(other)
            if a.SIGNED != b.SIGNED:
                raise TypeError(f"mixed signedness: {a.__name__} and {b.__name__}; cast one side")
            return a if a.BITS >= b.BITS else b
        if isinstance(other, int):
            return type(self)
        return NotImplemented  # type: ignore[return-value]

    def _binop(self, other: object, op, reflected: bool = False):  # noqa: ANN001
        t = self._peer(other)
        if t is NotImplemented:
            return NotImplemented
        o = t(int(other))  # type: ignore[arg-type]
        s = t(int(self))
        a, b = (int(o), int(s)) if reflected else (int(s), int(o))
        return t(op(a, b, t))

    def __add__(self, o): return self._binop(o, lambda a, b, t: a + b)
    def __radd__(self, o): return self._binop(o, lambda a, b, t: a + b, True)
    def __sub__(self, o): return self._binop(o, lambda a, b, t: a - b)
    def __rsub__(self, o): return self._binop(o, lambda a, b, t: a - b, True)
    def __mul__(self, o): return self._binop(o, lambda a, b, t: a * b)
    def __rmul__(self, o): return self._binop(o, lambda a, b, t: a * b, True)
    def __floordiv__(self, o): return self._binop(o, lambda a, b, t: _trunc_div(a, b))
    def __rfloordiv__(self, o): return self._binop(o, lambda a, b, t: _trunc_div(a, b), True)
    def __mod__(self, o): return self._binop(o, lambda a, b, t: a - b * _trunc_div(a, b))
    def __rmod__(self, o): return self._binop(o, lambda a, b, t: a - b * _trunc_div(a, b), True)
    def __and__(self, o): return self._binop(o, lambda a, b, t: a & b)
    def __rand__(self, o): return self._binop(o, lambda a, b, t: a & b, True)
    def __or__(self, o): return self._binop(o, lambda a, b, t: a | b)
    def __ror__(self, o): return self._binop(o, lambda a, b, t: a | b, True)
    def __xor__(self, o): return self._binop(o, lambda a, b, t: a ^ b)
    def __rxor__(self, o): return self._binop(o, lambda a, b, t: a ^ b, True)

    # Shifts: the result has the left operand's type; the count is taken modulo the width.
    def __lshift__(self, o):
        return type(self)(int(self) << (int(o) & (self.BITS - 1)))

    def __rshift__(self, o):
        n = int(o) & (self.BITS - 1)
        return type(self)(int(self) >> n)  # arithmetic for signed, logical for unsigned values

    def __rlshift__(self, o):
        return type(self)(int(o) << (int(self) & (self.BITS - 1)))

    def __rrshift__(self, o):
        return type(self)(type(self)(int(o)) >> (int(self) & (self.BITS - 1)))

    def __neg__(self): return type(self)(-int(self))
    def __pos__(self): return self
    def __invert__(self): return type(self)(~int(self))
    def __truediv__(self, o): raise TypeError("'/' is float division; use '//'")
    __rtruediv__ = __truediv__

    def __repr__(self) -> str:
        return f"{type(self).__name__}({int(self)})"


class u8(_Int): BITS = 8; SIGNED = False          # noqa: E701,E702
class u16(_Int): BITS = 16; SIGNED = False        # noqa: E701,E702
class u32(_Int): BITS = 32; SIGNED = False        # noqa: E701,E702
class u64(_Int): BITS = 64; SIGNED = False        # noqa: E701,E702
class i8(_Int): BITS = 8; SIGNED = True           # noqa: E701,E702
class i16(_Int): BITS = 16; SIGNED = True         # noqa: E701,E702
class i32(_Int): BITS = 32; SIGNED = True         # noqa: E701,E702
class i64(_Int): BITS = 64; SIGNED = True         # noqa: E701,E702


# --------------------------------------------------------------------------- type constructors


class _TypeForm:
    """`ptr[T]`, `array[T, N]`, `fn[[A, B], R]`: subscriptable markers for annotations."""

    def __init__(self, name: str, args: tuple = ()) -> None:
        self.name, self.args = name, args

    def __getitem__(self, args: object) -> "_TypeForm":
        return _TypeForm(self.name, args if isinstance(args, tuple) else (args,))

    def __call__(self, *a: object) -> object:
        """`array[T, N]()` is a zeroed array (a list under CPython); other forms have no value."""
        if self.name == "array" and not a:
            elem, count = self.args
            return [elem() if isinstance(elem, type) else 0 for _ in range(int(count))]
        raise DialectError(f"{self.name}[...] values exist only in compiled kernel code")

    def __repr__(self) -> str:
        return f"{self.name}[{', '.join(map(repr, self.args))}]"


ptr = _TypeForm("ptr")
array = _TypeForm("array")
fn = _TypeForm("fn")
NULL: Final = 0  # compares equal to any null pointer; `cast(ptr[T], 0)` spells a typed one


def struct(cls: type | None = None, *, packed: bool = False):  # noqa: ANN201
    """Marks a class as a C-layout struct: its annotated fields, in order, with C alignment
    (`@struct`), or byte-packed (`@struct(packed=True)`). `layout(cls)` gives the layout in
    CPython; the compiler computes the same one (tests/toolchain/test_abi_layout.py checks).

    Under CPython `S(v1, v2, name=v3)` builds a value as a global initialiser does in compiled
    code: positional values fill the fields in order, keywords name them, every other field is
    zero (0 of its integer type, False, NULL, S() for a nested struct, a zeroed list for an array;
    a shorter list for an array field is padded with zeros)."""
    def mark(c: type) -> type:
        c.__kernel_struct__ = {"packed": packed}  # type: ignore[attr-defined]
        c.__init__ = _struct_init  # type: ignore[misc]
        return c
    return mark(cls) if cls is not None else mark


def _field_types(cls: type) -> dict[str, object]:
    """name -> evaluated annotation (None where it cannot be evaluated yet), cached once complete."""
    cached = cls.__dict__.get("__kernel_field_types__")
    if cached is not None:
        return cached
    out: dict[str, object] = {}
    complete = True
    for name, ann in cls.__dict__.get("__annotations__", {}).items():
        try:
            out[name] = _eval_annotation(cls, ann)
        except Exception:  # noqa: BLE001 - a forward reference not defined yet: treat as opaque
            out[name], complete = None, False
    if complete:
        cls.__kernel_field_types__ = out  # type: ignore[attr-defined]
    return out


def _zero(t: object) -> object:
    if isinstance(t, type) and issubclass(t, _Int):
        return t(0)
    if t is bool:
        return False
    if isinstance(t, type) and hasattr(t, "__kernel_struct__"):
        return t()
    if isinstance(t, _TypeForm) and t.name == "array":
        elem, count = t.args
        return [_zero(elem) for _ in range(int(count))]
    return 0  # NULL for ptr and fn


def _field_value(t: object, v: object) -> object:
    if isinstance(t, type) and issubclass(t, _Int) and isinstance(v, int) and not isinstance(v, bool):
        return t(v)
    if isinstance(t, _TypeForm) and t.name == "array" and isinstance(v, list):
        elem, count = t.args
        return [_field_value(elem, x) for x in v] + [_zero(elem) for _ in range(int(count) - len(v))]
    return v


def _struct_init(self: object, *args: object, **kwargs: object) -> None:
    cls = type(self)
    types = _field_types(cls)
    names = list(types)
    if len(args) > len(names):
        raise TypeError(f"too many values for struct {cls.__name__}: it has {len(names)} fields")
    values = dict(zip(names, args))
    for k, v in kwargs.items():
        if k not in types:
            raise TypeError(f"struct {cls.__name__} has no field {k!r}")
        if k in values:
            raise TypeError(f"field {k!r} of {cls.__name__} is given twice")
        values[k] = v
    for n, t in types.items():
        setattr(self, n, _field_value(t, values[n]) if n in values else _zero(t))


class Layout:
    """A struct's C layout as CPython sees it: size, align, and name -> (offset, size, type)."""

    def __init__(self, size: int, align: int, fields: dict[str, tuple[int, int, object]]) -> None:
        self.size, self.align, self.fields = size, align, fields

    def offset(self, name: str) -> int:
        return self.fields[name][0]


def _eval_annotation(cls: type, ann: object) -> object:
    if isinstance(ann, str):
        namespace = dict(vars(__import__(cls.__module__, fromlist=["_"])))
        namespace[cls.__name__] = cls
        return eval(ann, namespace)  # noqa: S307 - annotations of kernel sources, not user data
    return ann


def _size_align(t: object) -> tuple[int, int]:
    if isinstance(t, type) and issubclass(t, _Int):
        return t.BITS // 8, t.BITS // 8
    if t is bool:
        return 1, 1
    if isinstance(t, _TypeForm) and t.name in ("ptr", "fn"):
        return 8, 8
    if isinstance(t, _TypeForm) and t.name == "array":
        elem, count = t.args
        size, align = _size_align(elem)
        return size * int(count), align
    if isinstance(t, type) and hasattr(t, "__kernel_struct__"):
        lay = layout(t)
        return lay.size, lay.align
    raise DialectError(f"no C layout for {t!r}")


def layout(cls: type) -> Layout:
    """The C layout of a @struct class (cached on the class)."""
    cached = cls.__dict__.get("__kernel_layout__")
    if cached is not None:
        return cached
    packed = cls.__kernel_struct__["packed"]  # type: ignore[attr-defined]
    off, align, fields = 0, 1, {}
    for name, ann in cls.__dict__.get("__annotations__", {}).items():
        t = _eval_annotation(cls, ann)
        size, a = _size_align(t)
        a = 1 if packed else a
        off = (off + a - 1) // a * a
        fields[name] = (off, size, t)
        off += size
        align = max(align, a)
    lay = Layout((off + align - 1) // align * align, align, fields)
    cls.__kernel_layout__ = lay  # type: ignore[attr-defined]
    return lay


def export(symbol: str):  # noqa: ANN201
    """Gives a function a fixed C symbol name (for boot/ assembly and the host)."""
    def mark(f):  # noqa: ANN001, ANN202
        f.__kernel_export__ = symbol
        return f
    return mark


def inline(f):  # noqa: ANN001, ANN201
    f.__kernel_inline__ = True
    return f


def noinline(f):  # noqa: ANN001, ANN201
    f.__kernel_noinline__ = True
    return f


def cast(t: object, value: object) -> object:
    """Integer-to-integer casts truncate or extend (sign-extend from a signed source)."""
    if isinstance(t, type) and issubclass(t, _Int):
        return t(int(value))  # type: ignore[call-overload]
    raise DialectError("pointer casts exist only in compiled kernel code")


def sizeof(t: object) -> int:
    return _size_align(t)[0]


def offsetof(t: type, field: str) -> int:
    return layout(t).offset(field)


def _intrinsic(f):  # noqa: ANN001, ANN202
    """Marks a name as an intrinsic; the compiler's registry (toolchain/intrinsics.py) must list
    exactly the names marked so (tests/toolchain/test_registry.py)."""
    f.__kernel_intrinsic__ = True
    return f


for _f in (cast, sizeof, offsetof):
    _intrinsic(_f)
del _f


def _compiled_only(name: str):  # noqa: ANN202
    def intrinsic(*args: object, **kwargs: object) -> object:
        raise DialectError(f"{name}() is an intrinsic that exists only in compiled kernel code")
    intrinsic.__name__ = name
    return _intrinsic(intrinsic)


addr_of = _compiled_only("addr_of")
asm = _compiled_only("asm")
outb = _compiled_only("outb")
outw = _compiled_only("outw")
outl = _compiled_only("outl")
inb = _compiled_only("inb")
inw = _compiled_only("inw")
inl = _compiled_only("inl")
rdmsr = _compiled_only("rdmsr")
wrmsr = _compiled_only("wrmsr")
read_cr0 = _compiled_only("read_cr0")
read_cr2 = _compiled_only("read_cr2")
read_cr3 = _compiled_only("read_cr3")
read_cr4 = _compiled_only("read_cr4")
write_cr0 = _compiled_only("write_cr0")
write_cr3 = _compiled_only("write_cr3")
write_cr4 = _compiled_only("write_cr4")
read_rsp = _compiled_only("read_rsp")
read_rbp = _compiled_only("read_rbp")
halt = _compiled_only("halt")
pause = _compiled_only("pause")
trap = _compiled_only("trap")
unreachable = _compiled_only("unreachable")
atomic_cas = _compiled_only("atomic_cas")
atomic_fetch_add = _compiled_only("atomic_fetch_add")
atomic_load = _compiled_only("atomic_load")
atomic_store = _compiled_only("atomic_store")
fence = _compiled_only("fence")
volatile_load = _compiled_only("volatile_load")
volatile_store = _compiled_only("volatile_store")
memcpy = _compiled_only("memcpy")
memset = _compiled_only("memset")
memcmp = _compiled_only("memcmp")


# --------------------------------------------------------------------------- kfmt

_KFMT_CONVERSIONS = "duxsc"


def _put(line: object, data: bytes) -> None:
    """qkernel.lib.fmt's put_char per byte: appends while the line is shorter than LINE_MAX."""
    from qkernel.lib.fmt import LINE_MAX  # kernel code, imported on first use (it imports this module)
    for c in data:
        if line.len >= LINE_MAX:  # type: ignore[attr-defined]
            return
        line.data[line.len] = u8(c)  # type: ignore[attr-defined]
        line.len = u64(line.len + 1)  # type: ignore[attr-defined]


@_intrinsic
def kfmt(line: object, fmt: bytes, *args: object) -> None:
    """kfmt(lp, b"rip=%x n=%d", rip, n): appends to a qkernel.lib.fmt.Line what the compiled call
    prints through fmt's functions (%d put_signed, %u put_dec, %x put_hex: 0x-prefixed lowercase
    without leading zeros, %s put_str, %c put_char, %% a '%'), truncated at fmt.LINE_MAX. Under
    CPython `lp` is the Line object itself; a %s argument may be bytes (read up to a NUL or its end)
    or a list of byte values. tests/toolchain/test_differential.py compares this model with the
    compiled code. What raises DialectError here is a compile error in kernel code."""
    if not isinstance(fmt, bytes):
        raise DialectError("kfmt's format is a bytes literal")
    out: list[object] = []  # bytes for text, (conversion, value) per value
    values = list(args)
    i = 0
    while i < len(fmt):
        if fmt[i] != 0x25:  # '%'
            out.append(fmt[i:i + 1])
            i += 1
            continue
        conv = chr(fmt[i + 1]) if i + 1 < len(fmt) else ""
        if conv == "%":
            out.append(b"%")
        elif conv in _KFMT_CONVERSIONS and conv:
            if not values:
                raise DialectError(f"kfmt format {fmt!r} has more conversions than the {len(args)} values")
            out.append((conv, values.pop(0)))
        else:
            raise DialectError(f"bad kfmt conversion %{conv} in {fmt!r}")
        i += 2
    if values:
        raise DialectError(f"kfmt format {fmt!r} has fewer conversions than the {len(args)} values")
    for piece in out:
        if isinstance(piece, bytes):
            _put(line, piece)
            continue
        conv, v = piece  # type: ignore[misc]
        if conv == "s":
            s = bytes(v) if isinstance(v, (bytes, bytearray, list)) else v
            if not isinstance(s, bytes):
                raise DialectError(f"kfmt %s needs bytes under CPython, got {type(v).__name__}")
            _put(line, s.split(b"\0", 1)[0])
        elif conv == "c":
            _put(line, bytes([int(u8(int(v)))]))  # type: ignore[call-overload]
        elif conv == "d":
            _put(line, str(int(i64(int(v)))).encode())  # type: ignore[call-overload]
        elif conv == "u":
            _put(line, str(int(u64(int(v)))).encode())  # type: ignore[call-overload]
        else:
            _put(line, b"0x%x" % int(u64(int(v))))  # type: ignore[call-overload]
