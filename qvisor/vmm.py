"""The VMM: assembles a sandbox VM (platform, guest memory, kernel.elf, boot parameters), runs it
with the qcall server attached, and turns how it stopped into an exit status or a crash report.

Exit statuses: the guest's own (QCALL_EXIT); EXIT_TIMEOUT (124, as timeout(1)) when --timeout
expired; 128 + N when qvisor got stop signal N (qvisor/signals.py); EXIT_KERNEL_CRASH (70) after
a kernel panic, an unhandled kernel exception, a triple fault, a hypervisor emulation error or a
kernel that halted. A crash comes with a report (RunResult.crash); a timeout, a stop signal or a
program killed for lack of memory with a one-line note (RunResult.note).
"""

from __future__ import annotations

import os
import time
from contextlib import nullcontext
from signal import SIGKILL
from dataclasses import dataclass, field, replace
from pathlib import Path

from qkernel import abi as K

from .abi import BOOT_LAYOUT, DEFAULT_MODE, FLAT_PLATFORMS, pack_args, pack_boot_params
from .crash import EXIT_KERNEL_CRASH, CrashInfo
from .kvm.exits import Hlt, InternalError, Interrupted, Shutdown, describe
from .platform import Handlers, RunTimeout
from .platform.runloop import OutValue
from .platform import select as platforms
from .fs import HostFiles
from .memory import default_guest_memory
from .qcall import GuestExit, KernelPanic, QcallFault, QcallServer
from .signals import StopOnSignals

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_KERNEL = PROJECT_ROOT / "build" / "kernel.elf"
PAGE = 4096
EXIT_TIMEOUT = 124


@dataclass
class Program:
    """What `qvisor run` starts: the executable's path inside the root, argv (argv[0] included),
    the environment ("K=V" strings), the working directory inside the root, the root, and the
    binds: (host directory, guest path, rw) each (`--mount`; HostFiles' trees 1..n)."""
    exe: str
    argv: list[str]
    env: list[str]
    cwd: str = "/"
    root: str = "/"
    mounts: list[tuple[str, str, bool]] = field(default_factory=list)


@dataclass
class RunResult:
    status: int
    platform: str
    crash: str | None = None
    log: list[str] = field(default_factory=list)
    seconds: float = 0.0
    qcalls: dict[int, int] = field(default_factory=dict)  # qcall number -> times served
    note: str | None = None  # one line for stderr: why the run ended, when not a crash or an exit


class _VmHandlers(Handlers):
    def __init__(self, server: QcallServer) -> None:
        super().__init__()
        self.on_out(K.QCALL_PORT, OutValue(server.handle))  # the value written: the block's address


