"""qvisor.platform.runloop: the C run loop (_runloop.pyx) and its pure-Python fallback give the
same exits, served counts and handler calls on tiny pvm guests; EINTR, timeouts and signal
handlers behave the same; the selection (extension built or not, QVISOR_PURE_PYTHON) works.

KVM tests skip, with the reason, where /dev/kvm is unusable; tests of the C loop skip when the
extension was not built (`pip install -e .` builds it; runloop.WHY says why it is missing).
`loop()` below is the dispatch loop proposed for PvmPlatform._loop (runloop.run_vcpu in place
of Vcpu.run); once pvm.py uses it, test_pvm_run_uses_runloop runs the same guests through
PvmPlatform.run.
"""

import importlib.util
import inspect
import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from qvisor.kvm import (Exit, FailEntry, Hlt, InternalError, Interrupted, IoIn, IoOut, KvmError,
                        Mmio, Shutdown)
from qvisor.platform import Handlers, RunTimeout, runloop
from qvisor.platform.pvm import PvmPlatform
from qvisor_guests import IN_PORT, OUT_PORT, code

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILT = importlib.util.find_spec("qvisor.platform._runloop") is not None

# extra guests (AT&T source in the comments; CPL 0 at KERNEL_BASE like qvisor_guests)
SPIN = bytes.fromhex("ebfe")                                   # 1: jmp 1b
# mov (%rdi),%rcx ; 1: out %eax,$0x10 ; dec %rcx ; jnz 1b ; hlt    (N = u64 boot parameter)
COUNT_OUTL = bytes.fromhex("488b0f" "e710" "48ffc9" "75f9" "f4")
# mov $0x12345678,%eax ; out %eax,$0x10 ; mov $0xbeef,%ax ; out %ax,$0x10 ; hlt
SIZES = bytes.fromhex("b878563412" "e710" "66b8efbe" "66e710" "f4")
# out %al,$0x10 ; out %al,$0x11 ; out %al,$0x10 ; hlt
TWO_PORTS = bytes.fromhex("e610" "e611" "e610" "f4")

IMPLS = ["py", "fast"]


@pytest.fixture(params=IMPLS)
def impl(request):
    """runloop.run_vcpu of each implementation (selected for the test, restored after)."""
    fast = request.param == "fast"
    if fast and runloop.run_vcpu_fast is None:
        pytest.skip(f"C run loop unavailable: {runloop.WHY}")
    was = runloop.FAST
    runloop.select(fast)
    yield runloop.run_vcpu
    runloop.select(was)


def loop(p, h: Handlers, max_exits=None, fired=None, timeout=None) -> Exit:
    """PvmPlatform._loop with runloop.run_vcpu (the change proposed for pvm.py)."""
    vcpu = p.vcpu
    outs = h.out_ports if type(h).io_out is Handlers.io_out else {}
    n = 0
    while True:
        e, k, done = runloop.run_vcpu(vcpu, outs, None if max_exits is None else max_exits - n)
        if done:
            return e
        n += k
        t = type(e)
        if t is IoOut:
            fn = outs.get(e.port)
            stop = h.io_out(e) if fn is None else fn(e)
        elif t is IoIn:
            v = h.io_in(e)
            stop = v is None
            if not stop:
                vcpu.complete_io_in(v)
        elif t is Hlt:
            stop = h.hlt(e)
        elif t is Shutdown:
            stop = h.shutdown(e)
        elif t is InternalError:
            stop = h.internal_error(e)
        elif t is FailEntry:
            stop = h.fail_entry(e)
        elif t is Mmio:
            stop = h.mmio(e)
        elif t is Interrupted:
            if fired:
                raise RunTimeout(timeout, p.regs())
            stop = False
        else:
            stop = h.unhandled(e)
        if stop:
            return e
        n += 1
        if max_exits is not None and n >= max_exits:
            return e


def boot(p, blob: bytes, param: int | None = None) -> None:
    if param is not None:
        p.memory.write_u64(p.layout.BOOT_PARAMS_PHYS, param)
    p.load_flat(blob, p.layout.KERNEL_BASE)


