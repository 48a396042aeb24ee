"""Tests for toolchain.link: objects from gcc and llvmlite, checked with pyelftools and run
under unicorn with 4-level paging (virtual p_vaddr -> guest-physical p_paddr, the VMM's
loading contract), at a low base, a higher-half base and the top-2GiB kernel base."""

from __future__ import annotations

import io
import shutil
import struct
import subprocess

import pytest
from capstone import CS_ARCH_X86, CS_MODE_64, Cs
from elftools.elf.elffile import ELFFile
from unicorn import (UC_ARCH_X86, UC_MODE_64, UC_PROT_EXEC, UC_PROT_READ, UC_PROT_WRITE, Uc,
                     UcError)
from unicorn import x86_const as X

from toolchain.link import LinkError, LinkedImage, link

LOW = 0x40_0000
HIGH = 0xFFFF_C000_0000_0000
TOP2G = 0xFFFF_FFFF_8000_0000
CFLAGS = ["-fPIC", "-ffreestanding", "-fno-stack-protector", "-O2",
          "-fno-asynchronous-unwind-tables"]

needs_gcc = pytest.mark.skipif(shutil.which("gcc") is None, reason="gcc not installed")


def cc(tmp_path, name: str, src: str, *flags: str, lang: str = "c") -> tuple[str, bytes]:
    srcf = tmp_path / f"{name}.{'s' if lang == 'asm' else 'c'}"
    srcf.write_text(src)
    obj = tmp_path / f"{name}.o"
    args = list(flags) if flags else CFLAGS
    subprocess.run(["gcc", "-c", *args, str(srcf), "-o", str(obj)], check=True)
    return f"{name}.o", obj.read_bytes()


def ll(name: str, ir: str) -> tuple[str, bytes]:
    import llvmlite.binding as llvm
    llvm.initialize_native_target()
    llvm.initialize_native_asmprinter()
    mod = llvm.parse_assembly(ir)
    mod.verify()
    tm = llvm.Target.from_triple("x86_64-unknown-linux-gnu").create_target_machine(
        reloc="pic", codemodel="default", opt=2)
    return f"{name}.o", tm.emit_object(mod)


class Machine:
    """Loads PT_LOADs at guest-physical p_paddr and maps them at p_vaddr with 2 MiB pages."""

    PT, STACK, STOP = 0x7000_0000, 0x7100_0000, 0x7101_0000
    ARGS = (X.UC_X86_REG_RDI, X.UC_X86_REG_RSI, X.UC_X86_REG_RDX, X.UC_X86_REG_RCX)

    def __init__(self, img: LinkedImage):
        self.img = img
        uc = self.uc = Uc(UC_ARCH_X86, UC_MODE_64)
        elf = ELFFile(io.BytesIO(img.elf))
        end = img.base
        for seg in elf.iter_segments("PT_LOAD"):
            prot = ((UC_PROT_READ if seg["p_flags"] & 4 else 0)
                    | (UC_PROT_WRITE if seg["p_flags"] & 2 else 0)
                    | (UC_PROT_EXEC if seg["p_flags"] & 1 else 0))
            size = (seg["p_memsz"] + 0xFFF) & ~0xFFF
            uc.mem_map(seg["p_paddr"], size, prot)
            uc.mem_write(seg["p_paddr"], seg.data())
            end = max(end, seg["p_vaddr"] + size)
        uc.mem_map(self.PT, 0x10_0000)
        self._next, self._tables = self.PT + 0x1000, {}
        for v in range(img.base, end, 0x20_0000):
            self._map2m(v, v - img.base)
        self._map2m(self.STACK, self.STACK)
        uc.mem_map(self.STACK, 0x1_1000)
        uc.mem_write(self.STOP, b"\x90\xf4")  # nop; hlt  (emulation stops at STOP+1)
        uc.reg_write(X.UC_X86_REG_CR3, self.PT)
        uc.reg_write(X.UC_X86_REG_CR4, uc.reg_read(X.UC_X86_REG_CR4) | 0x20)  # PAE
        uc.reg_write(X.UC_X86_REG_CR0, uc.reg_read(X.UC_X86_REG_CR0) | 0x8000_0001)  # PG|PE

    def _table(self, parent: int, idx: int) -> int:
        if (parent, idx) not in self._tables:
            t = self._tables[parent, idx] = self._next
            self._next += 0x1000
            self.uc.mem_write(parent + 8 * idx, struct.pack("<Q", t | 3))
        return self._tables[parent, idx]

    def _map2m(self, virt: int, phys: int) -> None:
        pd = self._table(self._table(self.PT, (virt >> 39) & 511), (virt >> 30) & 511)
        self.uc.mem_write(pd + 8 * ((virt >> 21) & 511), struct.pack("<Q", phys | 0x83))

    def call(self, fn: str | int, *args: int) -> int:
        addr = self.img.symbols[fn].addr if isinstance(fn, str) else fn
        for reg, val in zip(self.ARGS, args):
            self.uc.reg_write(reg, val & (2**64 - 1))
        sp = self.STACK + 0x8000 - 8
        self.uc.mem_write(sp, struct.pack("<Q", self.STOP))
        self.uc.reg_write(X.UC_X86_REG_RSP, sp)
        self.uc.emu_start(addr, self.STOP + 1, count=100_000)
        assert self.uc.reg_read(X.UC_X86_REG_RIP) == self.STOP + 1
        return self.uc.reg_read(X.UC_X86_REG_RAX)

    def read(self, vaddr: int, n: int) -> bytes:
        return bytes(self.uc.mem_read(vaddr - self.img.base, n))


