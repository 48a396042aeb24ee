"""The VMM: assembles a sandbox VM (platform, guest memory, kernel.elf, boot parameters), runs it
with the qcall server attached, and turns how it stopped into an exit status or a crash report.

Exit statuses: the guest's own (QCALL_EXIT), or EXIT_KERNEL_CRASH (70) after a kernel panic,
an unhandled kernel exception, a triple fault, a hypervisor emulation error or a hang.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

from qkernel import abi as K

from .abi import BOOT_LAYOUT, DEFAULT_MODE, FLAT_PLATFORMS, pack_args, pack_boot_params
from .crash import EXIT_KERNEL_CRASH, CrashInfo
from .kvm.exits import Hlt, InternalError, Shutdown, describe
from .platform import Handlers, RunTimeout
from .platform.runloop import OutValue
from .platform import select as platforms
from .fs import HostFiles
from .qcall import GuestExit, KernelPanic, QcallFault, QcallServer

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_KERNEL = PROJECT_ROOT / "build" / "kernel.elf"
PAGE = 4096


@dataclass
class Program:
    """What `qvisor run` starts: the executable's path inside the root, argv (argv[0] included),
    the environment ("K=V" strings), the working directory inside the root, and the root."""
    exe: str
    argv: list[str]
    env: list[str]
    cwd: str = "/"
    root: str = "/"


@dataclass
class RunResult:
    status: int
    platform: str
    crash: str | None = None
    log: list[str] = field(default_factory=list)
    seconds: float = 0.0
    qcalls: dict[int, int] = field(default_factory=dict)  # qcall number -> times served


class _VmHandlers(Handlers):
    def __init__(self, server: QcallServer) -> None:
        super().__init__()
        self.on_out(K.QCALL_PORT, OutValue(server.handle))  # the value written: the block's address


def run_kernel(kernel: Path = DEFAULT_KERNEL, *, platform: str = "auto", mem_size: int = 256 << 20,
               flags: int = 0, log_level: int = K.LOG_WARN, echo_log: bool = False,
               timeout: float | None = 60.0, stdout: int = 1, stderr: int = 2, stdin: int = 0,
               program: Program | None = None, mode: str = "auto") -> RunResult:
    t0 = time.perf_counter()
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
    files = None
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
            caps=vm.boot_caps, fault_around=vm.fault_around))
        files = HostFiles(program.root if program else "/", stdin=stdin)
        server = QcallServer(vm.memory, stdout=stdout, stderr=stderr, echo_log=echo_log, files=files)
        crash: CrashInfo | None = None
        status = EXIT_KERNEL_CRASH
        try:
            e = vm.run(_VmHandlers(server), timeout=timeout)
            regs = _regs_dict(vm)
            if isinstance(e, Shutdown):
                crash = CrashInfo("triple fault (the CPU shut down)", regs)
            elif isinstance(e, InternalError):
                detail = getattr(vm, "last_error", None) or describe(e)
                crash = CrashInfo(f"the {platform} platform stopped the VM ({detail})", regs,
                                  e.insn_bytes)
            elif isinstance(e, Hlt):
                crash = CrashInfo("the kernel halted without reporting an exit status", regs)
            else:
                crash = CrashInfo(f"unexpected VM exit: {e}", regs)
        except GuestExit as g:
            status = g.status
        except KernelPanic as p:
            from .crash import trap_frame
            regs = trap_frame(vm.memory, p.frame_gpa) if p.frame_gpa else None
            crash = CrashInfo(f"kernel panic: {p.message}", regs or _regs_dict(vm))
        except QcallFault as f:
            crash = CrashInfo(f"bad qcall: {f.reason}", _regs_dict(vm))
        except RunTimeout:
            crash = CrashInfo(f"the kernel did not finish within {timeout} s", _regs_dict(vm))
        report = None
        if crash is not None:  # capstone and pyelftools are imported only here
            from .crash import format_report
            from .symbols import KernelSymbols
            report = format_report(crash, vm.memory, BOOT_LAYOUT, KernelSymbols(image), platform)
        return RunResult(status, platform, report, server.log, time.perf_counter() - t0, dict(server.counts))
    finally:
        if server is not None:
            server.close()  # the ring's host threads, before guest memory goes
        if files is not None:
            files.close_all()
        vm.close()


def _regs_dict(vm) -> dict[str, int]:  # noqa: ANN001
    from dataclasses import asdict
    return asdict(vm.regs())
