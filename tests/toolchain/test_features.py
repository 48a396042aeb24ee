"""Language features, one test each: compiled by qkc, linked, run under unicorn, results asserted."""

from __future__ import annotations

IMPORTS = "from __future__ import annotations\nfrom qkernel.dialect import "


def src(names: str, body: str) -> str:
    return IMPORTS + names + "\n" + body


def test_integer_arithmetic_wraps(run_kpy):
    m = src("u8, u32, u64, i8, i32", """
def add8(a: u8, b: u8) -> u8:
    return a + b
def mul32(a: u32, b: u32) -> u32:
    return a * b
def neg8(a: i8) -> i8:
    return -a
def sub64(a: u64, b: u64) -> u64:
    return a - b
""")
    run_kpy(m, "add8", 1, 1)
    mc = run_kpy.machine
    assert mc.call("m.add8", 200, 100) & 0xFF == 44
    assert mc.call("m.mul32", 0x10000, 0x10000) & 0xFFFFFFFF == 0
    assert mc.call("m.neg8", 0x80) & 0xFF == 0x80  # -(-128) wraps to -128
    assert mc.call("m.sub64", 0, 1) == 2**64 - 1


def test_division_truncates_toward_zero(run_kpy):
    m = src("i64, u64", """
def div(a: i64, b: i64) -> i64:
    return a // b
def mod(a: i64, b: i64) -> i64:
    return a % b
def udiv(a: u64, b: u64) -> u64:
    return a // b
""")
    run_kpy.compile(m)
    mc = run_kpy.machine
    s = lambda v: v - 2**64 if v >> 63 else v  # noqa: E731
    assert s(mc.call("m.div", -7, 2)) == -3
    assert s(mc.call("m.mod", -7, 2)) == -1
    assert s(mc.call("m.div", 7, -2)) == -3
    assert mc.call("m.udiv", 2**64 - 1, 2) == 2**63 - 1


def test_shifts_mask_count_and_respect_signedness(run_kpy):
    m = src("i32, u32, u64", """
def sar(a: i32, n: u32) -> i32:
    return a >> n
def shr(a: u32, n: u32) -> u32:
    return a >> n
def shl(a: u64, n: u64) -> u64:
    return a << n
""")
    run_kpy.compile(m)
    mc = run_kpy.machine
    assert mc.call("m.sar", 0xFFFFFFF0, 2) & 0xFFFFFFFF == 0xFFFFFFFC
    assert mc.call("m.shr", 0xFFFFFFF0, 2) & 0xFFFFFFFF == 0x3FFFFFFC
    assert mc.call("m.shl", 1, 65) == 2  # count taken modulo 64
    assert mc.call("m.shr", 0x80, 33) & 0xFFFFFFFF == 0x40


def test_mixed_width_widens(run_kpy):
    m = src("u8, u16, u64, i8, i64", """
def f(a: u8, b: u64) -> u64:
    return a + b
def g(a: i8, b: i64) -> i64:
    return a * b
""")
    run_kpy.compile(m)
    assert run_kpy.machine.call("m.f", 255, 1) == 256
    assert run_kpy.machine.call("m.g", 0xFF, 3) == 2**64 - 3  # i8 -1 sign-extends


def test_control_flow(run_kpy):
    m = src("u64, i64", """
def collatz(n: u64) -> u64:
    steps: u64 = 0
    while n != 1:
        if n % 2 == 0:
            n = n // 2
        elif n > 1000000:
            return 0
        else:
            n = 3 * n + 1
        steps += 1
    return steps
def loops(n: i64) -> i64:
    total: i64 = 0
    for i in range(n):
        if i == 3:
            continue
        if i == 8:
            break
        total += i
    for j in range(10, 0, -2):
        total += j * 100
    return total
""")
    run_kpy.compile(m)
    assert run_kpy.machine.call("m.collatz", 27) == 111
    assert run_kpy.machine.call("m.loops", 20) == (0 + 1 + 2 + 4 + 5 + 6 + 7) + 100 * (10 + 8 + 6 + 4 + 2)


def test_short_circuit_and_or_not(run_kpy):
    m = src("u64, ptr", """
calls: u64 = 0
def bump(v: bool) -> bool:
    global calls
    calls += 1
    return v
def f(a: u64) -> u64:
    global calls
    calls = 0
    r: u64 = 0
    if a > 5 and bump(True):
        r += 1
    if a > 5 or bump(False):
        r += 10
    if not (a == 0) and not bump(False):
        r += 100
    return r * 1000 + calls
def null_safe(p: ptr[u64]) -> u64:
    if p != NULL and p[0] == 7:
        return 1
    return 0
""".replace("ptr\n", "ptr, NULL\n", 1))
    m = m.replace("u64, ptr\n", "u64, ptr, NULL\n")
    run_kpy.compile(m)
    mc = run_kpy.machine
    assert mc.call("m.f", 10) == 111 * 1000 + 2
    assert mc.call("m.f", 0) == 0 * 1000 + 1
    assert mc.call("m.null_safe", 0) == 0
    buf = mc.alloc(8)
    mc.write_u64(buf, 7)
    assert mc.call("m.null_safe", buf) == 1


