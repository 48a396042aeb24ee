"""qkernel.loader.stack, compiled by qkc and run under unicorn: the initial stack read back the way a
libc's _start reads it, its exact Linux layout, the error cases, and real static binaries (glibc,
static-PIE, musl, busybox) started on it in a small user-mode unicorn harness."""

from __future__ import annotations

import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from qkernel.dialect import layout
from qkernel.loader import elf as E
from qkernel.loader import stack as S

MASK64 = (1 << 64) - 1
SP, LI, SEG, MF = layout(S.StackParams), layout(E.LoadInfo), layout(E.Segment), layout(E.MemFile)
USER_END = 0x7FFF_FFFF_F000
RANDOM = bytes(range(0xA0, 0xB0))
AUX_ORDER = [S.AT_SYSINFO_EHDR, S.AT_MINSIGSTKSZ, S.AT_HWCAP, S.AT_PAGESZ, S.AT_CLKTCK, S.AT_PHDR, S.AT_PHENT,
             S.AT_PHNUM, S.AT_BASE, S.AT_FLAGS, S.AT_ENTRY, S.AT_UID, S.AT_EUID, S.AT_GID, S.AT_EGID, S.AT_SECURE,
             S.AT_RANDOM, S.AT_HWCAP2, S.AT_EXECFN, S.AT_PLATFORM]
INPUTS = dict(phdr=0x40_0040, phent=56, phnum=10, entry=0x40_1520, base=0, hwcap=0x178BFBFF, hwcap2=2,
              minsigstksz=2048, sysinfo_ehdr=0x7FFF_F7FC_1000, uid=1000, euid=1001, gid=100, egid=101, secure=0)

# The musl-gcc wrapper's specs ignore -static-pie (the result would be a dynamic PIE asking for
# /lib/ld-musl-x86_64.so.1): link rcrt1.o and the static-PIE options by hand.
_MUSL_LIB = "/usr/lib/x86_64-linux-musl"
MUSL_STATIC_PIE = ["-fPIE", "-nostartfiles", f"{_MUSL_LIB}/rcrt1.o", f"{_MUSL_LIB}/crti.o",
                   "-Wl,-static,-pie,--no-dynamic-linker,-z,text", f"{_MUSL_LIB}/crtn.o"]


def s64(v: int) -> int:
    v &= MASK64
    return v - (1 << 64) if v >> 63 else v


def block(exe: bytes, argv: list[bytes], envp: list[bytes], cwd: bytes = b"/") -> bytes:
    return b"".join(s + b"\0" for s in [exe, *argv, *envp, cwd])


class Stacks:
    def __init__(self, m):
        self.m = m
        self.params = m.alloc(SP.size)
        self.random = m.alloc(16)
        m.write(self.random, RANDOM)
        self.args_cap = self.buf_cap = 0

    def set(self, name: str, v: int) -> None:
        off, n, _ = SP.fields[name]
        self.m.write(self.params + off, (v & MASK64).to_bytes(n, "little"))

    def get(self, name: str) -> int:
        off, n, _ = SP.fields[name]
        return int.from_bytes(self.m.read(self.params + off, n), "little")

    def build(self, exe: bytes = b"/bin/prog", argv: list[bytes] | None = None, envp: list[bytes] | None = None, *,
              raw: bytes | None = None, argc: int | None = None, envc: int | None = None,
              buf_len: int = 0x10000, user_end: int = USER_END, fill: int = 0xAA,
              **inputs: int) -> tuple[int, bytes]:
        """Returns (build()'s result, the buffer afterwards)."""
        argv = [b"prog", b"arg1"] if argv is None else argv
        envp = [b"HOME=/", b"TERM=dumb"] if envp is None else envp
        data = block(exe, argv, envp) if raw is None else raw
        if len(data) > self.args_cap:
            self.args_cap = max(len(data), 1 << 16)
            self.args = self.m.alloc(self.args_cap)
        if buf_len > self.buf_cap:
            self.buf_cap = max(buf_len + 15 & ~15, 1 << 16)
            self.buf = self.m.alloc(self.buf_cap)
        buf = self.buf + self.buf_cap - buf_len       # buf + buf_len is 16-aligned, as build() requires
        self.m.write(self.args, data)
        self.m.write(buf, bytes([fill]) * buf_len)
        for name, v in dict(INPUTS, args=self.args, args_len=len(data), argc=len(argv) if argc is None else argc,
                            envc=len(envp) if envc is None else envc, random=self.random, **inputs).items():
            self.set(name, v)
        rc = s64(self.m.call("qkernel.loader.stack.build", buf, buf_len, user_end, self.params))
        return rc, self.m.read(buf, buf_len)


