"""ELF64 x86-64 executable parsing and validation: the file's headers -> a checked LoadInfo.

Owns: reading the ELF header and program header table through a reader callback, checking
everything a hostile file controls (overflow-safe), and describing the result in a LoadInfo:
the PT_LOAD segments to map, the entry point, the AT_PHDR address, PT_TLS / PT_GNU_STACK /
PT_INTERP facts, the address range and the load bias. It maps nothing and reads no segment
data: the caller populates memory from LoadInfo.loads (see Segment for the contract).

Addresses. Every vaddr in LoadInfo is the link-time value from the file. The address in the
process is `vaddr + LoadInfo.load_bias` (u64 arithmetic, which may wrap for an ET_DYN linked
high: the biased range itself is checked). load_bias is 0 for ET_EXEC; parse() picks a default
for ET_DYN (static-PIE) near DYN_BASE like Linux's ELF_ET_DYN_BASE; set_load_bias() lets the
caller choose another (ASLR). user_entry() / user_phdr() give the biased AT_ENTRY / AT_PHDR.

The reader: `reader(ctx, offset, dst, len) -> i64` copies up to `len` bytes of the file at
byte `offset` into the kernel buffer `dst` and returns the count (0 at end of file) or -errno.
It may return fewer bytes than asked (read_exact loops). `ctx` is the reader's own (a host file
handle, a ptr[MemFile] cast to u64...). MemFile + mem_read back it with a buffer in memory.

Errors: parse() returns 0, -EIO (the reader failed; LoadInfo.io_error holds its -errno) or
-ENOEXEC, and sets LoadInfo.error to an ELF_ERR_* reason (bad_index: the offending program
header, where there is one); error_message() names each. A PT_INTERP (a dynamically linked
program) is described (has_interp, interp_offset/size), not refused: exec loads it.
"""

from __future__ import annotations

from qkernel.dialect import (Final, addr_of, array, cast, fn, i64, memcpy, memset, ptr, sizeof, struct, u8,
                             u16, u32, u64)

# ---- errno values returned (negated) by this module
EIO: Final = 5
ENOEXEC: Final = 8
EINVAL: Final = 22

# ---- ELF constants
EI_NIDENT: Final = 16
ELFCLASS64: Final = 2
ELFDATA2LSB: Final = 1
EV_CURRENT: Final = 1
ET_EXEC: Final = 2
ET_DYN: Final = 3
EM_X86_64: Final = 62
PT_NULL: Final = 0
PT_LOAD: Final = 1
PT_DYNAMIC: Final = 2
PT_INTERP: Final = 3
PT_NOTE: Final = 4
PT_PHDR: Final = 6
PT_TLS: Final = 7
PT_GNU_EH_FRAME: Final = 0x6474E550
PT_GNU_STACK: Final = 0x6474E551
PT_GNU_RELRO: Final = 0x6474E552
PT_GNU_PROPERTY: Final = 0x6474E553
PF_X: Final = 1
PF_W: Final = 2
PF_R: Final = 4
EHDR_SIZE: Final = 64
PHDR_SIZE: Final = 56

# ---- limits and the user address space
PAGE: Final = 4096
USER_MIN: Final = 0x1_0000                 # nothing is mapped below (Linux's mmap_min_addr)
USER_TOP: Final = 0x7FFF_FFFF_F000         # end of user space (Linux's TASK_SIZE on x86-64)
DYN_BASE: Final = 0x5555_5555_4000         # default ET_DYN base: 2/3 of USER_TOP, page aligned
MAX_BIAS_ALIGN: Final = 0x4000_0000        # p_align above this is not honoured for the bias
PHDR_TABLE_MAX: Final = 4096               # bytes of program headers (Linux: ELF_MIN_ALIGN)
PHNUM_MAX: Final = PHDR_TABLE_MAX // PHDR_SIZE   # 73
PHDRS_KEPT: Final = 16                     # program headers copied into LoadInfo.phdrs
MAX_LOADS: Final = 16                      # non-empty PT_LOAD segments
INTERP_MAX: Final = 4096                   # PT_INTERP size limit, NUL included (PATH_MAX)

