"""Guest-physical memory and every host access to it.

Owns: the one anonymous host mapping that backs guest-physical [0, size), and the bounds
checks on every address/length the guest can influence. Contract: all host reads and writes of
guest memory go through GuestMemory; any bad guest-supplied range (negative, not an int,
wrapping past 2**64, beyond the end, unmapped virtual page) raises GuestFault, never
IndexError/ValueError/a host crash. The qcall layer turns GuestFault into EFAULT.

Units: gpa = guest-physical byte address, gva = guest-virtual byte address, n = byte count,
cr3 = the guest's CR3 value (PCID/flag bits ignored). Page-table walks follow x86-64 4-level
paging (4 KiB, 2 MiB and 1 GiB pages).

The mapping stays alive for the GuestMemory's lifetime; KVM (or unicorn) is given its host
address via `host_address`. Memoryviews from view() must be released before close().
"""

from __future__ import annotations

import ctypes
import mmap
import operator
import os
import struct

PAGE_SIZE = 4096
MiB = 1 << 20
GiB = 1 << 30
DEFAULT_SIZE = 256 * MiB        # a platform's own default (tests, benchmarks)
DEFAULT_GUEST_CAP = 1 * GiB     # `qvisor run`/`boot` default, bounded by the host's RAM (see below)


def default_guest_memory() -> int:
    """The sandbox's guest RAM when --memory is not given: DEFAULT_GUEST_CAP, or the host's RAM
    if smaller (a 2 MiB multiple, at least 32 MiB). The host maps it on demand (MAP_NORESERVE),
    so an idle sandbox's RSS does not grow with it. The cap is the guest's boot cost, not the
    host's: the kernel's frame allocator initialises one bit per 4 KiB frame at CPL 0, which on
    kvm_pvm runs in KVM's instruction emulator (measured here: ~19 ms more start-up per GiB), and
    it covers at most 4 GiB (qkernel/mm/frames.py MAX_FRAMES)."""
    try:
        host = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError):
        host = DEFAULT_GUEST_CAP
    return max(32 * MiB, min(DEFAULT_GUEST_CAP, host) // (2 * MiB) * (2 * MiB))
_U64 = 1 << 64
_MAP_NORESERVE = getattr(mmap, "MAP_NORESERVE", 0x4000)   # Linux value; absent from py3.11

# page-table entry bits
PTE_P, PTE_W, PTE_U, PTE_PS = 1 << 0, 1 << 1, 1 << 2, 1 << 7
PTE_NX = 1 << 63
PTE_ADDR = 0x000F_FFFF_FFFF_F000          # bits 51:12
_ADDR_2M = 0x000F_FFFF_FFE0_0000
_ADDR_1G = 0x000F_FFFF_C000_0000

_u8, _u16, _u32, _u64 = (struct.Struct(f) for f in ("<B", "<H", "<I", "<Q"))


class GuestFault(Exception):
    """A guest-supplied address or length is invalid (the qcall layer answers EFAULT)."""

    def __init__(self, msg: str, addr: int | None = None) -> None:
        super().__init__(msg)
        self.addr = addr


def _as_int(x, what: str) -> int:
    try:
        return operator.index(x)
    except TypeError:
        raise GuestFault(f"{what} is not an integer: {type(x).__name__}") from None


def is_canonical(gva: int) -> bool:
    top = gva >> 47
    return top == 0 or top == (1 << 17) - 1


class GuestMemory:
    """Guest-physical RAM [0, size), one anonymous host mapping."""

    def __init__(self, size: int = DEFAULT_SIZE) -> None:
        if size <= 0 or size % PAGE_SIZE:
            raise ValueError(f"guest memory size {size:#x} must be a positive multiple of 4 KiB")
        self.size = size
        self._mm = mmap.mmap(-1, size, mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS | _MAP_NORESERVE,
                             mmap.PROT_READ | mmap.PROT_WRITE)
        self._mv = memoryview(self._mm)
        self._anchor = ctypes.c_char.from_buffer(self._mm)     # pins the mapping's address

    @property
    def host_address(self) -> int:
        """Host virtual address of guest-physical 0 (page aligned)."""
        return ctypes.addressof(self._anchor)

    def close(self) -> None:
        """Unmap. Raises BufferError while a view() is still alive."""
        if self._mm is not None:
            del self._anchor
            self._mv.release()
            self._mm.close()
            self._mm = None

    def __enter__(self) -> "GuestMemory":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # --- bounds ------------------------------------------------------------------------------
    def check(self, gpa, n) -> int:
        """Validate the guest-physical range [gpa, gpa+n); return gpa as an int."""
        gpa = _as_int(gpa, "guest address")
        n = _as_int(n, "length")
        if gpa < 0 or n < 0:
            raise GuestFault(f"negative guest range {gpa:#x} + {n:#x}", gpa)
        if gpa >= _U64 or n >= _U64 or gpa + n > _U64:
            raise GuestFault(f"guest range {gpa:#x} + {n:#x} wraps past 2**64", gpa)
        if gpa + n > self.size:
            raise GuestFault(f"guest range {gpa:#x} + {n:#x} beyond memory end {self.size:#x}",
                             gpa)
        return gpa

    # --- physical access ---------------------------------------------------------------------
    def read(self, gpa, n) -> bytes:
        gpa = self.check(gpa, n)
        return self._mm[gpa: gpa + n]

    def write(self, gpa, data) -> None:
        mv = memoryview(data).cast("B")
        gpa = self.check(gpa, mv.nbytes)
        self._mv[gpa: gpa + mv.nbytes] = mv

    def view(self, gpa, n) -> memoryview:
        """A writable zero-copy window; release it (or drop it) before close()."""
        gpa = self.check(gpa, n)
        return self._mv[gpa: gpa + n]

    def fill(self, gpa, n, byte: int = 0) -> None:
        gpa = self.check(gpa, n)
        self._mv[gpa: gpa + n] = bytes([byte]) * n

    def read_cstr(self, gpa, max_len: int) -> bytes:
        """Bytes up to (not including) a NUL within max_len bytes (or the memory end)."""
        gpa = self.check(gpa, 0)
        end = min(gpa + max_len, self.size)
        i = self._mm.find(b"\0", gpa, end)
        if i < 0:
            raise GuestFault(f"no NUL terminator within {max_len} bytes of {gpa:#x}", gpa)
        return self._mm[gpa: i]

    def _get(self, s: struct.Struct, gpa) -> int:
        return s.unpack_from(self._mm, self.check(gpa, s.size))[0]

    def _put(self, s: struct.Struct, gpa, v: int) -> None:
        gpa = self.check(gpa, s.size)
        try:
            s.pack_into(self._mm, gpa, v)
        except struct.error:
            raise ValueError(f"{v!r} does not fit in {s.size} bytes") from None

    def read_u8(self, gpa) -> int:
        return self._get(_u8, gpa)

    def read_u16(self, gpa) -> int:
        return self._get(_u16, gpa)

    def read_u32(self, gpa) -> int:
        return self._get(_u32, gpa)

    def read_u64(self, gpa) -> int:
        return self._get(_u64, gpa)

    def write_u8(self, gpa, v: int) -> None:
        self._put(_u8, gpa, v)

    def write_u16(self, gpa, v: int) -> None:
        self._put(_u16, gpa, v)

    def write_u32(self, gpa, v: int) -> None:
        self._put(_u32, gpa, v)

    def write_u64(self, gpa, v: int) -> None:
        self._put(_u64, gpa, v)

    # --- virtual access through the guest's page tables ---------------------------------------
    def walk(self, gva, cr3: int, *, write: bool = False, user: bool = False) -> tuple[int, int]:
        """Translate gva -> (gpa, page_size). With write/user, every level must also allow
        writing / user access (CR0.WP=1 semantics), else GuestFault."""
        gva = _as_int(gva, "guest virtual address")
        if not 0 <= gva < _U64:
            raise GuestFault(f"guest virtual address {gva:#x} out of range", gva)
        if not is_canonical(gva):
            raise GuestFault(f"non-canonical guest virtual address {gva:#x}", gva)
        table = cr3 & PTE_ADDR
        for level, shift in ((4, 39), (3, 30), (2, 21), (1, 12)):
            slot = table + ((gva >> shift) & 511) * 8
            try:
                e = self.read_u64(slot)
            except GuestFault:
                raise GuestFault(f"page table for {gva:#x} at {slot:#x} outside guest memory",
                                 gva) from None
            if not e & PTE_P:
                raise GuestFault(f"{gva:#x} not mapped (level {level} entry {e:#x})", gva)
            if write and not e & PTE_W:
                raise GuestFault(f"{gva:#x} not writable (level {level})", gva)
            if user and not e & PTE_U:
                raise GuestFault(f"{gva:#x} not user-accessible (level {level})", gva)
            if level == 3 and e & PTE_PS:
                return (e & _ADDR_1G) | (gva & (GiB - 1)), GiB
            if level == 2 and e & PTE_PS:
                return (e & _ADDR_2M) | (gva & (2 * MiB - 1)), 2 * MiB
            table = e & PTE_ADDR
        return table | (gva & (PAGE_SIZE - 1)), PAGE_SIZE

    def translate(self, gva, cr3: int, *, write: bool = False, user: bool = False) -> int:
        return self.walk(gva, cr3, write=write, user=user)[0]

    def _virt_chunks(self, gva, n, cr3: int, write: bool, user: bool) -> list[tuple[int, int]]:
        """[(gpa, len)] covering [gva, gva+n), each chunk already bounds-checked."""
        gva = _as_int(gva, "guest virtual address")
        n = _as_int(n, "length")
        if gva < 0 or n < 0 or gva + n > _U64:
            raise GuestFault(f"bad guest virtual range {gva:#x} + {n:#x}", gva)
        if n > self.size:
            raise GuestFault(f"length {n:#x} larger than guest memory", gva)
        out = []
        while n:
            gpa, psize = self.walk(gva, cr3, write=write, user=user)
            k = min(n, psize - (gva & (psize - 1)))
            self.check(gpa, k)
            out.append((gpa, k))
            gva += k
            n -= k
        return out

    def read_virt(self, gva, n, cr3: int, *, user: bool = False) -> bytes:
        return b"".join(self._mm[p: p + k]
                        for p, k in self._virt_chunks(gva, n, cr3, False, user))

    def write_virt(self, gva, data, cr3: int, *, user: bool = False) -> None:
        """All pages are translated and checked before any byte is written."""
        mv = memoryview(data).cast("B")
        chunks = self._virt_chunks(gva, mv.nbytes, cr3, True, user)
        off = 0
        for p, k in chunks:
            self._mv[p: p + k] = mv[off: off + k]
            off += k