def steps(p, outs: dict, max_exits=None, complete=None, limit=50):
    """run_vcpu until the guest stops; [(exit, served, done)] (IN completed with `complete`)."""
    got = []
    for _ in range(limit):
        e, n, done = runloop.run_vcpu(p.vcpu, outs, max_exits)
        got.append((e, n, done))
        if type(e) is IoIn and complete is not None:
            p.vcpu.complete_io_in(complete)
        if done or type(e) in (Hlt, Shutdown, InternalError, FailEntry):
            break
    return got


# --- the selection ------------------------------------------------------------------------------
def test_out_value_convention():
    seen = []
    cb = runloop.OutValue(seen.append)
    assert cb(IoOut(0x10, 4, bytes.fromhex("78563412"))) is None
    assert cb(IoOut(0x10, 1, b"hello", 5)) is None             # rep outs: the first item
    assert seen == [0x12345678, ord("h")] and "OutValue" in repr(cb)


def test_built_extension_is_used():
    if not BUILT:
        pytest.skip("the C extension is not built here (no Cython/compiler at install time?)")
    if os.environ.get("QVISOR_PURE_PYTHON", "") not in ("", "0"):
        pytest.skip("QVISOR_PURE_PYTHON is set in this environment")
    assert runloop.run_vcpu_fast is not None, runloop.WHY
    from qvisor.platform import _runloop
    from qvisor.kvm import ioctls as K
    assert _runloop.LAYOUT["KVM_RUN"] == K.KVM_RUN


def _probe(code_: str, env: dict | None = None, cwd: str = ROOT) -> str:
    e = dict(os.environ)
    e.pop("QVISOR_PURE_PYTHON", None)
    e.update(env or {})
    r = subprocess.run([sys.executable, "-c", code_], capture_output=True, text=True, env=e,
                       cwd=cwd, timeout=60)
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


def test_env_forces_pure_python():
    out = _probe("from qvisor.platform import runloop as r;"
                 "print(r.FAST, r.run_vcpu is r.run_vcpu_py, r.WHY)", {"QVISOR_PURE_PYTHON": "1"})
    assert out == "False True QVISOR_PURE_PYTHON is set"


def test_missing_extension_falls_back_quietly():
    out = _probe("import sys; sys.modules['qvisor.platform._runloop'] = None\n"
                 "from qvisor.platform import runloop as r\n"
                 "print(r.FAST, r.run_vcpu_fast, r.run_vcpu is r.run_vcpu_py)\n"
                 "try:\n    r.select(True)\nexcept ValueError as e:\n    print(e)")
    first, why = out.splitlines()
    assert first == "False None True" and "not built" in why


def test_extension_imports_from_another_directory(tmp_path):
    if not BUILT:
        pytest.skip("the C extension is not built here")
    try:
        _probe("import qvisor", cwd=str(tmp_path))
    except AssertionError:
        pytest.skip("qvisor is not installed (only importable from the checkout)")
    out = _probe("import qvisor.platform._runloop as m; from qvisor.platform import runloop as r;"
                 "print(m.__file__.startswith(r.__file__.rsplit('/', 1)[0]), r.FAST)",
                 cwd=str(tmp_path))
    assert out == "True True"


# --- same exits, same calls --------------------------------------------------------------------
def test_ioout_callbacks(pvm, impl):
    seen = []
    boot(pvm, code("hi"))
    assert steps(pvm, {OUT_PORT: seen.append}) == [(Hlt(), 3, False)]
    assert seen == [IoOut(OUT_PORT, 1, bytes([c])) for c in b"hi\n"]


def test_value_callbacks_sizes(pvm, impl):
    seen = []
    boot(pvm, SIZES)
    assert steps(pvm, {OUT_PORT: runloop.OutValue(seen.append)}) == [(Hlt(), 2, False)]
    assert seen == [0x12345678, 0xBEEF]
    boot(pvm, code("boot_params"), 0x1122_3344_5566_7788)
    seen.clear()
    assert steps(pvm, {OUT_PORT: runloop.OutValue(seen.append)}) == [(Hlt(), 2, False)]
    assert seen == [0x5566_7788, 0x1122_3344]