def test_chained_compare_and_ternary(run_kpy):
    m = src("i64", """
def clamp(x: i64) -> i64:
    return x if 0 <= x < 100 else (0 if x < 0 else 99)
""")
    run_kpy.compile(m)
    mc = run_kpy.machine
    assert mc.call("m.clamp", 50) == 50
    assert mc.call("m.clamp", 150) == 99
    assert mc.call("m.clamp", -5) == 0


def test_pointers_index_arith_and_difference(run_kpy):
    m = src("u32, u64, i64, ptr", """
def sum(p: ptr[u32], n: u64) -> u64:
    total: u64 = 0
    end = p + n
    while p < end:
        total += p[0]
        p = p + 1
    return total
def fill(p: ptr[u32], n: u64) -> None:
    for i in range(n):
        p[i] = u32(i * i)
def span(a: ptr[u64], b: ptr[u64]) -> i64:
    return b - a
""")
    run_kpy.compile(m)
    mc = run_kpy.machine
    buf = mc.alloc(4 * 10)
    mc.call("m.fill", buf, 10)
    assert [mc.read_u32(buf + 4 * i) for i in range(10)] == [i * i for i in range(10)]
    assert mc.call("m.sum", buf, 10) == sum(i * i for i in range(10))
    assert mc.call("m.span", 0x1000, 0x1040) == 8


def test_structs_nested_arrays_and_layout(run_kpy):
    m = src("u8, u16, u32, u64, ptr, array, struct, sizeof, offsetof, addr_of, NULL", """
@struct
class Inner:
    a: u8
    b: u32
@struct
class Outer:
    tag: u16
    inner: Inner
    vals: array[u64, 4]
    next: ptr[Outer]
@struct(packed=True)
class Gdtr:
    limit: u16
    base: u64
def sizes() -> u64:
    return sizeof(Inner) * 1000000 + sizeof(Outer) * 1000 + sizeof(Gdtr)
def offs() -> u64:
    return offsetof(Outer, "inner") * 10000 + offsetof(Outer, "vals") * 100 + offsetof(Outer, "next")
def walk(o: ptr[Outer]) -> u64:
    total: u64 = 0
    while o != NULL:
        total += o.inner.b + o.vals[3]
        o = o.next
    return total
def local_struct() -> u64:
    x = Outer()
    x.inner.b = 5
    x.vals[1] = 7
    p = addr_of(x)
    p.vals[2] = 11
    y = x
    y.vals[1] = 100
    return x.inner.b + x.vals[1] + x.vals[2] + y.vals[1]
""")
    run_kpy.compile(m)
    mc = run_kpy.machine
    assert mc.call("m.sizes") == 8 * 1000000 + 56 * 1000 + 10
    assert mc.call("m.offs") == 4 * 10000 + 16 * 100 + 48
    a, b = mc.alloc(56), mc.alloc(56)
    mc.write_u32(a + 4 + 4, 3)
    mc.write_u64(a + 16 + 24, 4)
    mc.write_u64(a + 48, b)
    mc.write_u32(b + 4 + 4, 30)
    mc.write_u64(b + 16 + 24, 40)
    assert mc.call("m.walk", a) == 77
    assert mc.call("m.local_struct") == 5 + 7 + 11 + 100


def test_globals_zero_and_initialised_persist(run_kpy):
    m = src("u8, u64, array, Final", """
PAGE: Final = 4096
SHIFT: Final[u64] = 12
counter: u64
start: u64 = PAGE * 3
table: array[u8, 8] = [1, 2, 3]
def tick() -> u64:
    global counter
    counter += 1
    return counter + start
def get(i: u64) -> u8:
    return table[i]
def pages(n: u64) -> u64:
    return n << SHIFT
""")
    run_kpy.compile(m)
    mc = run_kpy.machine
    assert mc.call("m.tick") == 1 + 12288
    assert mc.call("m.tick") == 2 + 12288
    assert [mc.call("m.get", i) & 0xFF for i in range(5)] == [1, 2, 3, 0, 0]
    assert mc.call("m.pages", 3) == 3 * 4096


def test_recursion_function_pointers_and_tables(run_kpy):
    m = src("u64, i64, fn, array", """
handler_t = fn[[u64], u64]
def fact(n: u64) -> u64:
    return 1 if n <= 1 else n * fact(n - 1)
def double(x: u64) -> u64:
    return x * 2
def square(x: u64) -> u64:
    return x * x
table: array[handler_t, 3] = [double, square, fact]
def dispatch(i: u64, x: u64) -> u64:
    h = table[i]
    return h(x)
def apply(f: handler_t, x: u64) -> u64:
    return f(x)
def via_param(x: u64) -> u64:
    return apply(square, x) + table[0](x)
""")
    run_kpy.compile(m)
    mc = run_kpy.machine
    assert mc.call("m.fact", 20) == 2432902008176640000
    assert [mc.call("m.dispatch", i, 5) for i in range(3)] == [10, 25, 120]
    assert mc.call("m.via_param", 6) == 36 + 12