def s32(v: int) -> int:
    return v - (1 << 32) if v & (1 << 31) else v


A_SRC = r"""
extern int add(int, int);
extern int counter;                       /* .data in b.o, reached through the GOT */
int zeroes[100];                          /* .bss */
static __attribute__((noinline, noipa)) int helper(int x) { return x * 3 + 1; }
const char *greet(void) { return "hello, linker"; }
int f(int a, int b) { return add(a, b) + helper(b); }
int bump(int n) { counter += n; zeroes[3] += counter; return counter * 1000 + zeroes[3]; }
int zero3(void) { return zeroes[3]; }
"""
B_SRC = r"""
int counter = 5;
int add(int a, int b) { return a + b; }
"""
TABLE_SRC = r"""
static __attribute__((noinline, noipa)) int sq(int x) { return x * x; }
__attribute__((noinline, noipa)) int inc(int x) { return x + 1; }
__attribute__((noinline, noipa)) int dbl(int x) { return 2 * x; }
int (*const ops[])(int) = { inc, dbl, sq };     /* .data.rel.ro: R_X86_64_64, read-only */
int (*hooks[])(int) = { sq, inc };               /* .data.rel: R_X86_64_64, writable */
int apply(int i, int x) { return ops[i](x); }
int hook(int i, int x) { return hooks[i](x); }
void swap_hooks(void) { int (*t)(int) = hooks[0]; hooks[0] = hooks[1]; hooks[1] = t; }
"""


@pytest.fixture(scope="module")
def objs(tmp_path_factory):
    if shutil.which("gcc") is None:
        pytest.skip("gcc not installed")
    d = tmp_path_factory.mktemp("objs")
    return [cc(d, "a", A_SRC), cc(d, "b", B_SRC), cc(d, "table", TABLE_SRC)]