def test_rep_outs(pvm, impl):
    """rep outsb: one exit for all items, or one per item (kvm_pvm's emulator at CPL 0)."""
    seen, values = [], []
    boot(pvm, code("rep_outsb"))
    [(e, n, done)] = steps(pvm, {OUT_PORT: seen.append})
    assert (e, n, done) == (Hlt(), len(seen), False)
    assert b"".join(x.data for x in seen) == b"hello"
    assert all(x.port == OUT_PORT and x.size == 1 and x.count == len(x.data) for x in seen)
    boot(pvm, code("rep_outsb"))
    assert steps(pvm, {OUT_PORT: runloop.OutValue(values.append)}) == [(Hlt(), len(seen), False)]
    assert values == [x.data[0] for x in seen]             # the first item of each exit


def test_unregistered_port_returns(pvm, impl):
    seen = []
    boot(pvm, TWO_PORTS)
    assert steps(pvm, {OUT_PORT: seen.append}) == [
        (IoOut(0x11, 1, b"\0"), 1, False), (Hlt(), 1, False)]
    assert len(seen) == 2
    boot(pvm, TWO_PORTS)
    assert steps(pvm, {}) == [(IoOut(OUT_PORT, 1, b"\0"), 0, False),
                              (IoOut(0x11, 1, b"\0"), 0, False),
                              (IoOut(OUT_PORT, 1, b"\0"), 0, False), (Hlt(), 0, False)]


def test_in_completed_and_uncompleted(pvm, impl):
    seen = []
    outs = {OUT_PORT: runloop.OutValue(seen.append)}
    boot(pvm, code("echo_in"))
    assert steps(pvm, outs, complete=0x41) == [(IoIn(IN_PORT, 4), 0, False), (Hlt(), 1, False)]
    boot(pvm, code("echo_in"))                      # not completed: the guest reads all-ones
    assert steps(pvm, outs) == [(IoIn(IN_PORT, 4), 0, False), (Hlt(), 1, False)]
    assert seen == [0x42, 0]
    with pytest.raises(KvmError, match="no IoIn"):
        pvm.vcpu.complete_io_in(1)


def test_stop_and_resume(pvm, impl):
    seen = []

    def cb(e):
        seen.append(e.data)
        return len(seen) == 2                        # stop at the 'i'

    boot(pvm, code("hi"))
    assert steps(pvm, {OUT_PORT: cb}) == [(IoOut(OUT_PORT, 1, b"i"), 1, True)]
    assert steps(pvm, {OUT_PORT: cb}) == [(Hlt(), 1, False)]
    assert seen == [b"h", b"i", b"\n"]


def test_max_exits(pvm, impl):
    seen = []
    outs = {OUT_PORT: runloop.OutValue(seen.append)}
    boot(pvm, COUNT_OUTL, 500)
    assert steps(pvm, outs, max_exits=10) == [(IoOut(OUT_PORT, 4, bytes(4)), 10, True)]
    assert steps(pvm, outs, max_exits=0) == [(IoOut(OUT_PORT, 4, bytes(4)), 1, True)]
    assert steps(pvm, outs) == [(Hlt(), 489, False)]
    assert len(seen) == 500
    boot(pvm, code("hi"))                             # max_exits with exits not served
    h = Handlers().on_out(OUT_PORT, lambda e: None)
    assert loop(pvm, h, max_exits=2) == IoOut(OUT_PORT, 1, b"i")
    assert loop(pvm, h, max_exits=2) == Hlt()


def test_faults_are_returned(pvm, impl):
    boot(pvm, code("triple_fault"))
    assert steps(pvm, {OUT_PORT: print}) == [(Shutdown(), 0, False)]
    boot(pvm, code("int3"))
    [(e, n, done)] = steps(pvm, {OUT_PORT: print})
    assert type(e) in (InternalError, Shutdown) and (n, done) == (0, False)


def test_callback_exception_propagates_and_vm_resumes(pvm, impl):
    class Stop(Exception):
        pass

    seen = []

    def cb(v):
        seen.append(v)
        if v == ord("i"):
            raise Stop

    outs = {OUT_PORT: runloop.OutValue(cb)}
    boot(pvm, code("hi"))
    with pytest.raises(Stop):
        runloop.run_vcpu(pvm.vcpu, outs)
    assert steps(pvm, outs) == [(Hlt(), 1, False)] and seen == list(b"hi\n")


