"""toolchain.emucall: calling image functions under unicorn (images built with gcc + GNU ld)."""
import shutil
import subprocess

import pytest

from toolchain.emucall import EmuError, Machine

pytestmark = pytest.mark.skipif(shutil.which("gcc") is None, reason="needs gcc to build images")

SRC = r"""
typedef unsigned long u64; typedef unsigned char u8;
long counter;
char bss_buf[8192];
const long ro_value = 42;
struct point { long x, y; u64 tag; };

long zero(void) { return 7; }
long one(long a) { return a + 1; }
long add(long a, long b) { return a + b; }
u64 sum8(u64 a, u64 b, u64 c, u64 d, u64 e, u64 f, u64 g, u64 h)
{ return a + 2*b + 3*c + 4*d + 5*e + 6*f + 7*g + 8*h; }
u64 pick(long i, u64 a, u64 b, u64 c, u64 d, u64 e, u64 f, u64 g)
{ u64 v[7] = {a, b, c, d, e, f, g}; return v[i]; }
u64 mul(u64 a, u64 b) { return a * b; }
long neg(long a) { return -a; }
long bump(long by) { counter += by; return counter; }
long get_counter(void) { return counter; }
u64 sum_bytes(const u8 *p, u64 n) { u64 s = 0; while (n--) s += *p++; return s; }
void fill_point(struct point *p, long x, long y)
{ p->x = x; p->y = y; p->tag = 0xfeedfacecafebeefUL; }
const char *greeting(void) { return "hello, kernel"; }
u64 bss_sum(void) { u64 s = 0; for (int i = 0; i < 8192; i++) s += (u8)bss_buf[i]; return s; }
long null_read(void) { return *(volatile long *)0; }
void null_write(long v) { *(volatile long *)0x10 = v; }
void ro_write(void) { *(volatile long *)&ro_value = 1; }
long ro_read(void) { return *(volatile const long *)&ro_value; }
void spin(void) { for (;;) __asm__ volatile(""); }
void trap(void) { __builtin_trap(); }
void halt(void) { __asm__ volatile("hlt"); }
void breakpoint(void) { __asm__ volatile("int3"); }
long recurse(long n) { volatile char pad[256]; pad[0] = (char)n; return recurse(n + 1) + pad[0]; }
long divide(long a, long b) { return a / b; }
typedef unsigned short u16; typedef unsigned u32;
void outb(u16 port, u8 v) { __asm__ volatile("outb %0, %1" :: "a"(v), "Nd"(port)); }
void outl(u16 port, u32 v) { __asm__ volatile("outl %0, %1" :: "a"(v), "Nd"(port)); }
u8 inb(u16 port) { u8 v; __asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port)); return v; }
u32 inl(u16 port) { u32 v; __asm__ volatile("inl %1, %0" : "=a"(v) : "Nd"(port)); return v; }
void serial_puts(const char *s)
{ while (*s) { while (!(inb(0x3fd) & 0x20)) {} outb(0x3f8, *s++); } }
u64 rdmsr_efer(void)
{ u32 lo, hi; __asm__ volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(0xC0000080));
  return ((u64)hi << 32) | lo; }
u64 read_cr0(void) { u64 v; __asm__ volatile("mov %%cr0, %0" : "=r"(v)); return v; }
u64 read_cr4(void) { u64 v; __asm__ volatile("mov %%cr4, %0" : "=r"(v)); return v; }
u64 loop_n(u64 n)
{ u64 s = 0; for (u64 i = 0; i < n; i++) { s += i ^ (s >> 3); __asm__ volatile(""); } return s; }
"""

CFLAGS = ["-ffreestanding", "-fno-stack-protector", "-nostdlib", "-static", "-O2",
          "-mgeneral-regs-only", "-fno-asynchronous-unwind-tables", "-Wl,--build-id=none",
          "-Wl,-e,0"]
LAYOUTS = {
    "high": ["-fPIE", "-Wl,-Ttext-segment=0xffffc00000000000"],
    "kernel": ["-fno-pie", "-no-pie", "-mcmodel=kernel", "-Wl,-Ttext-segment=0xffffffff80000000"],
    "low": ["-fno-pie", "-no-pie"],
}


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    d = tmp_path_factory.mktemp("emucall")
    (d / "a.c").write_text(SRC)
    out = {}
    for name, flags in LAYOUTS.items():
        elf = d / f"{name}.elf"
        subprocess.run(["gcc", *CFLAGS, *flags, "-o", str(elf), str(d / "a.c")],
                       check=True, capture_output=True)
        out[name] = elf
    return out


@pytest.fixture(params=list(LAYOUTS))
def m(request, images):
    return Machine(images[request.param])