def run_kernel(kernel: Path = DEFAULT_KERNEL, *, platform: str = "auto", mem_size: int | None = None,
               flags: int = 0, log_level: int = K.LOG_WARN, echo_log: bool = False,
               timeout: float | None = 60.0, stdout: int | None = 1, stderr: int | None = 2,
               stdin: int | None = 0,
               program: Program | None = None, mode: str = "auto",
               stop_signals: bool = False) -> RunResult:
    """Boot the kernel (and the program) and run it to the end. stdin/stdout/stderr: the host
    descriptors behind the guest's 0-2 (None: closed, the guest gets -EBADF). stop_signals (main thread):
    SIGINT, SIGTERM and SIGHUP stop the VM, the status then 128 + N (the CLI sets it).
    mem_size None: memory.default_guest_memory()."""
    t0 = time.perf_counter()
    if mem_size is None:
        mem_size = default_guest_memory()
    if platform == "auto":
        platform, _ = platforms.detect()
    try:
        image = Path(kernel).read_bytes()
    except OSError as e:
        raise FileNotFoundError(f"cannot read kernel {kernel}: {e.strerror} (build it with `make kernel`)") from None
    if mode == "auto":
        mode = DEFAULT_MODE[platform]
    if mode == "flat" and platform not in FLAT_PLATFORMS:
        raise ValueError(f"flat mode needs the pvm platform (kvm_pvm), not {platform}")
    layout = BOOT_LAYOUT if mode == "split" else replace(BOOT_LAYOUT, KERNEL_USER=True)
    vm = platforms.create(platform, mem_size, layout)
    files = stopper = None
    server: QcallServer | None = None
    try:
        vm.load_kernel(image)
        image_end = BOOT_LAYOUT.KERNEL_PHYS + (vm.span + PAGE - 1) // PAGE * PAGE
        argc = envc = args_len = 0
        if program is not None:
            enc = os.fsencode
            block = pack_args(enc(program.exe), [enc(a) for a in program.argv],
                              [enc(e) for e in program.env], enc(program.cwd))
            vm.memory.write(K.ARGS_PHYS, block)
            argc, envc, args_len = len(program.argv), len(program.env), len(block)
        vm.memory.write(BOOT_LAYOUT.BOOT_PARAMS_PHYS, pack_boot_params(
            mem_size=mem_size, platform=platform, flags=flags, log_level=log_level,
            image_end_phys=image_end, argc=argc, envc=envc, args_len=args_len, mode=mode,
            caps=vm.boot_caps, fault_around=vm.fault_around, tsc_khz=getattr(vm, "tsc_khz", 0),
            stdio_closed=sum(1 << n for n, fd in enumerate((stdin, stdout, stderr)) if fd is None)))
        stopper = StopOnSignals(vm.interrupt) if stop_signals else None
        files = HostFiles(program.root if program else "/", program.mounts if program else (), stdin=stdin)
        # the stop fd ends console reads and sleeps, on the vCPU thread and the ring's workers
        server = QcallServer(vm.memory, stdout=stdout, stderr=stderr, echo_log=echo_log, files=files,
                             stop_fd=stopper.fd if stopper is not None else None)
        crash: CrashInfo | None = None
        note: str | None = None
        status = EXIT_KERNEL_CRASH
        try:
            with stopper if stopper is not None else nullcontext():
                e = vm.run(_VmHandlers(server), timeout=timeout)
            regs = _regs_dict(vm)
            if isinstance(e, Interrupted) and stopper is not None and stopper.signum is not None:
                status = 128 + stopper.signum
            elif isinstance(e, Shutdown):
                crash = CrashInfo("triple fault (the CPU shut down)", regs)
            elif isinstance(e, InternalError):
                detail = getattr(vm, "last_error", None) or describe(e)
                crash = CrashInfo(f"the {platform} platform stopped the VM ({detail})", regs,
                                  e.insn_bytes)
            elif isinstance(e, Hlt):
                crash = CrashInfo("the kernel halted without reporting an exit status", regs)
            else:
                crash = CrashInfo(f"unexpected VM exit: {e}", regs)
        except GuestExit as g:  # a stop signal that raced with the exit wins: it ended the run
            status = 128 + stopper.signum if stopper is not None and stopper.signum else g.status
            if status == 128 + SIGKILL and program is not None and _killed_for_memory(vm, image):
                name = os.path.basename(program.argv[0] if program.argv else program.exe)
                note = (f"qvisor: out of memory: killed process 1 ({name}); the sandbox has "
                        f"{mem_size >> 20} MiB of guest memory (--memory)")
        except KernelPanic as p:
            from .crash import trap_frame
            regs = trap_frame(vm.memory, p.frame_gpa) if p.frame_gpa else None
            crash = CrashInfo(f"kernel panic: {p.message}", regs or _regs_dict(vm))
        except QcallFault as f:
            crash = CrashInfo(f"bad qcall: {f.reason}", _regs_dict(vm))
        except RunTimeout:
            status = EXIT_TIMEOUT
            what = "the program" if program is not None else "the kernel"
            note = f"qvisor: timed out: {what} did not finish within {timeout:g} s (--timeout); stopped"
        report = None
        if crash is not None:  # capstone and pyelftools are imported only here
            from .crash import format_report
            from .symbols import KernelSymbols
            report = format_report(crash, vm.memory, BOOT_LAYOUT, KernelSymbols(image), platform)
        return RunResult(status, platform, report, server.log, time.perf_counter() - t0, dict(server.counts),
                         note)
    finally:
        if server is not None:   # ends blocked reads and sleeps, joins the ring's threads
            server.close()       # (bounded): before the stop fd and guest memory go
        if files is not None:
            files.close_all()
        if stopper is not None:
            stopper.close()
        vm.close()


def _killed_for_memory(vm, image: bytes) -> bool:  # noqa: ANN001
    """Whether the guest's exit with 128 + SIGKILL came from the kernel's program-fault path
    (an unservable page fault: no frame left), not from the program's own exit_group(137): the
    kernel's call chain at the exit qcall passes through its user_fault (frame pointers), or
    its log says "out of memory". Imports pyelftools (symbols), only for this status."""
    from .crash import call_chain, log_tail
    from .symbols import KernelSymbols
    syms = KernelSymbols(image)
    r = vm.regs()
    for addr in call_chain(vm.memory, BOOT_LAYOUT, r.rip, r.rbp):
        hit = syms.lookup(addr)
        if hit is not None and hit[0].rsplit(".", 1)[-1] == "user_fault":
            return True
    return any("out of memory" in line.lower() for line in log_tail(vm.memory, BOOT_LAYOUT, syms, 4))


def _regs_dict(vm) -> dict[str, int]:  # noqa: ANN001
    from dataclasses import asdict
    return asdict(vm.regs())