# ---- LoadInfo.error reason codes
ELF_OK: Final = 0
ELF_ERR_IO: Final = 1              # the reader returned an error (-EIO)
ELF_ERR_TRUNCATED: Final = 2       # a read ended early: the file is shorter than its headers say
ELF_ERR_MAGIC: Final = 3           # no \x7fELF magic: not an ELF file
ELF_ERR_CLASS: Final = 4           # not ELFCLASS64 (a 32-bit binary)
ELF_ERR_DATA: Final = 5            # not little-endian
ELF_ERR_VERSION: Final = 6         # EI_VERSION or e_version is not EV_CURRENT
ELF_ERR_MACHINE: Final = 7         # e_machine is not EM_X86_64
ELF_ERR_TYPE: Final = 8            # e_type is not ET_EXEC or ET_DYN (a relocatable, a core...)
ELF_ERR_PHENTSIZE: Final = 9       # e_phentsize != 56
ELF_ERR_PHNUM: Final = 10          # no program headers, or more than PHNUM_MAX
ELF_ERR_PHDR_RANGE: Final = 11     # the program header table lies (partly) past end of file
ELF_ERR_SEG_FILE: Final = 12       # p_offset + p_filesz wraps or lies past end of file
ELF_ERR_SEG_MEMSZ: Final = 13      # p_memsz < p_filesz
ELF_ERR_SEG_ALIGN: Final = 14      # p_vaddr % PAGE != p_offset % PAGE
ELF_ERR_SEG_ORDER: Final = 15      # PT_LOAD segments not in ascending p_vaddr order, or overlapping
ELF_ERR_SEG_ADDR: Final = 16       # p_vaddr + p_memsz wraps, or the image leaves [USER_MIN, USER_TOP)
ELF_ERR_TOO_MANY_LOADS: Final = 17  # more than MAX_LOADS non-empty PT_LOAD segments
ELF_ERR_NO_LOAD: Final = 18        # no non-empty PT_LOAD segment
ELF_ERR_PHDR_NOT_LOADED: Final = 19  # the program headers are not in loaded file data (no AT_PHDR)
ELF_ERR_ENTRY: Final = 20          # e_entry lies outside every PT_LOAD segment
ELF_ERR_TLS: Final = 21            # PT_TLS with p_memsz < p_filesz, a wrapping range or a bad p_align
ELF_ERR_INTERP: Final = 22         # PT_INTERP empty, too long or past end of file
ELF_ERR_MAX: Final = 23

reader_t = fn[[u64, u64, ptr[u8], u64], i64]


@struct
class Elf64Ehdr:
    """The ELF header as in the file (64 bytes)."""
    e_ident: array[u8, 16]
    e_type: u16
    e_machine: u16
    e_version: u32
    e_entry: u64
    e_phoff: u64
    e_shoff: u64
    e_flags: u32
    e_ehsize: u16
    e_phentsize: u16
    e_phnum: u16
    e_shentsize: u16
    e_shnum: u16
    e_shstrndx: u16


@struct
class Elf64Phdr:
    """A program header as in the file (56 bytes)."""
    p_type: u32
    p_flags: u32
    p_offset: u64
    p_vaddr: u64
    p_paddr: u64
    p_filesz: u64
    p_memsz: u64
    p_align: u64


@struct
class Segment:
    """A checked non-empty PT_LOAD. The mapper makes [vaddr, vaddr + memsz) (+ load_bias) exist
    with the protection `flags` (PF_R|PF_W|PF_X), fills [vaddr, vaddr + filesz) with the file's
    bytes [offset, offset + filesz) and zeroes the rest up to vaddr + memsz. Segments are in
    ascending order and their byte ranges are disjoint, but two may share a page (its protection
    is then the union of theirs); filling by byte range keeps both correct. Guaranteed:
    filesz <= memsz, offset + filesz <= file size, vaddr % PAGE == offset % PAGE."""
    vaddr: u64
    memsz: u64
    filesz: u64
    offset: u64
    align: u64
    flags: u32
    index: u32      # its position in the program header table