@pytest.fixture
def hm(images):
    return Machine(images["high"].read_bytes())


def test_image_loaded_where_linked(images):
    mh = Machine(images["high"])
    assert mh.symbol("add") >> 48 == 0xFFFF
    assert mh.symbol("add") & ~0xFFFFF == 0xFFFFC00000000000
    assert Machine(images["low"]).symbol("add") < 1 << 32


def test_args_0_to_8(m):
    assert m.call("zero") == 7
    assert m.call("one", 41) == 42
    assert m.call("add", 2, 3) == 5
    assert m.call("sum8", 1, 2, 3, 4, 5, 6, 7, 8) == sum(i * i for i in range(1, 9))
    for i in range(7):                       # 7th and 8th args come from the stack
        assert m.call("pick", i, *[100 + k for k in range(7)]) == 100 + i
    assert m.call(m.symbol("add"), 10, 20) == 30


def test_wrapping_and_signedness(m):
    assert m.call("mul", 1 << 63, 2) == 0
    assert m.call("mul", 0xFFFFFFFFFFFFFFFF, 3) == 0xFFFFFFFFFFFFFFFD
    assert m.call("add", -5, 2) == (1 << 64) - 3          # negative args: two's complement
    assert m.call("neg", 1) == 0xFFFFFFFFFFFFFFFF
    with pytest.raises(ValueError):
        m.call("add", 1 << 64, 0)


def test_globals_persist_across_calls(m):
    assert m.call("get_counter") == 0
    m.call("bump", 5)
    m.call("bump", 7)
    assert m.call("get_counter") == 12
    addr = m.symbol("counter")
    assert m.read_u64(addr) == 12
    m.write_u64(addr, 100)
    assert m.call("bump", 1) == 101
    assert m.call("bss_sum") == 0                         # .bss beyond filesz is zeroed
    m.write(m.symbol("bss_buf") + 8000, bytes([1, 2, 3]))
    assert m.call("bss_sum") == 6


def test_buffers_from_alloc(m):
    data = bytes(range(256)) * 3
    p = m.alloc(len(data))
    assert p % 16 == 0 and m.read(p, len(data)) == bytes(len(data))
    m.write(p, data)
    assert m.call("sum_bytes", p, len(data)) == sum(data)
    pt = m.alloc(24, align=64)
    assert pt % 64 == 0 and pt >= p + len(data)
    m.call("fill_point", pt, -3, 9)
    assert m.read_u64(pt) == (1 << 64) - 3
    assert m.read_u64(pt + 8) == 9
    assert m.read_u64(pt + 16) == 0xFEEDFACECAFEBEEF
    assert m.read_u32(pt + 16) == 0xCAFEBEEF
    assert m.read_u16(pt + 16) == 0xBEEF and m.read_u8(pt + 16) == 0xEF
    m.write_u8(pt, 0x1FF)
    m.write_u16(pt + 2, 0xABCD)
    m.write_u32(pt + 4, 0x11223344)
    assert m.read_u64(pt) == 0x11223344ABCDFFFF     # byte 1 still from -3
    assert m.cstring(m.call("greeting")) == b"hello, kernel"
    assert m.cstring(m.call("greeting"), limit=5) == b"hello"


def test_alloc_exhaustion_and_bad_access(images):
    mm = Machine(images["high"], heap_size=1 << 16, stack_size=1 << 14)
    mm.alloc(1 << 15)
    with pytest.raises(EmuError, match="heap exhausted"):
        mm.alloc(1 << 16)
    with pytest.raises(EmuError, match="unmapped address 0x8"):
        mm.read(8, 4)
    with pytest.raises(EmuError, match="unmapped"):
        mm.write(mm.heap_base + (1 << 16), b"x")


def test_null_pointer_read(m):
    with pytest.raises(EmuError, match=r"unmapped read at 0x0 \(rip=0x[0-9a-f]+ in null_read\+0x"):
        m.call("null_read")
    assert m.call("add", 1, 2) == 3                       # machine still usable afterwards


def test_faults_in_a_row(hm):
    for _ in range(3):                                    # no escalation to double fault
        with pytest.raises(EmuError, match=r"unmapped write at 0x10 .*null_write\+0x"):
            hm.call("null_write", 5)
    with pytest.raises(EmuError, match="unmapped read at 0x0"):
        hm.call("null_read")


def test_read_only_data_is_protected(hm):
    assert hm.call("ro_read") == 42
    with pytest.raises(EmuError, match=r"write to read-only memory at 0x[0-9a-f]+ .*ro_write"):
        hm.call("ro_write")


def test_execute_data_and_bad_call(hm):
    with pytest.raises(EmuError, match="execute of non-executable memory"):
        hm.call("counter")
    with pytest.raises(EmuError, match="unmapped fetch at 0x1234"):
        hm.call(0x1234)