@needs_gcc
def test_layout_headers_and_symbols(objs, tmp_path):
    img = link(objs, base=HIGH, entry="f")
    elf = ELFFile(io.BytesIO(img.elf))
    assert elf["e_type"] == "ET_EXEC" and elf["e_machine"] == "EM_X86_64"
    assert elf["e_entry"] == img.entry == img.symbols["f"].addr
    loads = list(elf.iter_segments("PT_LOAD"))
    assert [s["p_flags"] for s in loads] == [5, 4, 6]  # R+X, R, R+W
    for s in loads:
        assert s["p_vaddr"] % 0x1000 == 0 and s["p_align"] == 0x1000
        assert s["p_offset"] % 0x1000 == s["p_vaddr"] % 0x1000
        assert s["p_paddr"] == s["p_vaddr"] - HIGH
    assert loads[0]["p_vaddr"] == HIGH + 0x1000
    data = loads[2]
    assert data["p_memsz"] >= data["p_filesz"] + 400  # zeroes[100] is bss
    assert [s.name for s in elf.iter_sections()] == [
        "", ".text", ".rodata", ".got", ".data", ".bss", ".symtab", ".strtab", ".shstrtab"]
    bss = elf.get_section_by_name(".bss")
    assert bss["sh_type"] == "SHT_NOBITS"
    assert data["p_vaddr"] + data["p_memsz"] == bss["sh_addr"] + bss["sh_size"]

    symtab = {s.name: s for s in elf.get_section_by_name(".symtab").iter_symbols()}
    for name in ("f", "add", "greet", "bump", "counter", "zeroes", "ops", "apply"):
        assert symtab[name]["st_value"] == img.symbols[name].addr
        assert symtab[name]["st_info"]["bind"] == "STB_GLOBAL"
    assert img.symbols["zeroes"].size == 400 and img.symbols["zeroes"].kind == "object"
    assert bss["sh_addr"] <= img.symbols["zeroes"].addr < bss["sh_addr"] + bss["sh_size"]
    for static in ("helper", "sq"):  # local functions kept for crash reports
        assert symtab[static]["st_info"]["bind"] == "STB_LOCAL"
        assert symtab[static]["st_info"]["type"] == "STT_FUNC"
        assert symtab[static]["st_value"] == img.symbols[static].addr
        assert img.symbols[static].kind == "func"
    text = elf.get_section_by_name(".text")
    assert text["sh_addr"] <= img.symbols["helper"].addr < text["sh_addr"] + text["sh_size"]
    ro = elf.get_section_by_name(".rodata")
    assert ro["sh_addr"] <= img.symbols["ops"].addr < ro["sh_addr"] + ro["sh_size"]

    img.write(tmp_path / "k.elf")
    assert (tmp_path / "k.elf").read_bytes() == img.elf
    lines = (tmp_path / "k.elf.map").read_text().splitlines()
    parsed = [ln.split(None, 3) for ln in lines]
    assert [int(p[0], 16) for p in parsed] == sorted(int(p[0], 16) for p in parsed)
    assert [f"{img.symbols['helper'].addr:016x}", "0x5", "func", "helper"] in parsed
    if shutil.which("readelf"):
        r = subprocess.run(["readelf", "-a", "-W", str(tmp_path / "k.elf")],
                           capture_output=True, text=True)
        assert r.returncode == 0 and r.stderr == "" and "helper" in r.stdout


@needs_gcc
@pytest.mark.parametrize("base", [LOW, HIGH])
def test_run_cross_object_data_and_strings(objs, base):
    img = link(objs, base=base)
    assert img.entry == img.symbols["helper"].addr  # default: start of text (a.o is first)
    m = Machine(img)
    assert m.call("f", 4, 10) == 4 + 10 + 31
    assert m.call("zero3") == 0  # bss is zero-filled
    assert m.call("bump", 2) == 7 * 1000 + 7
    assert m.call("bump", 3) == 10 * 1000 + 17  # writable .data and .bss persist
    p = m.call("greet")
    assert m.read(p, 14) == b"hello, linker\0"
    ro = next(s for s in ELFFile(io.BytesIO(img.elf)).iter_segments("PT_LOAD")
              if s["p_flags"] == 4)
    assert ro["p_vaddr"] <= p < ro["p_vaddr"] + ro["p_memsz"]


@needs_gcc
@pytest.mark.parametrize("base", [LOW, HIGH])
def test_function_pointer_tables_and_static_symbolize(objs, base):
    img = link(objs, base=base)
    m = Machine(img)
    assert [m.call("apply", i, 7) for i in range(3)] == [8, 14, 49]
    assert [m.call("hook", i, 5) for i in range(2)] == [25, 6]
    m.call("swap_hooks")
    assert [m.call("hook", i, 5) for i in range(2)] == [6, 25]
    sq = img.symbols["sq"]
    assert img.symbolize(sq.addr) == "sq+0x0"
    assert img.symbolize(sq.addr + 3) == "sq+0x3"
    assert img.symbolize(img.symbols["zeroes"].addr + 12) == "zeroes+0xc"
    assert img.symbolize(base) is None
    ops = struct.unpack("<3Q", m.read(img.symbols["ops"].addr, 24))
    assert ops == (img.symbols["inc"].addr, img.symbols["dbl"].addr, sq.addr)