def test_callbacks_see_the_live_dict(pvm, impl):
    seen = []
    outs = {}

    def first(e):
        seen.append(("first", e.port))
        outs[0x11] = runloop.OutValue(lambda v: seen.append(("second", v)))
        outs[OUT_PORT] = lambda e: seen.append(("third", e.port))

    outs[OUT_PORT] = first
    boot(pvm, TWO_PORTS)
    assert steps(pvm, outs) == [(Hlt(), 3, False)]
    assert seen == [("first", 0x10), ("second", 0), ("third", 0x10)]


def test_closing_the_vm_from_a_callback(pvm, impl):
    """An exception, never a crash: the C loop keeps the kvm_run mapping alive and gets EBADF
    (KvmError); Vcpu.run, used by the Python loop, raises ValueError for the closed fd."""
    boot(pvm, code("hi"))
    with pytest.raises((KvmError, ValueError), match="EBADF|negative"):
        runloop.run_vcpu(pvm.vcpu, {OUT_PORT: lambda e: pvm.close()})


def test_loop_with_handlers_matches(pvm, impl):
    """Through the proposed pvm loop: Handlers, an overridden io_out, IN ports, unhandled."""
    class Log(Handlers):
        def __init__(self):
            super().__init__()
            self.log = []

        def io_out(self, e):
            self.log.append(e.data)
            return False

    out = []
    h = Handlers().on_out(OUT_PORT, lambda e: out.append(e.data)).on_in(IN_PORT, lambda e: 7)
    boot(pvm, code("echo_in"))
    assert loop(pvm, h) == Hlt() and out == [(8).to_bytes(4, "little")]
    lg = Log()
    lg.on_out(OUT_PORT, lambda e: pytest.fail("overridden io_out must win"))
    boot(pvm, code("hi"))
    assert loop(pvm, lg) == Hlt() and b"".join(lg.log) == b"hi\n"
    boot(pvm, code("echo_in"))
    assert loop(pvm, Handlers()) == IoIn(IN_PORT, 4, 1)


# --- EINTR, timeouts, signal handlers ----------------------------------------------------------
def test_kick_returns_interrupted(pvm, impl):
    boot(pvm, code("hi"))
    pvm.vcpu.kick()
    assert runloop.run_vcpu(pvm.vcpu, {OUT_PORT: print}) == (Interrupted(), 0, False)
    assert pvm.vcpu.kvm_run.immediate_exit == 0
    seen = []
    assert steps(pvm, {OUT_PORT: seen.append}) == [(Hlt(), 3, False)] and len(seen) == 3


@pytest.fixture
def alarm():
    """alarm(handler, seconds): SIGALRM via ITIMER_REAL, restored after the test."""
    old = signal.getsignal(signal.SIGALRM)

    def arm(handler, seconds, interval=0.0):
        signal.signal(signal.SIGALRM, handler)
        signal.setitimer(signal.ITIMER_REAL, seconds, interval)

    yield arm
    signal.setitimer(signal.ITIMER_REAL, 0)
    signal.signal(signal.SIGALRM, old if old is not None else signal.SIG_DFL)


def test_signal_handlers_ran_before_interrupted_returns(pvm, impl, alarm):
    fired = []
    boot(pvm, SPIN)
    alarm(lambda s, f: (fired.append(s), pvm.vcpu.kick()), 0.05)
    t0 = time.monotonic()
    e, n, done = runloop.run_vcpu(pvm.vcpu, {OUT_PORT: print})
    assert (e, n, done) == (Interrupted(), 0, False)
    assert fired == [signal.SIGALRM] and time.monotonic() - t0 < 5
    assert pvm.vcpu.kvm_run.immediate_exit == 0            # the handler's kick was consumed


def test_exception_from_signal_handler_propagates(pvm, impl, alarm):
    class Boom(Exception):
        pass

    def handler(s, f):
        raise Boom

    boot(pvm, SPIN)
    alarm(handler, 0.05)
    with pytest.raises(Boom):
        runloop.run_vcpu(pvm.vcpu, {OUT_PORT: print})


def test_stray_signals_do_not_lose_exits(pvm, impl, alarm):
    """A 1 ms interval timer (no kick) interrupts a long run of served exits: every out is
    served exactly once and the run still ends at the hlt."""
    ticks, seen = [], []
    n = 3000
    boot(pvm, COUNT_OUTL, n)
    alarm(lambda s, f: ticks.append(s), 0.001, 0.001)
    interrupted = 0
    while True:
        e, k, done = runloop.run_vcpu(pvm.vcpu, {OUT_PORT: runloop.OutValue(seen.append)})
        if type(e) is not Interrupted:
            break
        interrupted += 1
    signal.setitimer(signal.ITIMER_REAL, 0)
    assert e == Hlt() and len(seen) == n and ticks
    print(f"\n  {len(ticks)} ticks, {interrupted} Interrupted exits")


