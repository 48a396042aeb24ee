"""The vDSO and its time page: the frames every process maps (AT_SYSINFO_EHDR), as Linux's
special mappings [vvar] and [vdso].

Owns: the time page (VdsoTime, one frame the kernel's clock writes: qkernel/task/clock.py) and
the image (vdso/vdso.S laid out by toolchain/vdso.py, embedded page-aligned in the kernel's
rodata as qk_vdso_image: mapped in place, never copied). map_into() gives a fresh address space
one VM_SPECIAL VMA of the time page (read-only) and one of the image (read, execute) right
above it; their leaves are PTE_SHARED (borrowed: never freed, shared at fork). The user cannot
make them writable (mprotect: EACCES), so no process can change what another one runs.

Errors: map_into returns the image's user address, or 0 when there is no vDSO (image missing,
no frame for the time page, no room): the program then runs without AT_SYSINFO_EHDR and libc
makes system calls instead.
"""

from __future__ import annotations

from qkernel.abi import PAGE_SIZE
from qkernel.dialect import NULL, Final, asm, cast, i64, ptr, struct, u64
from qkernel.linux.mman import MAP_PRIVATE, PROT_EXEC, PROT_READ
from qkernel.mm import frames, vma
from qkernel.mm.addr import pa, va


@struct
class VdsoTime:
    """The time page, as vdso/vdso.S reads it (offsets there)."""
    seq: u64            # even when stable; odd while the kernel writes
    flags: u64          # TIME_TSC: the fields below are valid
    tsc_base: u64
    mono_base: u64      # CLOCK_MONOTONIC at tsc_base (ns)
    mult: u64           # ns = mono_base + ((tsc - tsc_base) * mult) >> shift (128-bit product)
    shift: u64
    real_offset: u64    # CLOCK_REALTIME - CLOCK_MONOTONIC (ns, two's complement)


TIME_TSC: Final = 1
IMAGE_MAX: Final = 16 * PAGE_SIZE

time_frame: u64 = 0      # physical address of the time page
image_phys: u64 = 0      # physical address of the image's first page
image_pages: u64 = 0


def image_start() -> u64:
    return asm("leaq qk_vdso_image(%rip), $0", "=r")


def image_end() -> u64:
    return asm("leaq qk_vdso_image_end(%rip), $0", "=r")


def init() -> None:
    """The time page (zeroed: no clock until clock.init) and the image's place; once at boot."""
    global time_frame, image_phys, image_pages
    start = image_start()
    end = image_end()
    if start & (PAGE_SIZE - 1) != 0 or end <= start or end - start > IMAGE_MAX:
        return
    f = frames.alloc()
    if f == 0:
        return
    time_frame = f
    image_phys = pa(start)
    image_pages = (end - start + PAGE_SIZE - 1) // PAGE_SIZE


def time_page() -> ptr[VdsoTime]:
    """The time page through the direct map, or NULL before init (or without a frame)."""
    if time_frame == 0:
        return cast(ptr[VdsoTime], NULL)
    return cast(ptr[VdsoTime], va(time_frame))


def special_page(offset: u64) -> i64:
    """The frame at byte `offset` of the [vvar][vdso] pair (fault.special_page)."""
    index = offset // PAGE_SIZE
    if index == 0:
        return i64(time_frame)
    if index <= image_pages:
        return i64(image_phys + (index - 1) * PAGE_SIZE)
    return -1


def map_into(mm: ptr[vma.AddressSpace]) -> u64:
    """Maps [vvar] and [vdso] into mm (top-down below its mmap base): the image's address."""
    if time_frame == 0 or image_pages == 0:
        return 0
    n = (1 + image_pages) * PAGE_SIZE
    at = vma.get_area(mm, 0, n, MAP_PRIVATE)
    if vma.is_err(at):
        return 0
    flags: u64 = vma.VM_SPECIAL | vma.VM_PRIVATE
    if vma.insert_vma(mm, at, at + PAGE_SIZE, PROT_READ, flags, 0, 0) < 0:
        return 0
    if vma.insert_vma(mm, at + PAGE_SIZE, at + n, PROT_READ | PROT_EXEC, flags, 0, PAGE_SIZE) < 0:
        return 0
    return at + PAGE_SIZE