LL_A = r"""
define i32 @f1(i32 %x) {
  %r = add i32 %x, 1
  ret i32 %r
}
define internal i32 @f2(i32 %x) {
  %r = mul i32 %x, 2
  ret i32 %r
}
@table = constant [2 x ptr] [ptr @f1, ptr @f2]
@g = global i32 7
@msg = private unnamed_addr constant [4 x i8] c"qk!\00"
declare i32 @ext(i32)
define i32 @call(i32 %i, i32 %x) {
  %p = getelementptr [2 x ptr], ptr @table, i32 0, i32 %i
  %fp = load ptr, ptr %p
  %r = call i32 %fp(i32 %x)
  %gv = load i32, ptr @g
  %s = add i32 %r, %gv
  %e = call i32 @ext(i32 %s)
  ret i32 %e
}
define ptr @message() {
  ret ptr @msg
}
"""
LL_B = r"""
@g = external global i32
define i32 @ext(i32 %x) {
  %gv = load i32, ptr @g
  %n = add i32 %gv, 1
  store i32 %n, ptr @g
  %r = mul i32 %x, 10
  ret i32 %r
}
"""


@pytest.mark.parametrize("base", [LOW, HIGH])
def test_llvmlite_modules(base):
    objs = [ll("mod_a", LL_A), ll("mod_b", LL_B)]
    img = link(objs, base=base, entry="call")
    assert img.entry == img.symbols["call"].addr
    assert img.symbols["f2"].kind == "func"  # internal linkage -> local symbol, still named
    m = Machine(img)
    assert m.call("call", 0, 5) == (5 + 1 + 7) * 10
    assert m.call("call", 1, 5) == (5 * 2 + 8) * 10  # ext bumped g
    assert m.read(m.call("message"), 4) == b"qk!\0"
    table = struct.unpack("<2Q", m.read(img.symbols["table"].addr, 16))
    assert table == (img.symbols["f1"].addr, img.symbols["f2"].addr)


GOT_USER = r"""
extern int shared;
extern int twice(int);
extern int maybe __attribute__((weak));
extern int weakfn(void);
int get_shared(void) { return shared; }
int call_twice(int x) { return twice(x); }     /* -fno-plt: call *twice@GOTPCREL(%rip) */
long has_maybe(void) { return (long)&maybe; }  /* unresolved weak -> 0 via the GOT */
int call_weakfn(void) { return weakfn(); }
"""
GOT_DEF = r"""
int shared = 42;
int twice(int x) { return 2 * x; }
__attribute__((weak)) int weakfn(void) { return 1; }
"""
GOT_STRONG = "int weakfn(void) { return 2; }\n"


@needs_gcc
def test_got_weak_and_no_plt(tmp_path):
    flags = CFLAGS + ["-fno-plt"]
    objs = [cc(tmp_path, "user", GOT_USER, *flags), cc(tmp_path, "def", GOT_DEF)]
    img = link(objs, base=HIGH)
    m = Machine(img)
    assert m.call("get_shared") == 42
    assert m.call("call_twice", 21) == 42
    assert m.call("has_maybe") == 0
    assert m.call("call_weakfn") == 1
    assert "maybe" not in img.symbols
    got = ELFFile(io.BytesIO(img.elf)).get_section_by_name(".got")
    assert got["sh_addr"] == img.symbols["_GLOBAL_OFFSET_TABLE_"].addr
    slots = struct.unpack(f"<{got['sh_size'] // 8}Q", m.read(got["sh_addr"], got["sh_size"]))
    assert img.symbols["twice"].addr in slots and 0 in slots

    def first_insn(name):
        code = m.read(img.symbols[name].addr, 16)
        return next(Cs(CS_ARCH_X86, CS_MODE_64).disasm(code, img.symbols[name].addr))

    ins = first_insn("get_shared")  # mov shared@GOTPCREL(%rip) relaxed to lea shared(%rip)
    assert ins.mnemonic == "lea"
    assert ins.address + ins.size + s32(int.from_bytes(ins.bytes[3:7], "little")) == \
        img.symbols["shared"].addr
    ins = first_insn("call_twice")  # jmp *twice@GOTPCREL(%rip): stays an indirect GOT jump
    assert ins.mnemonic == "jmp" and ins.op_str.startswith("qword ptr [rip")
    slot = ins.address + ins.size + s32(int.from_bytes(ins.bytes[2:6], "little"))
    assert struct.unpack("<Q", m.read(slot, 8))[0] == img.symbols["twice"].addr
    assert first_insn("has_maybe").mnemonic == "mov"  # unresolved weak: not relaxed
    img2 = link(objs + [cc(tmp_path, "strong", GOT_STRONG)], base=HIGH)
    assert Machine(img2).call("call_weakfn") == 2  # strong beats weak, no duplicate error