@pytest.fixture(scope="module")
def machine(kernel_cache):
    from toolchain.driver import build_modules
    from toolchain.emucall import Machine
    return Machine(build_modules(["qkernel.loader.elf", "qkernel.loader.stack"], kernel_cache).elf,
                   heap_size=32 << 20)


@pytest.fixture(scope="module")
def stacks(machine):
    return Stacks(machine)


class UserStack:
    """The stack as a libc's _start sees it: reads only through user addresses."""

    def __init__(self, mem: bytes, user_end: int, rsp: int):
        self.mem, self.end, self.rsp = mem, user_end, rsp
        self.base = user_end - len(mem)

    def u64(self, a: int) -> int:
        assert self.rsp <= a and a + 8 <= self.end, hex(a)
        return struct.unpack_from("<Q", self.mem, a - self.base)[0]

    def bytes(self, a: int, n: int) -> bytes:
        assert self.rsp <= a and a + n <= self.end, hex(a)
        return self.mem[a - self.base:a - self.base + n]

    def cstr(self, a: int) -> bytes:
        assert self.rsp <= a < self.end, hex(a)
        i = a - self.base
        return self.mem[i:self.mem.index(0, i)]

    def parse(self) -> dict:
        a = self.rsp
        argc = self.u64(a)
        argv_ptrs = [self.u64(a + 8 + 8 * i) for i in range(argc)]
        assert self.u64(a + 8 + 8 * argc) == 0
        p = a + 8 * (argc + 2)
        envp_ptrs = []
        while (q := self.u64(p)) != 0:
            envp_ptrs.append(q)
            p += 8
        p += 8
        auxv = []
        while True:
            t, v = self.u64(p), self.u64(p + 8)
            p += 16
            if t == S.AT_NULL:
                assert v == 0
                break
            auxv.append((t, v))
        return dict(argc=argc, argv_ptrs=argv_ptrs, argv=[self.cstr(x) for x in argv_ptrs], envp_ptrs=envp_ptrs,
                    envp=[self.cstr(x) for x in envp_ptrs], auxv=auxv, aux=dict(auxv), auxv_end=p,
                    envp_at=a + 8 * (argc + 2), auxv_at=a + 8 * (argc + 2) + 8 * (len(envp_ptrs) + 1))


