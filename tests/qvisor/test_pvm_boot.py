"""Boot tiny guests on /dev/kvm through the pvm platform (skipped, with the reason, where KVM
is absent or unusable). Guest code: qvisor_guests.py."""

import os
import shutil
import subprocess

import pytest

from elf_builder import PF_R, PF_X, make_elf
from qvisor.kvm import (Hlt, InternalError, IoIn, IoOut, Kvm, KvmError, Shutdown, describe)
from qvisor.kvm import ioctls as K
from qvisor.platform import Handlers
from qvisor.platform import RunTimeout
from qvisor_guests import GUESTS, IN_PORT, OUT_PORT, code

ON_PVM = os.path.exists("/sys/module/kvm_pvm")
EFER, LSTAR = 0xC000_0080, 0xC000_0082


def collect(p, name, handlers=None, timeout=2.0):
    """Load guest `name`, run it; return (stopping exit, bytes written to OUT_PORT)."""
    out = bytearray()
    h = handlers or Handlers()
    h.on_out(OUT_PORT, lambda e: out.extend(e.data))
    p.load_flat(code(name), p.layout.KERNEL_BASE)
    return p.run(h, timeout=timeout), bytes(out)


def test_a_hi_byte_by_byte(pvm):
    seen = []
    pvm.load_flat(code("hi"), pvm.layout.KERNEL_BASE)
    e = pvm.run(Handlers().on_out(OUT_PORT, seen.append), timeout=2)
    assert e == Hlt()
    assert seen == [IoOut(OUT_PORT, 1, bytes([c])) for c in b"hi\n"]


def test_b_boot_params_through_direct_map(pvm):
    lay = pvm.layout
    pvm.memory.write_u64(lay.BOOT_PARAMS_PHYS, 0x1122_3344_5566_7788)
    e, out = collect(pvm, "boot_params")
    assert e == Hlt()
    assert out == (0x5566_7788).to_bytes(4, "little") + (0x1122_3344).to_bytes(4, "little")
    r = pvm.regs()
    assert r.rdi == lay.boot_params_va == lay.DIRECT_MAP_BASE + lay.BOOT_PARAMS_PHYS


def test_c_triple_fault_is_shutdown_and_host_survives(pvm):
    e, out = collect(pvm, "triple_fault")
    assert e == Shutdown() and out == b""
    assert pvm.regs().rip == pvm.layout.KERNEL_BASE + 8           # at the ud2
    pvm.load_flat(code("hi"), pvm.layout.KERNEL_BASE)             # same VM boots again
    assert pvm.run(Handlers().on_out(OUT_PORT, lambda e: None), timeout=2) == Hlt()


def test_d_int3_at_cpl0(pvm, capsys):
    e, _ = collect(pvm, "int3")
    with capsys.disabled():
        print(f"\n  int3 at CPL 0 on this host -> {describe(e)}")
    if ON_PVM:
        # kvm_pvm: the emulator does not deliver #BP at CPL 0; the vCPU stops
        assert isinstance(e, InternalError) and e.suberror == K.KVM_INTERNAL_ERROR_EMULATION
        assert e.insn_bytes is not None and e.insn_bytes[:2] == b"\xcc\xf4"
        assert pvm.regs().rip == pvm.layout.KERNEL_BASE
    else:
        assert isinstance(e, (InternalError, Shutdown))   # hardware KVM: #BP, no IDT -> #DF..


def test_sse_at_cpl0(pvm, capsys):
    e, _ = collect(pvm, "sse")
    with capsys.disabled():
        print(f"\n  xorps at CPL 0 on this host -> {describe(e)}")
    if ON_PVM:   # CPL 0 runs in KVM's emulator, which has no xorps
        assert isinstance(e, InternalError) and e.insn_bytes[:3] == b"\x0f\x57\xc0"
    else:
        assert e == Hlt()


def test_io_in_value_reaches_guest(pvm):
    h = Handlers().on_in(IN_PORT, lambda e: 0x41)
    e, out = collect(pvm, "echo_in", h)
    assert e == Hlt() and out == (0x42).to_bytes(4, "little")


def test_handlers_subclass_sees_every_out(pvm):
    class Log(Handlers):
        def __init__(self):
            super().__init__()
            self.log = []

        def io_out(self, e):
            self.log.append(e.data)
            return False

    h = Log()
    h.on_out(OUT_PORT, lambda e: pytest.fail("overridden io_out must win"))
    pvm.load_flat(code("hi"), pvm.layout.KERNEL_BASE)
    assert pvm.run(h, timeout=2) == Hlt() and b"".join(h.log) == b"hi\n"
    with pytest.raises(KvmError, match="no IoIn"):
        pvm.vcpu.complete_io_in(1)


def test_unregistered_port_stops_the_loop(pvm):
    pvm.load_flat(code("echo_in"), pvm.layout.KERNEL_BASE)
    e = pvm.run(Handlers(), timeout=2)
    assert e == IoIn(IN_PORT, 4, 1)


