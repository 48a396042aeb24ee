"""`qvisor`: the host command line.

  qvisor boot [--platform auto|pvm|kvm|emu] [--memory 256M] [--kernel PATH] [--fault KIND] [-v]
      boots kernel.elf, runs the kernel's self-test, prints the banner, exits 0 (or 70 with a
      crash report on stderr when the kernel crashes).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from qkernel import abi as K

EXIT_USAGE = 2


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
                         echo_log=args.verbose, timeout=args.timeout)
    except FileNotFoundError as e:
        print(f"qvisor: {e}", file=sys.stderr)
        return EXIT_USAGE
    if res.crash:
        print(res.crash, file=sys.stderr)
    if args.verbose:
        print(f"qvisor: {res.platform}: exit status {res.status} after {res.seconds * 1000:.1f} ms",
              file=sys.stderr)
    return res.status


def main(argv: list[str] | None = None) -> int:
    from .vmm import DEFAULT_KERNEL
    p = argparse.ArgumentParser(prog="qvisor", description="pyquark's host: runs the guest kernel")
    sub = p.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("boot", help="boot the kernel, run its self-test, print the banner")
    b.add_argument("--platform", default="auto", choices=["auto", "pvm", "kvm", "emu"])
    b.add_argument("--memory", type=parse_size, default=256 << 20, help="guest RAM (default 256M)")
    b.add_argument("--kernel", default=str(DEFAULT_KERNEL))
    b.add_argument("--fault", choices=["ud", "pf", "de", "panic", "int3", "triple"],
                   help="make the kernel fault on purpose (crash-report tests)")
    b.add_argument("--timeout", type=float, default=60.0, help="seconds before a hung kernel is stopped")
    b.add_argument("-v", "--verbose", action="store_true", help="kernel log to stderr, timings")
    b.set_defaults(func=cmd_boot)
    args = p.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