def check_stack(st: Stacks, rc: int, mem: bytes, exe: bytes, argv: list[bytes], envp: list[bytes], *,
                user_end: int = USER_END, fill: int = 0xAA, inputs: dict | None = None) -> dict:
    inputs = dict(INPUTS, **(inputs or {}))
    assert rc > 0 and rc % 16 == 0, hex(rc)
    us = UserStack(mem, user_end, rc)
    got = us.parse()
    shown_argv = argv or [b""]
    assert got["argc"] == len(shown_argv) and got["argv"] == shown_argv and got["envp"] == envp
    aux = got["aux"]
    want_order = [t for t in AUX_ORDER if not (t == S.AT_MINSIGSTKSZ and not inputs["minsigstksz"])
                  and not (t == S.AT_SYSINFO_EHDR and not inputs["sysinfo_ehdr"])]
    assert [t for t, _ in got["auxv"]] == want_order
    for k, t in (("phdr", S.AT_PHDR), ("phent", S.AT_PHENT), ("phnum", S.AT_PHNUM), ("entry", S.AT_ENTRY),
                 ("base", S.AT_BASE), ("hwcap", S.AT_HWCAP), ("hwcap2", S.AT_HWCAP2), ("uid", S.AT_UID),
                 ("euid", S.AT_EUID), ("gid", S.AT_GID), ("egid", S.AT_EGID), ("secure", S.AT_SECURE)):
        assert aux[t] == inputs[k], k
    if inputs["minsigstksz"]:
        assert aux[S.AT_MINSIGSTKSZ] == inputs["minsigstksz"]
    if inputs["sysinfo_ehdr"]:
        assert aux[S.AT_SYSINFO_EHDR] == inputs["sysinfo_ehdr"]
    assert (aux[S.AT_PAGESZ], aux[S.AT_CLKTCK], aux[S.AT_FLAGS]) == (4096, 100, 0)
    assert us.bytes(aux[S.AT_RANDOM], 16) == RANDOM
    assert us.cstr(aux[S.AT_EXECFN]) == exe
    assert us.cstr(aux[S.AT_PLATFORM]) == b"x86_64"

    # Linux's exact layout (fs/exec.c, create_elf_tables), computed independently.
    assert us.bytes(user_end - 8, 8) == bytes(8)
    execfn = user_end - 8 - len(exe) - 1
    assert aux[S.AT_EXECFN] == execfn
    strings = b"".join(s + b"\0" for s in argv + envp)
    lowest = execfn - len(strings) - (0 if argv else 1)
    assert us.bytes(execfn - len(strings), len(strings)) == strings
    expect = execfn - len(strings)
    for ptr_, s in zip(got["argv_ptrs"] if argv else [], argv):
        assert ptr_ == expect
        expect += len(s) + 1
    for ptr_, s in zip(got["envp_ptrs"], envp):
        assert ptr_ == expect
        expect += len(s) + 1
    platform = (lowest & ~15) - 7
    assert aux[S.AT_PLATFORM] == platform and aux[S.AT_RANDOM] == platform - 16
    words = 1 + (got["argc"] + 1) + (len(envp) + 1) + 2 * (len(got["auxv"]) + 1)
    assert rc == (platform - 16 - 8 * words) & ~15
    assert mem[got["auxv_end"] - us.base:platform - 16 - us.base] == bytes(platform - 16 - got["auxv_end"])
    assert mem[:rc - us.base] == bytes([fill]) * (rc - us.base)          # nothing written below rsp

    out = {n: st.get(n) for n in ("argc_out", "rsp", "argv", "envp", "auxv", "auxv_len", "arg_start", "arg_end",
                                  "env_start", "env_end", "execfn", "platform", "random_addr")}
    env_start = execfn - len(strings) + sum(len(s) + 1 for s in argv)
    assert out == dict(argc_out=got["argc"], rsp=rc, argv=rc + 8, envp=got["envp_at"], auxv=got["auxv_at"],
                       auxv_len=16 * (len(got["auxv"]) + 1), arg_start=lowest, arg_end=env_start,
                       env_start=env_start, env_end=execfn, execfn=execfn, platform=platform,
                       random_addr=platform - 16)
    return got


def test_stack_reads_back_like_a_libc(stacks):
    exe, argv, envp = b"/usr/bin/prog", [b"prog", b"-v", b"hello world", b""], [b"A=1", b"PATH=/bin:/usr/bin"]
    rc, mem = stacks.build(exe, argv, envp)
    check_stack(stacks, rc, mem, exe, argv, envp)


