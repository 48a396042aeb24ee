"""The guest's clocks: CLOCK_MONOTONIC and CLOCK_REALTIME from the TSC, kept on the host's clocks,
and written to the vDSO's time page (qkernel/mm/vdso.py) so that user code reads them without
entering the kernel.

The formula, here and in vdso/vdso.S alike (the same TSC gives the same nanosecond on both
paths):  mono = mono_base + ((tsc - tsc_base) * mult) >> SHIFT  (a 128-bit product), and
realtime = mono + real_offset. `init` anchors it on the host's clocks with the TSC frequency
the platform reported (BootParams.tsc_khz). Then, whenever the kernel reads the clock and
SYNC_NS have passed, `sync` asks the host again: the frequency is measured anew over the whole
time since boot (its error shrinks as 1/elapsed), the base moves to now (continuous: time never
goes back), and mult is slewed so that the difference to the host's monotonic clock is gone in
about STEER_NS, at most MAX_SLEW_PPM faster or slower (Linux's NTP slew limit); a difference
past STEP_NS (the host was suspended) is stepped forward at once. Realtime follows the host's
realtime at each sync (it may step, as Linux's does when the host's clock is set).

Without a TSC frequency (tsc_khz 0) there is no TSC clock: the kernel asks the host every time
and the vDSO makes the system call (time page flags 0).
"""

from __future__ import annotations

from qkernel import qcall
from qkernel.arch.cpu import rdtsc
from qkernel.dialect import NULL, Final, addr_of, asm, i64, ptr, u64
from qkernel.mm import vdso

SHIFT: Final = 32
SYNC_NS: Final = 1_000_000_000
STEER_NS: Final = 1_000_000_000
MAX_SLEW_PPM: Final = 500
STEP_NS: Final = 100_000_000

tsc_ok: bool = False
calib_tsc: u64 = 0        # the anchor the frequency is measured from (boot)
calib_ns: u64 = 0
last_sync: u64 = 0        # TSC of the last sync
sync_cycles: u64 = 0      # TSC cycles in SYNC_NS
# the formula (copied to the time page at each change)
tsc_base: u64 = 0
mono_base: u64 = 0
mult: u64 = 0
real_offset: u64 = 0


def mul_shift(a: u64, m: u64, s: u64) -> u64:
    """(a * m) >> s with the 128-bit product (s < 64; the result must fit in 64 bits)."""
    return asm("mulq $2\n\tshrdq %cl, %rdx, %rax", "={rax},{rax},r,{cl},~{rdx},~{flags}", a, m, s)


def div_shifted(n: u64, s: u64, d: u64) -> u64:
    """(n << s) / d with the 128-bit dividend (0 < s < 64; the quotient must fit: n >> (64 - s) < d)."""
    return asm("divq $3", "={rax},{rax},{rdx},r,~{flags}", n << s, n >> (64 - s), d)


def at(tsc: u64) -> u64:
    """CLOCK_MONOTONIC (ns) at `tsc`."""
    d: u64 = 0
    if tsc > tsc_base:
        d = tsc - tsc_base
    return mono_base + mul_shift(d, mult, SHIFT)


def publish() -> None:
    p = vdso.time_page()
    if p == NULL:
        return
    p.seq += 1
    p.tsc_base = tsc_base
    p.mono_base = mono_base
    p.mult = mult
    p.shift = SHIFT
    p.real_offset = real_offset
    p.flags = vdso.TIME_TSC
    p.seq += 1


def host_sample(mono: ptr[u64], real: ptr[u64]) -> u64:
    """The host's monotonic and realtime clocks now, and the TSC at the middle of the
    monotonic reading (its qcall's latency halved)."""
    t0 = rdtsc()
    mono[0] = u64(qcall.clock_ns(1))
    t1 = rdtsc()
    real[0] = u64(qcall.clock_ns(0))
    return t0 + (t1 - t0) // 2


def init(tsc_khz: u64) -> None:
    """The TSC clock anchored on the host's clocks now (nothing when tsc_khz is 0 or absurd)."""
    global tsc_ok, calib_tsc, calib_ns, last_sync, sync_cycles, tsc_base, mono_base, mult, real_offset
    if tsc_khz < 1000 or tsc_khz > 100_000_000:       # 1 MHz .. 100 GHz
        return
    h: u64 = 0
    r: u64 = 0
    t = host_sample(addr_of(h), addr_of(r))
    mult = (1_000_000 << SHIFT) // tsc_khz
    sync_cycles = tsc_khz * (SYNC_NS // 1_000_000)
    calib_tsc = t
    calib_ns = h
    last_sync = t
    tsc_base = t
    mono_base = h
    real_offset = r - h
    tsc_ok = True
    publish()


def sync() -> None:
    """Re-anchors on the host (see the module's text)."""
    global last_sync, tsc_base, mono_base, mult, real_offset
    h: u64 = 0
    r: u64 = 0
    t = host_sample(addr_of(h), addr_of(r))
    if t <= calib_tsc or h <= calib_ns:
        return
    v = at(t)
    m = mult
    cycles = t - calib_tsc
    elapsed = h - calib_ns
    if elapsed >> (64 - SHIFT) < cycles:
        m = div_shifted(elapsed, SHIFT, cycles)
    err = i64(h - v)
    if err > STEP_NS:
        v = h                       # far behind: step forward
        err = 0
    lim = i64(STEER_NS // 1_000_000 * MAX_SLEW_PPM)    # ns of error corrected per STEER_NS, at most
    if err > lim:
        err = lim
    if err < -lim:
        err = -lim
    # m * (1 + err / STEER_NS), err / STEER_NS within +-MAX_SLEW_PPM
    adj = m * u64(err if err >= 0 else -err) // STEER_NS
    m = m + adj if err >= 0 else m - adj
    tsc_base = t
    mono_base = v
    mult = m
    real_offset = r - h
    last_sync = t
    publish()


def mono_ns() -> u64:
    """CLOCK_MONOTONIC in ns."""
    if not tsc_ok:
        return u64(qcall.clock_ns(1))
    t = rdtsc()
    if t - last_sync >= sync_cycles:
        sync()
        t = rdtsc()
    return at(t)


def real_ns() -> u64:
    """CLOCK_REALTIME in ns."""
    if not tsc_ok:
        return u64(qcall.clock_ns(0))
    return mono_ns() + real_offset