@struct
class LoadInfo:
    """What parse() learned. Filled by parse() only; vaddrs are link-time (add load_bias)."""
    error: u32           # ELF_OK or ELF_ERR_*
    e_type: u32          # ET_EXEC or ET_DYN
    bad_index: u64       # program header index the error is about (0 if none)
    io_error: i64        # the reader's -errno when error == ELF_ERR_IO
    file_size: u64       # bytes, as given to parse()
    entry: u64           # e_entry
    phoff: u64           # e_phoff
    phnum: u64           # e_phnum (AT_PHNUM)
    phentsize: u64       # e_phentsize (always PHDR_SIZE; AT_PHENT)
    phdr_vaddr: u64      # where the program headers are in memory (AT_PHDR - load_bias)
    nphdrs: u64          # how many headers phdrs holds: min(phnum, PHDRS_KEPT)
    phdrs: array[Elf64Phdr, 16]
    nloads: u64
    loads: array[Segment, 16]
    vaddr_lo: u64        # lowest PT_LOAD vaddr rounded down to a page
    vaddr_hi: u64        # highest PT_LOAD end rounded up to a page (exclusive): brk starts here
    max_align: u64       # largest power-of-two PT_LOAD p_align <= MAX_BIAS_ALIGN, at least PAGE
    load_bias: u64       # added to every vaddr to get the process address
    has_tls: bool        # PT_TLS present (informational: libc sets up TLS from AT_PHDR)
    tls_vaddr: u64
    tls_memsz: u64
    tls_filesz: u64
    tls_align: u64
    has_gnu_stack: bool  # PT_GNU_STACK present
    exec_stack: bool     # the stack must be executable (PT_GNU_STACK with PF_X; x86-64 Linux
                         # makes it non-executable when PT_GNU_STACK is absent)
    stack_flags: u32     # PT_GNU_STACK p_flags (0 if absent)
    has_interp: bool     # PT_INTERP present (the first one counts, as on Linux)
    interp_offset: u64   # file offset and size (NUL included) of the interpreter path
    interp_size: u64
    has_dynamic: bool    # PT_DYNAMIC present (static-PIE relocates itself)


@struct
class MemFile:
    """A file held in kernel memory, for mem_read (ctx = u64(ptr[MemFile]))."""
    data: ptr[u8]
    size: u64       # bytes
    chunk: u64      # if nonzero, one read returns at most this many bytes (short reads)
    err_off: u64    # if err != 0, a read reaching this offset fails with err instead
    err: i64        # -errno, or 0


def mem_read(ctx: u64, off: u64, dst: ptr[u8], n: u64) -> i64:
    """The reader for a MemFile: copies min(n, size - off) bytes (0 at or past the end)."""
    f = cast(ptr[MemFile], ctx)
    if off >= f.size:
        return 0
    k = f.size - off
    if k > n:
        k = n
    if f.chunk != 0 and k > f.chunk:
        k = f.chunk
    if f.err != 0 and off + k > f.err_off:
        return f.err
    memcpy(dst, f.data + off, k)
    return i64(k)


def read_exact(reader: reader_t, ctx: u64, off: u64, dst: ptr[u8], n: u64, info: ptr[LoadInfo]) -> u32:
    """Reads exactly n bytes at off into dst: ELF_OK, ELF_ERR_TRUNCATED (end of file first) or
    ELF_ERR_IO (the reader failed or claimed more than asked; info.io_error is set).
    The caller guarantees that off + n does not wrap."""
    done: u64 = 0
    while done < n:
        r = reader(ctx, off + done, dst + done, n - done)
        if r < 0:
            info.io_error = r
            return ELF_ERR_IO
        if r == 0:
            return ELF_ERR_TRUNCATED
        if u64(r) > n - done:
            info.io_error = -EIO
            return ELF_ERR_IO
        done += u64(r)
    return ELF_OK


def fail(info: ptr[LoadInfo], code: u32, index: u64) -> i64:
    info.error = code
    info.bad_index = index
    if code == ELF_ERR_IO:
        return -EIO
    return -ENOEXEC


def in_file(off: u64, size: u64, file_size: u64) -> bool:
    """[off, off + size) lies inside a file of file_size bytes (no wrap)."""
    return size <= file_size and off <= file_size - size


def page_down(x: u64) -> u64:
    return x & ~u64(PAGE - 1)