def test_every_string_alignment(stacks):
    for k in range(17):
        for exe_len in (1, 8, 9):
            exe, argv, envp = b"e" * exe_len, [b"p", b"x" * k], [b"K=" + b"v" * (k // 2)]
            rc, mem = stacks.build(exe, argv, envp)
            check_stack(stacks, rc, mem, exe, argv, envp)


def test_no_env_no_minsigstksz_other_user_end(stacks):
    end = 0x1234_5670
    rc, mem = stacks.build(b"/a", [b"a"], [], user_end=end, minsigstksz=0, sysinfo_ehdr=0,
                           fill=0x55)
    check_stack(stacks, rc, mem, b"/a", [b"a"], [], user_end=end, fill=0x55,
                inputs=dict(minsigstksz=0, sysinfo_ehdr=0))


def test_argc_zero_gets_an_empty_argv0(stacks):
    """Linux 5.18+: execve with an empty argv runs the program with argc 1 and argv[0] == ""."""
    rc, mem = stacks.build(b"/bin/prog", [], [b"X=1"])
    got = check_stack(stacks, rc, mem, b"/bin/prog", [], [b"X=1"])
    assert got["argc"] == 1 and got["argv"] == [b""]


def test_long_strings_and_many_args(stacks):
    argv = [b"prog"] + [b"%d" % i * (i % 7) for i in range(2000)] + [b"y" * 5000]
    envp = [b"V%d=%s" % (i, b"z" * (i % 13)) for i in range(500)]
    rc, mem = stacks.build(b"/p", argv, envp, buf_len=0x40000)
    check_stack(stacks, rc, mem, b"/p", argv, envp)


def test_too_big_gives_e2big(stacks):
    argv, envp = [b"prog", b"a" * 100], [b"B=2"]
    rc, _ = stacks.build(b"/p", argv, envp)
    need = USER_END - rc
    rc2, mem = stacks.build(b"/p", argv, envp, buf_len=need)        # exactly enough
    assert rc2 == rc
    check_stack(stacks, rc2, mem, b"/p", argv, envp)
    rc3, mem = stacks.build(b"/p", argv, envp, buf_len=need - 1)
    assert rc3 == -S.E2BIG and mem == b"\xaa" * (need - 1)         # nothing written
    many = [b"arg%d" % i for i in range(20000)]
    assert stacks.build(b"/p", many, [], buf_len=0x10000)[0] == -S.E2BIG
    assert stacks.build(b"/p", [b"p"], [], buf_len=16)[0] == -S.E2BIG
    # One string longer than MAX_ARG_STRLEN (Linux: E2BIG), even with room for it.
    huge = b"h" * S.MAX_ARG_STRLEN
    assert stacks.build(b"/p", [b"p", huge], [], buf_len=0x50000)[0] == -S.E2BIG
    assert stacks.build(b"/p", [b"p", huge[:-1]], [], buf_len=0x50000)[0] > 0
    assert stacks.build(huge, [b"p"], [], buf_len=0x50000)[0] == -S.E2BIG
    big = b"x" * (S.ARGS_MAX + 1)
    assert stacks.build(raw=big, argc=0, envc=0, buf_len=0x1000)[0] == -S.E2BIG


@pytest.mark.parametrize("raw, argc, envc", [
    (b"", 0, 0),                                   # empty block
    (b"/p\0a\0/", 1, 0),                            # last string not terminated
    (b"/p\0", 0, 0),                                # no cwd
    (b"/p\0a\0b\0/\0", 3, 0),                       # fewer strings than counted
    (b"/p\0a\0b\0c\0/\0", 1, 1),                    # more strings than counted
    (b"/p\0a\0/\0", 1 << 63, 1 << 63),              # counts that wrap
    (b"/p\0a\0/\0", MASK64, 2),
])
def test_malformed_argument_block_gives_einval(stacks, raw, argc, envc):
    assert stacks.build(raw=raw, argc=argc, envc=envc)[0] == -S.EINVAL


def test_bad_user_end_gives_einval(stacks):
    assert stacks.build(user_end=USER_END - 8)[0] == -S.EINVAL
    assert stacks.build(user_end=0x8000, buf_len=0x10000)[0] == -S.EINVAL
    m = stacks.m
    buf = m.alloc(0x1010)
    assert s64(m.call("qkernel.loader.stack.build", buf + 8, 0x1000, USER_END, stacks.params)) == -S.EINVAL


def test_find_nul_at_every_alignment(machine):
    m = machine
    base = m.alloc(64)
    for start in range(9):
        for n in range(0, 26):
            for z in (None, 0, 1, 7, 8, 9, 15, 16, 24):
                data = bytearray(b"\xff" * 64)
                if z is not None:
                    data[start + z] = 0
                data[start + n] = 0          # just past the range: must not be found
                m.write(base, bytes(data))
                want = z if z is not None and z < n else n
                assert m.call("qkernel.loader.stack.find_nul", base + start, n) == want, (start, n, z)


def test_empty_cwd_and_empty_strings(stacks):
    raw = block(b"/p", [b"", b""], [b""], cwd=b"")
    rc, mem = stacks.build(raw=raw, argc=2, envc=1)
    check_stack(stacks, rc, mem, b"/p", [b"", b""], [b""])


# ---- with the ELF parser: real static programs started on the stack ---------------------------

PROG_C = r"""
#include <stdio.h>
#include <stdint.h>
#include <sys/auxv.h>
__thread int tv = 42;
extern char **environ;
int main(int argc, char **argv) {
    printf("argc=%d\n", argc);
    for (int i = 0; i < argc; i++) printf("argv[%d]=%s\n", i, argv[i]);
    for (char **e = environ; *e; e++) printf("env=%s\n", *e);
    unsigned char *r = (unsigned char *)getauxval(AT_RANDOM);
    printf("random=");
    for (int i = 0; i < 16; i++) printf("%02x", r[i]);
    printf("\nexecfn=%s\nplatform=%s\n", (char *)getauxval(AT_EXECFN), (char *)getauxval(AT_PLATFORM));
    printf("pagesz=%lu phnum=%lu entry=%#lx tls=%d\n", getauxval(AT_PAGESZ), getauxval(AT_PHNUM),
           getauxval(AT_ENTRY), tv);
    return 7;
}
"""


@pytest.fixture(scope="session")
def programs(tmp_path_factory) -> dict[str, Path | str]:
    d = tmp_path_factory.mktemp("loader-progs")
    (d / "prog.c").write_text(PROG_C)
    out: dict[str, Path | str] = {}
    gcc, musl = shutil.which("gcc"), shutil.which("musl-gcc")
    for name, cc, flags in (("gcc-static", gcc, ["-static"]), ("gcc-static-pie", gcc, ["-static-pie"]),
                            ("musl-static", musl, ["-static"]), ("musl-static-pie", musl, MUSL_STATIC_PIE)):
        if cc is None:
            out[name] = f"{'musl-gcc' if 'musl' in name else 'gcc'} is not installed on this host"
            continue
        r = subprocess.run([cc, "-O2", *flags, str(d / "prog.c"), "-o", str(d / name)], capture_output=True,
                           text=True)
        out[name] = d / name if r.returncode == 0 else f"{cc} {' '.join(flags)} failed: {r.stderr[:300]}"
    bb = Path("/bin/busybox")
    out["busybox"] = bb if bb.exists() else "/bin/busybox does not exist here"
    return out


def kernel_load(machine, st: Stacks, data: bytes, argv: list[bytes], envp: list[bytes],
                exe: bytes) -> tuple[dict, int, bytes]:
    """elf.parse + stack.fill_from_load_info + stack.build, all in the kernel code."""
    m = machine
    fb = m.alloc(len(data))
    m.write(fb, data)
    mf = m.alloc(MF.size)
    m.write_u64(mf + MF.fields["data"][0], fb)
    m.write_u64(mf + MF.fields["size"][0], len(data))
    info = m.alloc(LI.size)
    rc = s64(m.call("qkernel.loader.elf.parse", info, m.symbol("qkernel.loader.elf.mem_read"), mf, len(data)))
    assert rc == 0, m.cstring(m.call("qkernel.loader.elf.error_message", m.read_u32(info)))
    raw = m.read(info, LI.size)
    f = {n: int.from_bytes(raw[o:o + k], "little") for n, (o, k, _) in LI.fields.items() if k <= 8}
    lo = LI.fields["loads"][0]
    f["loads"] = [{n: int.from_bytes(raw[lo + i * SEG.size + o:lo + i * SEG.size + o + k], "little")
                   for n, (o, k, _) in SEG.fields.items()} for i in range(f["nloads"])]
    blk = block(exe, argv, envp)
    args = m.alloc(len(blk))
    m.write(args, blk)
    # uid == euid and gid == egid: otherwise musl treats the program as set-id (AT_SECURE-like) and
    # polls fds 0-2 first, which this harness does not emulate.
    for n, v in dict(INPUTS, args=args, args_len=len(blk), argc=len(argv), envc=len(envp), random=st.random,
                     uid=0, euid=0, gid=0, egid=0, sysinfo_ehdr=0).items():   # no vDSO mapped here
        st.set(n, v)
    m.call("qkernel.loader.stack.fill_from_load_info", st.params, info)
    assert (st.get("phdr"), st.get("entry")) == (f["phdr_vaddr"] + f["load_bias"], f["entry"] + f["load_bias"])
    buf = m.alloc(0x10000)
    rsp = s64(m.call("qkernel.loader.stack.build", buf, 0x10000, USER_END, st.params))
    assert rsp > 0
    return f, rsp, m.read(buf, 0x10000)


def run_user(data: bytes, info: dict, rsp: int, stack: bytes) -> tuple[int, bytes]:
    """Maps the segments as LoadInfo says and runs from the entry point with a minimal set of
    Linux syscalls (write/writev/brk/arch_prctl/mprotect/exit; everything else -ENOSYS)."""
    from unicorn import UC_ARCH_X86, UC_HOOK_INSN, UC_MODE_64, UC_PROT_ALL, Uc
    from unicorn import x86_const as X
    uc = Uc(UC_ARCH_X86, UC_MODE_64)
    bias, mapped = info["load_bias"], set()
    for s in info["loads"]:
        va = (s["vaddr"] + bias) & MASK64
        for pg in range(va & -4096, (va + s["memsz"] + 4095) & -4096, 4096):
            if pg not in mapped:
                uc.mem_map(pg, 4096, UC_PROT_ALL)
                mapped.add(pg)
        uc.mem_write(va, data[s["offset"]:s["offset"] + s["filesz"]])
    uc.mem_map(USER_END - 0x100000, 0x100000, UC_PROT_ALL)
    uc.mem_write(USER_END - len(stack), stack)
    brk = {"cur": info["vaddr_hi"] + bias, "top": info["vaddr_hi"] + bias}
    out, status = [], []

    def on_syscall(uc, _):
        nr = uc.reg_read(X.UC_X86_REG_RAX)
        a0, a1, a2 = (uc.reg_read(r) for r in (X.UC_X86_REG_RDI, X.UC_X86_REG_RSI, X.UC_X86_REG_RDX))
        ret = -38
        if nr == 1 and a0 in (1, 2):
            out.append(bytes(uc.mem_read(a1, a2)))
            ret = a2
        elif nr == 20 and a0 in (1, 2):
            ret = 0
            for i in range(a2):
                b, n = struct.unpack("<QQ", uc.mem_read(a1 + 16 * i, 16))
                out.append(bytes(uc.mem_read(b, n)))
                ret += n
        elif nr == 12:
            if a0 > brk["cur"]:
                top = (a0 + 4095) & -4096
                if top > brk["top"]:
                    uc.mem_map(brk["top"], top - brk["top"], UC_PROT_ALL)
                    brk["top"] = top
                brk["cur"] = a0
            ret = brk["cur"]
        elif nr == 158 and a0 == 0x1002:                 # arch_prctl(ARCH_SET_FS)
            uc.reg_write(X.UC_X86_REG_FS_BASE, a1)
            ret = 0
        elif nr == 10:                                   # mprotect: everything is RWX here
            ret = 0
        elif nr == 16:                                   # ioctl: not a tty
            ret = -25
        elif nr in (60, 231):
            status.append(a0)
            uc.emu_stop()
            return
        uc.reg_write(X.UC_X86_REG_RAX, ret & MASK64)

    uc.hook_add(UC_HOOK_INSN, on_syscall, None, 1, 0, X.UC_X86_INS_SYSCALL)
    uc.reg_write(X.UC_X86_REG_RSP, rsp)
    uc.emu_start((info["entry"] + bias) & MASK64, 0, count=50_000_000)
    assert status, "the program did not exit"
    return status[0], b"".join(out)


@pytest.mark.parametrize("name", ["gcc-static", "gcc-static-pie", "musl-static", "musl-static-pie"])
def test_static_program_starts_on_the_stack(machine, stacks, programs, name):
    exe = programs[name]
    if isinstance(exe, str):
        pytest.skip(exe)
    data = exe.read_bytes()
    argv, envp = [b"prog", b"hello", b"two words"], [b"A=1", b"PATH=/bin"]
    info, rsp, stack = kernel_load(machine, stacks, data, argv, envp, b"/bin/prog")
    status, out = run_user(data, info, rsp, stack)
    phnum = struct.unpack_from("<H", data, 56)[0]
    assert status == 7
    assert out.decode() == (
        "argc=3\nargv[0]=prog\nargv[1]=hello\nargv[2]=two words\nenv=A=1\nenv=PATH=/bin\n"
        f"random={RANDOM.hex()}\nexecfn=/bin/prog\nplatform=x86_64\n"
        f"pagesz=4096 phnum={phnum} entry={info['entry'] + info['load_bias']:#x} tls=42\n")


def test_busybox_starts_on_the_stack(machine, stacks, programs):
    exe = programs["busybox"]
    if isinstance(exe, str):
        pytest.skip(exe)
    data = exe.read_bytes()
    if b"/ld-" in data[:4096]:
        pytest.skip("/bin/busybox is dynamically linked")
    info, rsp, stack = kernel_load(machine, stacks, data, [b"echo", b"hello", b"from", b"busybox"], [b"A=1"],
                                   b"/bin/echo")
    status, out = run_user(data, info, rsp, stack)
    assert (status, out) == (0, b"hello from busybox\n")
