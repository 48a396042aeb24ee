"""`qvisor`: the host command line.

  qvisor boot [--platform auto|pvm|kvm|emu] [--memory SIZE] [--kernel PATH] [--fault KIND] [-v]
      boots kernel.elf, runs the kernel's self-test, prints the banner, exits 0 (or 70 with a
      crash report on stderr when the kernel crashes).

  qvisor run [--root DIR] [--mount HOST:GUEST[:ro|rw]]... [options] -- PROGRAM [ARGS...]
      runs a static Linux x86-64 program in the sandbox; the root is read-only, each --mount
      binds a host directory at GUEST (read-only unless :rw).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from qkernel import abi as K

EXIT_USAGE = 2
MEMORY_HELP = "guest RAM, the sandbox's memory limit (default: 1G or the host's RAM if less; mapped on demand)"


def parse_size(text: str) -> int:
    units = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30}
    t = text.strip().lower().rstrip("ib")
    mult = units.get(t[-1:], 1)
    num = t[:-1] if t[-1:] in units else t
    try:
        value = int(num) * mult
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (e.g. 256M, 1G)") from None
    if value < 32 << 20 or value > 64 << 30 or value % (2 << 20):
        raise argparse.ArgumentTypeError(f"memory must be a multiple of 2 MiB between 32 MiB and 64 GiB, not {text}")
    return value


def cmd_boot(args: argparse.Namespace) -> int:
    from .abi import FAULT_FLAGS
    from .platform.select import detect
    from .vmm import run_kernel
    platform = args.platform
    if platform == "auto":
        platform, why = detect()
        if platform == "emu" or args.verbose:
            print(f"qvisor: platform {platform}: {why}", file=sys.stderr)
    flags = K.BOOT_SELFTEST | (FAULT_FLAGS[args.fault] if args.fault else 0)
    try:
        res = run_kernel(Path(args.kernel), platform=platform, mem_size=args.memory, flags=flags,
                         log_level=K.LOG_DEBUG if args.verbose else K.LOG_WARN,
                         echo_log=args.verbose, timeout=args.timeout, stop_signals=True, **_stdio_args())
    except FileNotFoundError as e:
        print(f"qvisor: {e}", file=sys.stderr)
        return EXIT_USAGE
    if res.crash:
        print(res.crash, file=sys.stderr)
    if res.note:
        print(res.note, file=sys.stderr)
    if args.verbose:
        print(f"qvisor: {res.platform}: exit status {res.status} after {res.seconds * 1000:.1f} ms",
              file=sys.stderr)
    return res.status


def parse_mount(spec: str) -> tuple[str, str, bool]:
    """`HOST:GUEST[:ro|rw]` -> (absolute host directory, normalised guest path, rw); ValueError
    with the reason (a host path with ":" cannot be given)."""
    from .fs import normalise_guest_path
    parts = spec.split(":")
    if len(parts) == 3 and parts[2] in ("ro", "rw"):
        host, guest, rw = parts[0], parts[1], parts[2] == "rw"
    elif len(parts) == 2:
        host, guest, rw = parts[0], parts[1], False
    else:
        raise ValueError(f"--mount wants HOST:GUEST[:ro|rw], got {spec!r}")
    if not host:
        raise ValueError(f"--mount {spec!r}: no host directory")
    if not os.path.isdir(host):
        raise ValueError(f"--mount {spec!r}: host {host} is not a directory")
    return os.path.abspath(host), normalise_guest_path(guest), rw


def cmd_run(args: argparse.Namespace) -> int:
    from .fs import HostFilesError
    from .vmm import Program, run_kernel
    if not args.command:
        print("qvisor run: missing PROGRAM (usage: qvisor run [options] -- PROGRAM [ARGS...])",
              file=sys.stderr)
        return EXIT_USAGE
    root = os.path.abspath(args.root)
    if not os.path.isdir(root):
        print(f"qvisor run: root {args.root} is not a directory", file=sys.stderr)
        return EXIT_USAGE
    mounts = []
    for spec in args.mount:
        try:
            mounts.append(parse_mount(spec))
        except ValueError as e:
            print(f"qvisor run: {e}", file=sys.stderr)
            return EXIT_USAGE
    if len({g for _, g, _ in mounts}) < len(mounts):
        print("qvisor run: two --mount options name the same guest path", file=sys.stderr)
        return EXIT_USAGE
    env = [] if args.clear_env else [f"{k}={v}" for k, v in os.environ.items()]
    for kv in args.env:
        if "=" not in kv:
            print(f"qvisor run: --env wants K=V, got {kv!r}", file=sys.stderr)
            return EXIT_USAGE
        key = kv.split("=", 1)[0]
        env = [e for e in env if e.split("=", 1)[0] != key] + [kv]
    program, *rest = args.command
    # the kernel finds a bare name along the environment's PATH and a relative one from the
    # working directory, in the guest (qkernel/exec.py), as a shell and execve would
    exe = program
    cwd = os.getcwd()
    if not os.path.isdir(os.path.join(root, cwd.lstrip("/"))):
        cwd = "/"
    flags = K.BOOT_STRACE if args.strace else 0
    try:
        res = run_kernel(Path(args.kernel), platform=args.platform, mem_size=args.memory, flags=flags,
                         log_level=K.LOG_DEBUG if args.verbose else K.LOG_WARN, echo_log=args.verbose,
                         timeout=args.timeout, program=Program(exe, [program, *rest], env, cwd, root, mounts),
                         mode=args.mode, stop_signals=True, **_stdio_args())
    except FileNotFoundError as e:
        print(f"qvisor: {e}", file=sys.stderr)
        return EXIT_USAGE
    except HostFilesError as e:   # a tree that cannot be served confined
        print(f"qvisor run: {e}", file=sys.stderr)
        return EXIT_USAGE
    except ValueError as e:  # argument block too large, NUL in an argument
        print(f"qvisor run: {e}", file=sys.stderr)
        return EXIT_USAGE
    if res.crash:
        print(res.crash, file=sys.stderr)
    if res.note:
        print(res.note, file=sys.stderr)
    return res.status


CLOSED_STDIO: frozenset[int] = frozenset()  # of 0, 1, 2: closed when qvisor started


def reserve_stdio() -> frozenset[int]:
    """Opens /dev/null onto each of fds 0-2 that is closed, so that qvisor's own files
    (/dev/kvm, the sandbox root, ...) never take those numbers; returns the closed ones, which
    the guest sees closed (-EBADF). Also gives Python a sys.stdin/stdout/stderr for them."""
    closed = []
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
        except OSError:
            closed.append(fd)
            nul = os.open(os.devnull, os.O_RDWR)   # the lowest free number: fd itself
            if nul != fd:
                os.dup2(nul, fd)
                os.close(nul)
            os.set_inheritable(fd, True)
    for fd, name, mode in ((0, "stdin", "r"), (1, "stdout", "w"), (2, "stderr", "w")):
        if getattr(sys, name) is None:
            setattr(sys, name, open(fd, mode, closefd=False))
    return frozenset(closed)


STDIN_FD = 0  # the host descriptor that is the sandbox's stdin


def _handed_stdin() -> int:
    """The sandbox's stdin: fd 0, or the descriptor the `qvisor` shim handed over in
    QVISOR_STDIN_FD (fd 0 was a directory, which CPython cannot start with). The variable is
    removed so that the guest's environment does not see it."""
    text = os.environ.pop("QVISOR_STDIN_FD", None)
    if text is None:
        return 0
    try:
        fd = int(text)
        os.fstat(fd)
    except (ValueError, OSError):
        return 0
    if fd <= 2:
        return fd
    os.set_inheritable(fd, False)
    return fd