def is_pow2(x: u64) -> bool:
    return x != 0 and x & (x - 1) == 0


def check_load(info: ptr[LoadInfo], ph: ptr[Elf64Phdr], index: u64) -> u32:
    """Checks one PT_LOAD and appends it to info.loads when non-empty."""
    if not in_file(ph.p_offset, ph.p_filesz, info.file_size):
        return ELF_ERR_SEG_FILE
    if ph.p_filesz > ph.p_memsz:
        return ELF_ERR_SEG_MEMSZ
    if ph.p_vaddr % PAGE != ph.p_offset % PAGE:
        return ELF_ERR_SEG_ALIGN
    if ph.p_memsz > USER_TOP or ph.p_vaddr > USER_TOP - ph.p_memsz:
        return ELF_ERR_SEG_ADDR
    if ph.p_memsz == 0:
        return ELF_OK
    n = info.nloads
    if n > 0:
        prev = addr_of(info.loads[n - 1])
        if ph.p_vaddr < prev.vaddr + prev.memsz:
            return ELF_ERR_SEG_ORDER
    if n == MAX_LOADS:
        return ELF_ERR_TOO_MANY_LOADS
    s = addr_of(info.loads[n])
    s.vaddr = ph.p_vaddr
    s.memsz = ph.p_memsz
    s.filesz = ph.p_filesz
    s.offset = ph.p_offset
    s.align = ph.p_align
    s.flags = ph.p_flags
    s.index = u32(index)
    info.nloads = n + 1
    if is_pow2(ph.p_align) and ph.p_align <= MAX_BIAS_ALIGN and ph.p_align > info.max_align:
        info.max_align = ph.p_align
    return ELF_OK


def check_phdr(info: ptr[LoadInfo], ph: ptr[Elf64Phdr], index: u64, phdr_seen: ptr[bool]) -> u32:
    """Checks one program header of any type; records what LoadInfo keeps of it."""
    t = ph.p_type
    if t == PT_LOAD:
        return check_load(info, ph, index)
    if t == PT_PHDR:
        if not phdr_seen[0]:
            phdr_seen[0] = True
            info.phdr_vaddr = ph.p_vaddr
    elif t == PT_TLS:
        if ph.p_filesz > ph.p_memsz or ph.p_vaddr > USER_TOP or ph.p_memsz > USER_TOP - ph.p_vaddr:
            return ELF_ERR_TLS
        if ph.p_align > 1 and not is_pow2(ph.p_align):
            return ELF_ERR_TLS
        if not info.has_tls:
            info.has_tls = True
            info.tls_vaddr = ph.p_vaddr
            info.tls_memsz = ph.p_memsz
            info.tls_filesz = ph.p_filesz
            info.tls_align = ph.p_align
    elif t == PT_GNU_STACK:
        info.has_gnu_stack = True
        info.stack_flags = ph.p_flags
        info.exec_stack = ph.p_flags & PF_X != 0
    elif t == PT_INTERP:
        if ph.p_filesz < 2 or ph.p_filesz > INTERP_MAX or not in_file(ph.p_offset, ph.p_filesz, info.file_size):
            return ELF_ERR_INTERP
        if not info.has_interp:
            info.has_interp = True
            info.interp_offset = ph.p_offset
            info.interp_size = ph.p_filesz
    elif t == PT_DYNAMIC:
        info.has_dynamic = True
    return ELF_OK


def loaded_file_range(info: ptr[LoadInfo], vaddr: u64, size: u64) -> bool:
    """[vaddr, vaddr + size) lies inside one segment's file-backed bytes."""
    for i in range(info.nloads):
        s = addr_of(info.loads[i])
        if vaddr >= s.vaddr and vaddr - s.vaddr <= s.filesz and size <= s.filesz - (vaddr - s.vaddr):
            return True
    return False