def test_bytes_literals_are_readonly_data(run_kpy):
    m = src("u8, u64, ptr", """
GREETING: Final = 0
msg: ptr[u8] = b"hello"
def length(s: ptr[u8]) -> u64:
    n: u64 = 0
    while s[n] != 0:
        n += 1
    return n
def f() -> u64:
    return length(b"kernel python\\n") * 100 + length(msg) + len(b"abc") * 1000
""".replace("GREETING: Final = 0\n", ""))
    run_kpy.compile(m)
    assert run_kpy.machine.call("m.f") == 14 * 100 + 5 + 3000


def test_casts_between_ints_and_pointers(run_kpy):
    m = src("u8, u16, u64, i8, i64, ptr, cast", """
def trunc(x: u64) -> u8:
    return u8(x)
def sext(x: i8) -> i64:
    return i64(x)
def reinterpret(x: i64) -> u64:
    return u64(x)
def roundtrip(a: u64) -> u64:
    p = cast(ptr[u16], a)
    q = p + 3
    return u64(q)
""")
    run_kpy.compile(m)
    mc = run_kpy.machine
    assert mc.call("m.trunc", 0x1234) & 0xFF == 0x34
    assert mc.call("m.sext", 0xFE) == 2**64 - 2
    assert mc.call("m.reinterpret", 2**64 - 1) == 2**64 - 1
    assert mc.call("m.roundtrip", 0x1000) == 0x1006


def test_intrinsics_port_io_atomics_and_memory(run_kpy):
    m = src("u8, u16, u32, u64, i32, ptr, outb, inb, atomic_cas, atomic_fetch_add, atomic_load, "
            "atomic_store, memcpy, memset, memcmp, volatile_load, volatile_store, asm", """
def ports() -> u8:
    outb(0x3F8, 65)
    outb(0xE9, 66)
    return inb(0x60)
def atomics(p: ptr[u64]) -> u64:
    old = atomic_fetch_add(p, 5)
    seen = atomic_cas(p, 15, 100)
    atomic_store(p, atomic_load(p) + 1)
    return old * 1000 + seen
def mem(a: ptr[u8], b: ptr[u8], n: u64) -> i32:
    memset(a, 0x5A, n)
    memcpy(b, a, n)
    b[n - 1] = 0x5B
    return memcmp(a, b, n)
def vol(p: ptr[u32]) -> u32:
    volatile_store(p, 7)
    return volatile_load(p) + 1
def rax() -> u64:
    return asm("mov $$42, $0", "=r")
""")
    run_kpy.compile(m)
    mc = run_kpy.machine
    mc.on_port_in(lambda port, size: 0x99 if port == 0x60 else 0)
    assert mc.call("m.ports") & 0xFF == 0x99
    assert [(p, v) for p, _, v in mc.port_writes] == [(0x3F8, 65), (0xE9, 66)]
    cell = mc.alloc(8)
    mc.write_u64(cell, 10)
    assert mc.call("m.atomics", cell) == 10 * 1000 + 15
    assert mc.read_u64(cell) == 101
    a, b = mc.alloc(64), mc.alloc(64)
    r = mc.call("m.mem", a, b, 64) & 0xFFFFFFFF
    assert r == (0x5A - 0x5B) & 0xFFFFFFFF
    assert mc.read(b, 63) == b"\x5a" * 63
    cell32 = mc.alloc(4)
    assert mc.call("m.vol", cell32) & 0xFFFFFFFF == 8
    assert mc.call("m.rax") == 42


def test_cross_module_calls_globals_and_structs(run_kpy):
    helper = """
from __future__ import annotations
from qkernel.dialect import u64, struct, Final
LIMIT: Final = 10
total: u64 = 1
@struct
class Pair:
    a: u64
    b: u64
def add(x: u64, y: u64) -> u64:
    return x + y + LIMIT
"""
    m = """
from __future__ import annotations
from qkernel.dialect import u64, ptr
import helper
from helper import Pair, add
def f(p: ptr[Pair]) -> u64:
    helper.total += 1
    return add(p.a, p.b) + helper.total + helper.LIMIT
"""
    run_kpy.compile(m, extra={"helper": helper})
    mc = run_kpy.machine
    p = mc.alloc(16)
    mc.write_u64(p, 3)
    mc.write_u64(p + 8, 4)
    assert mc.call("m.f", p) == 3 + 4 + 10 + 2 + 10
    assert mc.read_u64(mc.symbol("helper.total")) == 2


def test_export_gives_c_symbol(run_kpy):
    m = src("u64, export", """
@export("kernel_answer")
def answer() -> u64:
    return 42
""")
    run_kpy.compile(m)
    assert run_kpy.machine.call("kernel_answer") == 42


def test_wild_pointer_faults_cleanly(run_kpy):
    import pytest
    from toolchain.emucall import EmuError
    m = src("u64, ptr, cast", """
def boom() -> u64:
    p = cast(ptr[u64], 0x10)
    return p[0]
""")
    run_kpy.compile(m)
    with pytest.raises(EmuError, match=r"m\.boom"):
        run_kpy.machine.call("m.boom")