def test_gil_released_and_kick_from_another_thread(pvm, impl, alarm):
    """While the guest spins in KVM_RUN another Python thread runs, then stops the vCPU the
    documented way: kick() plus a signal to the vCPU's thread (SIGALRM after 10 s: a net)."""
    import threading
    main = threading.main_thread().ident
    counter = [0]
    old_usr1 = signal.signal(signal.SIGUSR1, lambda s, f: None)

    def worker():
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})
        t_end = time.monotonic() + 0.2
        while time.monotonic() < t_end:
            counter[0] += 1
        pvm.vcpu.kick()
        signal.pthread_kill(main, signal.SIGUSR1)

    boot(pvm, SPIN)
    alarm(lambda s, f: pvm.vcpu.kick(), 10)
    th = threading.Thread(target=worker)
    try:
        th.start()
        e = runloop.run_vcpu(pvm.vcpu, {OUT_PORT: print})
        th.join()
    finally:
        signal.signal(signal.SIGUSR1, old_usr1)
    assert e == (Interrupted(), 0, False) and counter[0] > 1000


def test_timeout_through_the_loop(pvm, impl, alarm):
    fired = []
    boot(pvm, SPIN)
    alarm(lambda s, f: (fired.append(s), pvm.vcpu.kick()), 0.1)
    with pytest.raises(RunTimeout) as ei:
        loop(pvm, Handlers().on_out(OUT_PORT, print), fired=fired, timeout=0.1)
    assert ei.value.regs.rip == pvm.layout.KERNEL_BASE
    signal.setitimer(signal.ITIMER_REAL, 0)
    boot(pvm, code("hi"))                                    # the vCPU still runs afterwards
    assert loop(pvm, Handlers().on_out(OUT_PORT, lambda e: None)) == Hlt()


def test_pvm_run_timeout(pvm, impl):
    boot(pvm, SPIN)
    with pytest.raises(RunTimeout):
        pvm.run(Handlers().on_out(OUT_PORT, print), timeout=0.1)


# --- through PvmPlatform.run, once pvm.py uses runloop ------------------------------------------
def test_pvm_run_uses_runloop(pvm, impl, monkeypatch):
    if "runloop.run_vcpu" not in inspect.getsource(PvmPlatform._loop):
        pytest.skip("pvm.py does not call runloop.run_vcpu yet (the proposed _loop change)")
    calls = []
    real = runloop.run_vcpu

    def spy(*a):
        calls.append(a[2])
        return real(*a)

    monkeypatch.setattr(runloop, "run_vcpu", spy)
    seen = []
    boot(pvm, COUNT_OUTL, 200)
    assert pvm.run(Handlers().on_out(OUT_PORT, runloop.OutValue(seen.append)), timeout=5) == Hlt()
    assert len(seen) == 200 and calls
    boot(pvm, COUNT_OUTL, 200)
    e = pvm.run(Handlers().on_out(OUT_PORT, lambda e: None), max_exits=10)
    assert e == IoOut(OUT_PORT, 4, bytes(4))


# --- stop signals (qvisor/signals.py): interrupt() from any thread ends the run ---------------
def test_stop_signal_ends_a_spinning_guest(pvm, impl):
    from qvisor.signals import StopOnSignals
    boot(pvm, SPIN)
    before = signal.getsignal(signal.SIGINT)
    timer = threading.Timer(0.1, os.kill, (os.getpid(), signal.SIGINT))   # any thread may take it
    with StopOnSignals(pvm.interrupt) as stop:
        timer.start()
        try:
            e = pvm.run(Handlers().on_out(OUT_PORT, print), timeout=20)  # RunTimeout, not a hang
        finally:
            timer.join()
    assert e == Interrupted() and stop.signum == signal.SIGINT
    assert signal.getsignal(signal.SIGINT) is before
    boot(pvm, code("hi"))                                    # the vCPU still runs afterwards
    assert loop(pvm, Handlers().on_out(OUT_PORT, lambda e: None)) == Hlt()