def parse(info: ptr[LoadInfo], reader: reader_t, ctx: u64, file_size: u64) -> i64:
    """Reads and checks the ELF executable of file_size bytes behind reader/ctx into *info.
    Returns 0, -ENOEXEC or -EIO; info.error says why (see the module docstring)."""
    memset(info, 0, sizeof(LoadInfo))
    info.file_size = file_size
    info.max_align = PAGE
    eh = Elf64Ehdr()
    n: u64 = EHDR_SIZE
    if file_size < n:
        n = file_size
    rc = read_exact(reader, ctx, 0, cast(ptr[u8], addr_of(eh)), n, info)
    if rc != ELF_OK:
        return fail(info, rc, 0)
    if n >= 4 and (eh.e_ident[0] != 0x7F or eh.e_ident[1] != 0x45 or eh.e_ident[2] != 0x4C
                   or eh.e_ident[3] != 0x46):
        return fail(info, ELF_ERR_MAGIC, 0)
    if n < EHDR_SIZE:
        return fail(info, ELF_ERR_TRUNCATED, 0)
    if eh.e_ident[4] != ELFCLASS64:
        return fail(info, ELF_ERR_CLASS, 0)
    if eh.e_ident[5] != ELFDATA2LSB:
        return fail(info, ELF_ERR_DATA, 0)
    if eh.e_ident[6] != EV_CURRENT or eh.e_version != EV_CURRENT:
        return fail(info, ELF_ERR_VERSION, 0)
    if eh.e_machine != EM_X86_64:
        return fail(info, ELF_ERR_MACHINE, 0)
    if eh.e_type != ET_EXEC and eh.e_type != ET_DYN:
        return fail(info, ELF_ERR_TYPE, 0)
    if eh.e_phentsize != PHDR_SIZE:
        return fail(info, ELF_ERR_PHENTSIZE, 0)
    if eh.e_phnum == 0 or eh.e_phnum > PHNUM_MAX:
        return fail(info, ELF_ERR_PHNUM, 0)
    info.e_type = eh.e_type
    info.entry = eh.e_entry
    info.phoff = eh.e_phoff
    info.phnum = eh.e_phnum
    info.phentsize = eh.e_phentsize
    table: u64 = u64(eh.e_phnum) * PHDR_SIZE
    if not in_file(eh.e_phoff, table, file_size):
        return fail(info, ELF_ERR_PHDR_RANGE, 0)

    # The table, PHDRS_KEPT headers at a time; the first batch is kept in info.phdrs.
    batch = array[Elf64Phdr, 16]()
    phdr_seen: bool = False
    i: u64 = 0
    while i < info.phnum:
        k = info.phnum - i
        if k > PHDRS_KEPT:
            k = PHDRS_KEPT
        rc = read_exact(reader, ctx, eh.e_phoff + i * PHDR_SIZE, cast(ptr[u8], addr_of(batch[0])),
                        k * PHDR_SIZE, info)
        if rc != ELF_OK:
            return fail(info, rc, i)
        if i == 0:
            memcpy(addr_of(info.phdrs[0]), addr_of(batch[0]), k * PHDR_SIZE)
            info.nphdrs = k
        for j in range(k):
            rc = check_phdr(info, addr_of(batch[j]), i + j, addr_of(phdr_seen))
            if rc != ELF_OK:
                return fail(info, rc, i + j)
        i += k

    if info.nloads == 0:
        return fail(info, ELF_ERR_NO_LOAD, 0)
    first = addr_of(info.loads[0])
    last = addr_of(info.loads[info.nloads - 1])
    info.vaddr_lo = page_down(first.vaddr)
    info.vaddr_hi = page_down(last.vaddr + last.memsz + (PAGE - 1))   # <= USER_TOP: no wrap

    # AT_PHDR: PT_PHDR's vaddr, else where the PT_LOAD holding e_phoff puts the table.
    if not phdr_seen:
        found = False
        for s in range(info.nloads):
            seg = addr_of(info.loads[s])
            if eh.e_phoff >= seg.offset and eh.e_phoff - seg.offset < seg.filesz:
                info.phdr_vaddr = seg.vaddr + (eh.e_phoff - seg.offset)
                found = True
                break
        if not found:
            return fail(info, ELF_ERR_PHDR_NOT_LOADED, 0)
    if not loaded_file_range(info, info.phdr_vaddr, table):
        return fail(info, ELF_ERR_PHDR_NOT_LOADED, 0)

    entry_ok = False
    for s in range(info.nloads):
        seg = addr_of(info.loads[s])
        if info.entry >= seg.vaddr and info.entry - seg.vaddr < seg.memsz:
            entry_ok = True
    if not entry_ok:
        return fail(info, ELF_ERR_ENTRY, 0)

    if set_load_bias(info, default_load_bias(info)) != 0:
        return fail(info, ELF_ERR_SEG_ADDR, u64(first.index))
    return 0