def test_instruction_limit(m):
    with pytest.raises(EmuError, match="instruction limit exceeded.*spin"):
        m.call("spin", max_instructions=100_000)
    assert m.call("loop_n", 1000, max_instructions=100_000) == m.call("loop_n", 1000)
    with pytest.raises(EmuError, match="instruction limit"):
        m.call("loop_n", 1000, max_instructions=500)
    assert m.call("loop_n", 100_000, max_instructions=0) == m.call("loop_n", 100_000)
    with pytest.raises(EmuError, match="instruction limit"):   # still enforced after unlimited
        m.call("loop_n", 1000, max_instructions=500)


def test_traps(m):
    with pytest.raises(EmuError, match=r"trap \(ud2\) at trap\+0x"):
        m.call("trap")
    with pytest.raises(EmuError, match=r"hlt executed at halt\+0x"):
        m.call("halt")
    with pytest.raises(EmuError, match=r"int3 executed at breakpoint\+0x"):
        m.call("breakpoint")
    with pytest.raises(EmuError, match=r"divide error \(#DE\) at divide\+0x"):
        m.call("divide", 1, 0)
    assert m.call("divide", 100, 7) == 14


def test_stack_overflow(hm):
    with pytest.raises(EmuError, match=r"stack overflow.*recurse"):
        hm.call("recurse", 0)
    assert hm.call("add", 4, 5) == 9


def test_port_io(m):
    m.call("outb", 0x3F8, ord("A"))
    m.call("outl", 0xCF8, 0x80001234)
    assert m.port_writes == [(0x3F8, 1, 0x41), (0xCF8, 4, 0x80001234)]
    assert m.call("inb", 0x60) == 0xFF                    # no handler: floating bus
    seen = []
    m.on_port_in(lambda port, size: seen.append((port, size)) or 0x1234567890)
    assert m.call("inb", 0x60) == 0x90
    assert m.call("inl", 0xCFC) == 0x34567890
    assert seen == [(0x60, 1), (0xCFC, 4)]
    m.port_writes.clear()
    m.on_port_in(lambda port, size: 0x20)
    s = m.alloc(8)
    m.write(s, b"hi!\0")
    m.call("serial_puts", s)
    assert bytes(v for p, _, v in m.port_writes if p == 0x3F8) == b"hi!"


def test_port_handler_exception_propagates(hm):
    def boom(port, size):
        raise RuntimeError("no device")
    hm.on_port_in(boom)
    with pytest.raises(RuntimeError, match="no device"):
        hm.call("inb", 0x61)
    hm.on_port_in(lambda p, s: 1)
    assert hm.call("inb", 0x61) == 1


def test_symbols(hm):
    with pytest.raises(EmuError, match=r"unknown symbol 'ad'.*did you mean.*add"):
        hm.symbol("ad")
    with pytest.raises(KeyError):
        hm.call("no_such_function")
    a = hm.symbol("sum_bytes")
    assert hm.symbolize(a) == "sum_bytes+0x0"
    assert hm.symbolize(a + 3) == "sum_bytes+0x3"
    assert hm.symbolize(hm.symbol("counter") + 4) == "counter+0x4"
    assert hm.symbolize(0x1234) == "0x1234"


def test_patching_code_takes_effect(m):
    assert m.call("zero") == 7
    m.write(m.symbol("zero"), bytes.fromhex("b863000000c3"))   # mov eax, 99; ret
    assert m.call("zero") == 99


def test_paging_and_sse_enabled(hm):
    efer = hm.call("rdmsr_efer")
    assert efer & (1 << 8) and efer & (1 << 10) and efer & (1 << 11)   # LME, LMA, NXE
    cr0, cr4 = hm.call("read_cr0"), hm.call("read_cr4")
    assert cr0 & (1 << 31) and cr0 & (1 << 16) and not cr0 & (1 << 2)   # PG, WP, no EM
    assert cr4 & (1 << 5) and cr4 & (1 << 9)                             # PAE, OSFXSR


def test_rejects_non_elf_and_non_exec(tmp_path):
    with pytest.raises(Exception):
        Machine(b"not an elf")
    (tmp_path / "b.c").write_text("long f(void){return 1;}")
    so = tmp_path / "b.o"
    subprocess.run(["gcc", "-c", "-O2", "-o", str(so), str(tmp_path / "b.c")], check=True)
    with pytest.raises(EmuError, match="ET_EXEC"):
        Machine(so)


def test_throughput(hm):
    # ~10M instructions must run well under the suite budget (no per-instruction Python hooks).
    assert hm.call("loop_n", 2_000_000) == hm.call("loop_n", 2_000_000)