@needs_gcc
def test_function_sections_and_common(tmp_path):
    src = r"""
    int common_c;                      /* -fcommon: SHN_COMMON */
    static int sdata[4] = {1, 2, 3, 4};
    static __attribute__((noinline, noipa)) int pick(int i) { return sdata[i]; }
    int sum(void) { int s = 0; for (int i = 0; i < 4; i++) s += pick(i); return s + common_c; }
    """
    other = "int common_c; int set_c(int v) { common_c = v; return v; }\n"
    flags = CFLAGS + ["-ffunction-sections", "-fdata-sections", "-fcommon"]
    objs = [cc(tmp_path, "fs", src, *flags), cc(tmp_path, "fs2", other, *flags)]
    names = {s.name for s in ELFFile(io.BytesIO(objs[0][1])).iter_sections()}
    assert ".rela.text.sum" in names and ".text.pick" in names
    img = link(objs, base=HIGH)
    m = Machine(img)
    assert m.call("sum") == 10
    m.call("set_c", 5)
    assert m.call("sum") == 15
    elf = ELFFile(io.BytesIO(img.elf))
    bss = elf.get_section_by_name(".bss")
    c = img.symbols["common_c"]
    assert bss["sh_addr"] <= c.addr < bss["sh_addr"] + bss["sh_size"] and c.size == 4
    assert img.symbolize(img.symbols["pick"].addr + 1) == "pick+0x1"


@needs_gcc
def test_pc32_overflow(tmp_path):
    code = cc(tmp_path, "near", r"""
    extern char far_sym[] __attribute__((visibility("hidden")));
    char *get_far(void) { return far_sym; }
    """)
    pad = cc(tmp_path, "pad", "char pad[0x90000000UL];\n")
    far = cc(tmp_path, "far", "__attribute__((visibility(\"hidden\"))) char far_sym[16];\n")
    with pytest.raises(LinkError) as e:
        link([code, pad, far], base=LOW)
    msg = str(e.value)
    for part in ("near.o", ".text", "R_X86_64_PC32", "far_sym", "overflow", "signed 32"):
        assert part in msg, msg
    link([code, far], base=LOW)  # the same reference is fine without the 2.25 GiB pad


@needs_gcc
def test_absolute_32_and_32s_range(tmp_path):
    src = "int xv = 99; long addr_of_x(void) { return (long)&xv; }\n"
    flags = ["-ffreestanding", "-fno-pic", "-O2", "-fno-asynchronous-unwind-tables"]
    small = cc(tmp_path, "small", src, *flags, "-mcmodel=small")
    assert Machine(link([small], base=LOW)).call("addr_of_x") > 0
    with pytest.raises(LinkError, match=r"small\.o.*R_X86_64_32 .*'xv'.*unsigned 32"):
        link([small], base=HIGH)
    kern = cc(tmp_path, "kern", src, *flags, "-mcmodel=kernel")
    img = link([kern], base=TOP2G)
    assert Machine(img).call("addr_of_x") == img.symbols["xv"].addr
    with pytest.raises(LinkError, match=r"kern\.o.*R_X86_64_32S.*signed 32"):
        link([kern], base=HIGH)


@needs_gcc
def test_absolute_symbol_and_provided_symbols(tmp_path):
    asm = cc(tmp_path, "abs", ".globl magic\n.set magic, 0x1234\n", lang="asm")
    user = cc(tmp_path, "user", r"""
    extern char magic[], __bss_start[], __bss_end[];
    long get_magic(void) { return (long)magic; }
    long bss_len(void) { return __bss_end - __bss_start; }
    static int big[64];
    int touch(int i) { return big[i]++; }
    """)
    img = link([user, asm], base=LOW)
    m = Machine(img)
    assert m.call("get_magic") == 0x1234 and img.symbols["magic"].addr == 0x1234
    assert m.call("bss_len") >= 256