def test_rep_outsb(pvm):
    e, out = collect(pvm, "rep_outsb")
    assert e == Hlt() and out == b"hello"


def test_boot_stack_and_direct_map_nx(pvm):
    e, out = collect(pvm, "stack")
    assert e == Hlt() and out == b"\x2a"
    e, _ = collect(pvm, "exec_direct_map")                        # #PF (NX), no IDT
    assert e == Shutdown()
    assert pvm.regs().rip == pvm.layout.DIRECT_MAP_BASE + 0x200000


def test_vmcall(pvm, capsys):
    try:
        e, _ = collect(pvm, "vmcall", timeout=0.3)
    except RunTimeout as t:
        e = t
    with capsys.disabled():
        print(f"\n  vmcall at CPL 0 on this host -> {type(e).__name__}: {e}")
    assert isinstance(e, RunTimeout) if ON_PVM else isinstance(e, (Hlt, InternalError))


def test_many_exits_and_max_exits(pvm):
    pvm.memory.write_u64(pvm.layout.BOOT_PARAMS_PHYS, 500)
    e, out = collect(pvm, "count_outs")
    assert e == Hlt() and len(out) == 500
    pvm.memory.write_u64(pvm.layout.BOOT_PARAMS_PHYS, 500)
    pvm.load_flat(code("count_outs"), pvm.layout.KERNEL_BASE)
    e = pvm.run(Handlers().on_out(OUT_PORT, lambda e: None), max_exits=10)
    assert isinstance(e, IoOut)


def test_elf_kernel_boot(pvm):
    kb = pvm.layout.KERNEL_BASE
    text = b"\xf4" * 16 + code("hi")                              # entry at +16
    entry = pvm.load_elf(make_elf(kb + 16, [(kb, 0, text, len(text), PF_R | PF_X)]))
    assert entry == kb + 16 and pvm.regs().rip == kb + 16
    out = bytearray()
    assert pvm.run(Handlers().on_out(OUT_PORT, lambda e: out.extend(e.data)), timeout=2) == Hlt()
    assert out == b"hi\n"


def test_boot_state_in_vcpu(pvm):
    pvm.load_flat(code("hi"), pvm.layout.KERNEL_BASE)
    st, r = pvm.boot_state, pvm.regs()
    assert (r.cr0, r.cr3, r.cr4, r.efer) == (st.cr0, st.cr3, st.cr4, st.efer)
    assert r.cs == 0x08 and r.ss == 0x10 and r.rsp == st.rsp and r.rflags == 0x2
    assert pvm.vcpu.get_msrs([EFER])[EFER] == st.efer
    pvm.vcpu.set_msrs({LSTAR: pvm.layout.KERNEL_BASE + 0x100})
    assert pvm.vcpu.get_msrs([LSTAR]) == {LSTAR: pvm.layout.KERNEL_BASE + 0x100}
    bad = 0x4B56_4DF0 if ON_PVM else 0xDEAD_0000     # PVM-ABI MSR: rejected on this host
    with pytest.raises(KvmError, match=hex(bad)):
        pvm.vcpu.get_msrs([bad])
    # KVM's own walk of our page tables agrees with GuestMemory.translate
    for va in (pvm.layout.KERNEL_BASE + 0x123, pvm.layout.boot_params_va):
        assert pvm.vcpu.translate(va) == (pvm.memory.translate(va, st.cr3), True)
    assert pvm.vcpu.translate(0x1000)[1] is False


def test_kvm_system_queries(kvm_usable):
    with Kvm() as kvm:
        assert kvm.api_version() == 12 and kvm.vcpu_mmap_size() >= 4096
        assert kvm.check_extension(K.KVM_CAP_USER_MEMORY) > 0
        assert kvm.supported_cpuid().nent > 0 and LSTAR in kvm.msr_index_list()
        with kvm.create_vm() as vm:
            vm.set_tss_addr(0xFFFB_D000)                         # > INT_MAX: ulong path
            vm.create_irqchip()
            with pytest.raises(KvmError, match="KVM_CREATE_VCPU"):
                vm.create_vcpu(1 << 30)


def test_missing_device_is_a_clear_error(tmp_path):
    with pytest.raises(KvmError, match="no KVM on this host") as ei:
        Kvm(str(tmp_path / "kvm"))
    assert ei.value.errno == 2


@pytest.mark.skipif(not shutil.which("as") or not shutil.which("objcopy"),
                    reason="GNU as/objcopy not installed")
@pytest.mark.parametrize("name", sorted(GUESTS))
def test_guest_bytes_match_source(tmp_path, name):
    src, hexcode = GUESTS[name]
    (tmp_path / "g.s").write_text(".code64\n" + src)
    subprocess.run(["as", "--64", "g.s", "-o", "g.o"], cwd=tmp_path, check=True)
    subprocess.run(["objcopy", "-O", "binary", "-j", ".text", "g.o", "g.bin"], cwd=tmp_path,
                   check=True)
    assert (tmp_path / "g.bin").read_bytes().hex() == hexcode