def _stdio_args() -> dict[str, int | None]:
    """run_kernel's stdin/stdout/stderr: None for a descriptor closed at start."""
    return {"stdin": None if 0 in CLOSED_STDIO and STDIN_FD == 0 else STDIN_FD,
            "stdout": None if 1 in CLOSED_STDIO else 1, "stderr": None if 2 in CLOSED_STDIO else 2}


def main(argv: list[str] | None = None) -> int:
    """The CLI. Stop signals (SIGINT, SIGTERM, SIGHUP) end it with 128 + N and no traceback,
    whenever they come (qvisor/signals.py). Closed fds 0-2 are reserved first (reserve_stdio)."""
    global CLOSED_STDIO, STDIN_FD
    CLOSED_STDIO = reserve_stdio()
    STDIN_FD = _handed_stdin()
    from .signals import SandboxStopped, install_quiet_handlers
    install_quiet_handlers()
    try:
        return _main(argv)
    except SandboxStopped as s:
        return s.status


def _main(argv: list[str] | None) -> int:
    from .vmm import DEFAULT_KERNEL
    p = argparse.ArgumentParser(prog="qvisor", description="pyquark's host: runs the guest kernel")
    sub = p.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("boot", help="boot the kernel, run its self-test, print the banner")
    b.add_argument("--platform", default="auto", choices=["auto", "pvm", "kvm", "emu"])
    b.add_argument("--memory", type=parse_size, default=None, help=MEMORY_HELP)
    b.add_argument("--kernel", default=str(DEFAULT_KERNEL))
    b.add_argument("--fault", choices=["ud", "pf", "de", "panic", "int3", "triple"],
                   help="make the kernel fault on purpose (crash-report tests)")
    b.add_argument("--timeout", type=float, default=60.0, help="seconds before a hung kernel is stopped")
    b.add_argument("-v", "--verbose", action="store_true", help="kernel log to stderr, timings")
    b.set_defaults(func=cmd_boot)
    r = sub.add_parser("run", help="run a static Linux x86-64 program in the sandbox")
    r.add_argument("--platform", default="auto", choices=["auto", "pvm", "kvm", "emu"])
    r.add_argument("--root", default="/", help="host directory the sandbox sees as / (read-only)")
    r.add_argument("--mount", action="append", default=[], metavar="HOST:GUEST[:ro|rw]",
                   help="bind a host directory at GUEST in the sandbox (repeatable; read-only unless :rw)")
    r.add_argument("--memory", type=parse_size, default=None, help=MEMORY_HELP)
    r.add_argument("--env", action="append", default=[], metavar="K=V", help="set an environment variable")
    r.add_argument("--clear-env", action="store_true", help="start from an empty environment")
    r.add_argument("--strace", action="store_true", help="print each system call to stderr")
    r.add_argument("--mode", default="auto", choices=["auto", "split", "flat"],
                   help="privilege mode (docs/platforms.md): flat runs the kernel's syscall path at CPL 3 (pvm)")
    r.add_argument("--kernel", default=str(DEFAULT_KERNEL))
    r.add_argument("--timeout", type=float, default=None, help="seconds before the sandbox is stopped")
    r.add_argument("-v", "--verbose", action="store_true")
    r.add_argument("command", nargs=argparse.REMAINDER, help="-- PROGRAM [ARGS...]")
    r.set_defaults(func=cmd_run)
    args = p.parse_args(argv)
    if getattr(args, "command", None) and args.command[0] == "--":
        args.command = args.command[1:]
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