def default_load_bias(info: ptr[LoadInfo]) -> u64:
    """0 for ET_EXEC; for ET_DYN the bias that puts vaddr_lo at DYN_BASE aligned down to
    max_align (Linux: ELF_ET_DYN_BASE, without randomisation)."""
    if info.e_type != ET_DYN:
        return 0
    base: u64 = DYN_BASE & ~(info.max_align - 1)
    return base - info.vaddr_lo


def set_load_bias(info: ptr[LoadInfo], bias: u64) -> i64:
    """Sets info.load_bias after checking that the biased image [vaddr_lo, vaddr_hi) + bias
    lies in [USER_MIN, USER_TOP) and bias is page aligned (ET_EXEC: only 0). 0 or -EINVAL."""
    if info.e_type != ET_DYN and bias != 0:
        return -EINVAL
    if bias % PAGE != 0:
        return -EINVAL
    span = info.vaddr_hi - info.vaddr_lo
    lo = info.vaddr_lo + bias
    if span > USER_TOP or lo < USER_MIN or lo > USER_TOP - span:
        return -EINVAL
    info.load_bias = bias
    return 0


def user_entry(info: ptr[LoadInfo]) -> u64:
    """AT_ENTRY: the entry point in the process."""
    return info.entry + info.load_bias


def user_phdr(info: ptr[LoadInfo]) -> u64:
    """AT_PHDR: the program headers' address in the process."""
    return info.phdr_vaddr + info.load_bias


def error_message(code: u32) -> ptr[u8]:
    """A one-line explanation of an ELF_ERR_* code (static, NUL-terminated)."""
    if code == ELF_OK:
        return b"no error"
    if code == ELF_ERR_IO:
        return b"I/O error while reading the executable"
    if code == ELF_ERR_TRUNCATED:
        return b"truncated executable: the file is shorter than its headers say"
    if code == ELF_ERR_MAGIC:
        return b"not an ELF executable (bad magic)"
    if code == ELF_ERR_CLASS:
        return b"not a 64-bit ELF executable"
    if code == ELF_ERR_DATA:
        return b"not a little-endian ELF executable"
    if code == ELF_ERR_VERSION:
        return b"unknown ELF version"
    if code == ELF_ERR_MACHINE:
        return b"not an x86-64 executable"
    if code == ELF_ERR_TYPE:
        return b"not an executable (ELF type is neither EXEC nor DYN)"
    if code == ELF_ERR_PHENTSIZE:
        return b"bad program header size"
    if code == ELF_ERR_PHNUM:
        return b"bad program header count"
    if code == ELF_ERR_PHDR_RANGE:
        return b"program header table past end of file"
    if code == ELF_ERR_SEG_FILE:
        return b"segment file range past end of file"
    if code == ELF_ERR_SEG_MEMSZ:
        return b"segment memory size smaller than its file size"
    if code == ELF_ERR_SEG_ALIGN:
        return b"segment address and file offset disagree modulo the page size"
    if code == ELF_ERR_SEG_ORDER:
        return b"loadable segments overlap or are not in ascending order"
    if code == ELF_ERR_SEG_ADDR:
        return b"segment addresses outside the user address space"
    if code == ELF_ERR_TOO_MANY_LOADS:
        return b"too many loadable segments"
    if code == ELF_ERR_NO_LOAD:
        return b"no loadable segment"
    if code == ELF_ERR_PHDR_NOT_LOADED:
        return b"program headers are not inside a loadable segment"
    if code == ELF_ERR_ENTRY:
        return b"entry point outside every loadable segment"
    if code == ELF_ERR_TLS:
        return b"bad TLS segment"
    if code == ELF_ERR_INTERP:
        return b"bad interpreter segment"
    return b"unknown ELF error"
