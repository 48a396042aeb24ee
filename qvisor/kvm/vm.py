"""Typed handles for /dev/kvm, a VM and a vCPU (rust-vmm kvm-ioctls style), stdlib only.

Owns: the three file descriptors and the vCPU's mmap'd kvm_run page; every ioctl call goes
through here and every failure becomes a KvmError naming the ioctl and errno. Does not own
guest memory (memory.GuestMemory does; Vm only registers its host address with KVM) nor the
boot state (platform code decides what to put in registers).

Lifetimes: Kvm -> Vm -> Vcpu; each is a context manager and close() is idempotent. A Vcpu is
used from one thread; Vcpu.kick() (sets immediate_exit) is the only call that is safe from a
signal handler or another thread.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import mmap
import os
from typing import Iterable, Mapping

from . import ioctls as K
from . import structs as S
from .exits import Exit, IoIn, Interrupted, Mmio, decode_exit


class KvmError(Exception):
    """A KVM operation failed. `op` names the ioctl/step, `errno` is the OS error (or None)."""

    def __init__(self, op: str, err: int | None = None, detail: str = "") -> None:
        self.op, self.errno = op, err
        msg = op
        if err is not None:
            msg += f": {errno.errorcode.get(err, err)} ({os.strerror(err)})"
        if detail:
            msg += f": {detail}"
        super().__init__(msg)


_libc = None


def _ioctl_ulong(fd: int, req: int, arg: int) -> int:
    """ioctl with an unsigned long argument; fcntl.ioctl only passes a C int."""
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
        _libc.ioctl.argtypes = (ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong)
        _libc.ioctl.restype = ctypes.c_int
    r = _libc.ioctl(fd, req, arg)
    if r < 0:
        raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()))
    return r


def _ioctl(fd: int, req: int, arg=0, op: str = "ioctl") -> int:
    try:
        if isinstance(arg, int) and not -(1 << 31) <= arg < (1 << 31):
            return _ioctl_ulong(fd, req, arg)
        return fcntl.ioctl(fd, req, arg)
    except OSError as e:
        raise KvmError(op, e.errno) from None


class _Fd:
    fd: int = -1

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass


class Kvm(_Fd):
    """The /dev/kvm system fd."""

    def __init__(self, path: str = "/dev/kvm") -> None:
        try:
            self.fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
        except FileNotFoundError:
            raise KvmError(f"open {path}", errno.ENOENT,
                           "no KVM on this host (load kvm, or use the emu platform)") from None
        except PermissionError as e:
            raise KvmError(f"open {path}", e.errno,
                           "not allowed to use KVM (run as root or join the kvm group)") from None
        except OSError as e:
            raise KvmError(f"open {path}", e.errno) from None
        self.path = path
        v = self.api_version()
        if v != K.KVM_API_VERSION:
            self.close()
            raise KvmError("KVM_GET_API_VERSION", None,
                           f"API version {v}, expected {K.KVM_API_VERSION}")
        self._cpuid = None

    def api_version(self) -> int:
        return _ioctl(self.fd, K.KVM_GET_API_VERSION, 0, "KVM_GET_API_VERSION")

    def check_extension(self, cap: int) -> int:
        """0 when unsupported, else a capability-specific positive value."""
        return _ioctl(self.fd, K.KVM_CHECK_EXTENSION, cap, "KVM_CHECK_EXTENSION")

    def vcpu_mmap_size(self) -> int:
        return _ioctl(self.fd, K.KVM_GET_VCPU_MMAP_SIZE, 0, "KVM_GET_VCPU_MMAP_SIZE")

    def supported_cpuid(self):
        """KVM_GET_SUPPORTED_CPUID as a kvm_cpuid2 with exactly nent entries (cached)."""
        if self._cpuid is None:
            n = 64
            while True:
                buf = S.cpuid2_type(n)()
                buf.nent = n
                try:
                    fcntl.ioctl(self.fd, K.KVM_GET_SUPPORTED_CPUID, buf)
                    break
                except OSError as e:
                    if e.errno != errno.E2BIG or n >= 4096:
                        raise KvmError("KVM_GET_SUPPORTED_CPUID", e.errno) from None
                    n *= 2
            out = S.cpuid2_type(buf.nent)()
            out.nent = buf.nent
            for i in range(buf.nent):
                out.entries[i] = buf.entries[i]
            self._cpuid = out
        return self._cpuid

    def msr_index_list(self) -> list[int]:
        """MSR indices KVM can save/restore (KVM_GET_MSR_INDEX_LIST)."""
        n = 256
        while True:
            buf = S.msr_list_type(n)()
            buf.nmsrs = n
            try:
                fcntl.ioctl(self.fd, K.KVM_GET_MSR_INDEX_LIST, buf)
                return list(buf.indices[: buf.nmsrs])
            except OSError as e:
                if e.errno != errno.E2BIG or n >= 65536:
                    raise KvmError("KVM_GET_MSR_INDEX_LIST", e.errno) from None
                n = max(n * 2, buf.nmsrs)

    def create_vm(self, vm_type: int = 0) -> "Vm":
        fd = _ioctl(self.fd, K.KVM_CREATE_VM, vm_type, "KVM_CREATE_VM")
        return Vm(self, fd)


def cpuid_find(cpuid, function: int, index: int = 0):
    """The kvm_cpuid_entry2 for (function, index) in a kvm_cpuid2, or None."""
    for i in range(cpuid.nent):
        e = cpuid.entries[i]
        if e.function == function and (
                e.index == index or not e.flags & S.KVM_CPUID_FLAG_SIGNIFCANT_INDEX):
            return e
    return None


class Vm(_Fd):
    """A VM fd: memory slots, vCPUs, x86 VM-wide setup."""

    def __init__(self, kvm: Kvm, fd: int) -> None:
        self.kvm, self.fd = kvm, fd
        self.vcpus: list[Vcpu] = []

    def check_extension(self, cap: int) -> int:
        return _ioctl(self.fd, K.KVM_CHECK_EXTENSION, cap, "KVM_CHECK_EXTENSION(vm)")

    def set_user_memory_region(self, slot: int, guest_phys_addr: int, memory_size: int,
                               userspace_addr: int, flags: int = 0) -> None:
        """Back [gpa, gpa+size) with host memory at userspace_addr (page aligned; the caller
        keeps that mapping alive for the VM's lifetime). memory_size 0 deletes the slot."""
        r = S.kvm_userspace_memory_region(slot, flags, guest_phys_addr, memory_size,
                                          userspace_addr)
        _ioctl(self.fd, K.KVM_SET_USER_MEMORY_REGION, r, "KVM_SET_USER_MEMORY_REGION")

    def set_tss_addr(self, gpa: int) -> None:
        """Three pages KVM may use for real-mode emulation on VMX without unrestricted guest."""
        _ioctl(self.fd, K.KVM_SET_TSS_ADDR, gpa, "KVM_SET_TSS_ADDR")

    def set_identity_map_addr(self, gpa: int) -> None:
        _ioctl(self.fd, K.KVM_SET_IDENTITY_MAP_ADDR, ctypes.c_uint64(gpa),
               "KVM_SET_IDENTITY_MAP_ADDR")

    def create_irqchip(self) -> None:
        """In-kernel PIC/IOAPIC/LAPIC; must come before any create_vcpu (EINVAL after)."""
        _ioctl(self.fd, K.KVM_CREATE_IRQCHIP, 0, "KVM_CREATE_IRQCHIP")

    def create_vcpu(self, vcpu_id: int = 0) -> "Vcpu":
        fd = _ioctl(self.fd, K.KVM_CREATE_VCPU, vcpu_id, "KVM_CREATE_VCPU")
        v = Vcpu(self, fd, vcpu_id)
        self.vcpus.append(v)
        return v

    def close(self) -> None:
        for v in self.vcpus:
            v.close()
        self.vcpus.clear()
        super().close()


class Vcpu(_Fd):
    """A vCPU fd plus its kvm_run page.

    run() enters the guest once and returns the decoded Exit. After an IoIn exit, call
    complete_io_in(value) before the next run() (otherwise the guest reads all-ones, like an
    unclaimed ISA port); after an Mmio read, complete_mmio_read(data) likewise (else zeros).
    """

    def __init__(self, vm: Vm, fd: int, vcpu_id: int) -> None:
        self.vm, self.fd, self.id = vm, fd, vcpu_id
        size = vm.kvm.vcpu_mmap_size()
        try:
            self._mm = mmap.mmap(fd, size, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
        except OSError as e:
            os.close(fd)
            self.fd = -1
            raise KvmError("mmap kvm_run", e.errno) from None
        self._mv = memoryview(self._mm)
        self.kvm_run = S.kvm_run.from_buffer(self._mm)
        self._pending: tuple[str, int, int] | None = None   # ("in"|"mmio", offset, nbytes)

    # --- registers ---------------------------------------------------------------------------
    def get_regs(self) -> S.kvm_regs:
        r = S.kvm_regs()
        _ioctl(self.fd, K.KVM_GET_REGS, r, "KVM_GET_REGS")
        return r

    def set_regs(self, regs: S.kvm_regs) -> None:
        _ioctl(self.fd, K.KVM_SET_REGS, regs, "KVM_SET_REGS")

    def get_sregs(self) -> S.kvm_sregs:
        r = S.kvm_sregs()
        _ioctl(self.fd, K.KVM_GET_SREGS, r, "KVM_GET_SREGS")
        return r

    def set_sregs(self, sregs: S.kvm_sregs) -> None:
        _ioctl(self.fd, K.KVM_SET_SREGS, sregs, "KVM_SET_SREGS")

    def get_fpu(self) -> S.kvm_fpu:
        r = S.kvm_fpu()
        _ioctl(self.fd, K.KVM_GET_FPU, r, "KVM_GET_FPU")
        return r

    def set_fpu(self, fpu: S.kvm_fpu) -> None:
        _ioctl(self.fd, K.KVM_SET_FPU, fpu, "KVM_SET_FPU")

    def get_msrs(self, indices: Iterable[int]) -> dict[int, int]:
        """Read MSRs; raises KvmError naming the first index KVM refused."""
        idx = list(indices)
        buf = S.msrs_type(len(idx))()
        buf.nmsrs = len(idx)
        for i, m in enumerate(idx):
            buf.entries[i].index = m
        n = _ioctl(self.fd, K.KVM_GET_MSRS, buf, "KVM_GET_MSRS")
        if n != len(idx):
            raise KvmError("KVM_GET_MSRS", None, f"MSR {idx[n]:#x} not readable")
        return {buf.entries[i].index: buf.entries[i].data for i in range(n)}

    def set_msrs(self, values: Mapping[int, int]) -> None:
        items = list(values.items())
        buf = S.msrs_type(len(items))()
        buf.nmsrs = len(items)
        for i, (m, v) in enumerate(items):
            buf.entries[i].index, buf.entries[i].data = m, v
        n = _ioctl(self.fd, K.KVM_SET_MSRS, buf, "KVM_SET_MSRS")
        if n != len(items):
            raise KvmError("KVM_SET_MSRS", None,
                           f"MSR {items[n][0]:#x} = {items[n][1]:#x} rejected")

    def set_cpuid2(self, cpuid) -> None:
        """Install a kvm_cpuid2 (e.g. Kvm.supported_cpuid(), possibly edited)."""
        _ioctl(self.fd, K.KVM_SET_CPUID2, cpuid, "KVM_SET_CPUID2")

    def tsc_khz(self) -> int:
        """The vCPU's TSC frequency in kHz (KVM_GET_TSC_KHZ)."""
        return _ioctl(self.fd, K.KVM_GET_TSC_KHZ, 0, "KVM_GET_TSC_KHZ")

    def get_xcrs(self) -> dict[int, int]:
        """Extended control registers, {0: XCR0, ...}."""
        x = S.kvm_xcrs()
        _ioctl(self.fd, K.KVM_GET_XCRS, x, "KVM_GET_XCRS")
        return {x.xcrs[i].xcr: x.xcrs[i].value for i in range(min(x.nr_xcrs, 16))}

    def set_xcrs(self, values: Mapping[int, int]) -> None:
        x = S.kvm_xcrs(nr_xcrs=len(values))
        for i, (k, v) in enumerate(values.items()):
            x.xcrs[i].xcr, x.xcrs[i].value = k, v
        _ioctl(self.fd, K.KVM_SET_XCRS, x, "KVM_SET_XCRS")

    def get_vcpu_events(self) -> S.kvm_vcpu_events:
        r = S.kvm_vcpu_events()
        _ioctl(self.fd, K.KVM_GET_VCPU_EVENTS, r, "KVM_GET_VCPU_EVENTS")
        return r

    def translate(self, gva: int) -> tuple[int, bool]:
        """KVM_TRANSLATE: (gpa, valid) through the vCPU's current page tables."""
        t = S.kvm_translation(gva)
        _ioctl(self.fd, K.KVM_TRANSLATE, t, "KVM_TRANSLATE")
        return t.physical_address, bool(t.valid)

    # --- running -----------------------------------------------------------------------------
    def run(self) -> Exit:
        p = self._pending
        if p is not None:
            kind, off, n = p
            self._mv[off: off + n] = (b"\xff" if kind == "in" else b"\0") * n
            self._pending = None
        try:
            fcntl.ioctl(self.fd, K.KVM_RUN, 0)
        except OSError as e:
            if e.errno == errno.EINTR:
                self.kvm_run.immediate_exit = 0
                return Interrupted()
            raise KvmError("KVM_RUN", e.errno) from None
        ex = decode_exit(self._mv)
        t = type(ex)
        if t is IoIn:
            self._pending = ("in", self.kvm_run.io.data_offset, ex.size * ex.count)
        elif t is Mmio and not ex.is_write:
            self._pending = ("mmio", S.KVM_RUN_EXIT_UNION_OFFSET + 8, len(ex.data))
        return ex

    def complete_io_in(self, value: int | bytes) -> None:
        """Supply what the guest's pending `in` reads (int: masked to size; bytes: size*count)."""
        if self._pending is None or self._pending[0] != "in":
            raise KvmError("complete_io_in", None, "no IoIn exit is pending")
        _, off, n = self._pending
        if isinstance(value, int):
            data = (value & ((1 << (8 * n)) - 1)).to_bytes(n, "little")
        else:
            data = bytes(value)
            if len(data) != n:
                raise ValueError(f"IoIn expects {n} bytes, got {len(data)}")
        self._mv[off: off + n] = data
        self._pending = None

    def complete_mmio_read(self, data: bytes) -> None:
        if self._pending is None or self._pending[0] != "mmio":
            raise KvmError("complete_mmio_read", None, "no Mmio read is pending")
        _, off, n = self._pending
        if len(data) != n:
            raise ValueError(f"Mmio read expects {n} bytes, got {len(data)}")
        self._mv[off: off + n] = data
        self._pending = None

    def kick(self) -> None:
        """Make the next KVM_RUN return Interrupted at once (signal-handler safe). A KVM_RUN
        already in the guest only returns on a signal to this thread; the usual pattern is a
        Python signal handler that calls kick(), which closes the race between the two."""
        self.kvm_run.immediate_exit = 1

    def close(self) -> None:
        if getattr(self, "_mm", None) is not None:
            del self.kvm_run
            self._mv.release()
            try:
                self._mm.close()
            except BufferError:
                pass        # someone still holds a view of kvm_run: unmapped when it is dropped
            self._mm = None
        super().close()