@needs_gcc
def test_comdat_groups_deduplicated(tmp_path):
    grp = (".section .text.shared_fn,\"axG\",@progbits,shared_fn,comdat\n"
           ".globl shared_fn\n.type shared_fn,@function\nshared_fn:\n"
           "  mov ${v}, %eax\n  ret\n.size shared_fn, .-shared_fn\n"
           ".text\n.globl get{v}\nget{v}:\n  jmp shared_fn\n")
    o1 = cc(tmp_path, "g1", grp.replace("{v}", "1"), lang="asm")
    o2 = cc(tmp_path, "g2", grp.replace("{v}", "2"), lang="asm")
    img = link([o1, o2], base=HIGH)
    m = Machine(img)
    assert m.call("get1") == 1 and m.call("get2") == 1  # first group wins, no duplicate
    text = ELFFile(io.BytesIO(img.elf)).get_section_by_name(".text").data()
    assert text.count(b"\xb8\x01\0\0\0\xc3") == 1 and b"\xb8\x02\0\0\0\xc3" not in text


@needs_gcc
def test_undefined_symbol(objs):
    with pytest.raises(LinkError) as e:
        link([objs[0]], base=LOW)
    msg = str(e.value)
    assert "undefined" in msg and "'add'" in msg and "'counter'" in msg and "a.o" in msg


@needs_gcc
def test_duplicate_symbol(objs, tmp_path):
    dup = cc(tmp_path, "dup", "int add(int a, int b) { return a - b; }\n")
    with pytest.raises(LinkError, match=r"duplicate symbol 'add'.*b\.o.*dup\.o"):
        link(objs + [dup], base=LOW)


@needs_gcc
def test_same_static_name_in_two_objects(tmp_path):
    src = "static __attribute__((noipa)) int helper(int x) { return x + %d; }\n" \
          "int call%d(int x) { return helper(x); }\n"
    o1, o2 = cc(tmp_path, "s1", src % (1, 1)), cc(tmp_path, "s2", src % (2, 2))
    img = link([o1, o2], base=LOW)
    m = Machine(img)
    assert m.call("call1", 10) == 11 and m.call("call2", 10) == 12
    h1, h2 = img.symbols["s1.o:helper"], img.symbols["s2.o:helper"]
    assert h1.addr != h2.addr and img.symbolize(h2.addr + 1) == "s2.o:helper+0x1"


@needs_gcc
def test_unknown_relocation_type(objs):
    name, blob = objs[0]
    elf = ELFFile(io.BytesIO(blob))
    rela = elf.get_section_by_name(".rela.text")
    patched = bytearray(blob)
    patched[rela["sh_offset"] + 8] = 0x7F  # r_info type of the first entry
    with pytest.raises(LinkError, match=r"a\.o \(\.text\+0x[0-9a-f]+\): unknown relocation "
                                        r"type 127"):
        link([(name, bytes(patched))] + objs[1:], base=LOW)
    patched[rela["sh_offset"] + 8] = 19
    with pytest.raises(LinkError, match="R_X86_64_TLSGD"):
        link([(name, bytes(patched))] + objs[1:], base=LOW)


@needs_gcc
def test_entry_and_input_errors(objs):
    with pytest.raises(LinkError, match="entry symbol 'nope'"):
        link(objs, base=LOW, entry="nope")
    img = link(objs, base=LOW)
    with pytest.raises(LinkError, match="out.elf: not a relocatable object"):
        link([("out.elf", img.elf)], base=LOW)
    with pytest.raises(LinkError, match="garbage.o: malformed"):
        link([("garbage.o", b"not an elf")], base=LOW)
    with pytest.raises(LinkError, match="page-aligned"):
        link(objs, base=LOW + 8)


def test_rodata_is_not_writable_at_run_time():
    img = link([ll("ro", r"""
    @k = constant i32 3
    define void @poke() {
      store volatile i32 4, ptr @k
      ret void
    }
    """)], base=HIGH)
    with pytest.raises(UcError):
        Machine(img).call("poke")
