"""`qkc`: the kernel-Python compiler's command line.

  qkc build [-o build/kernel.elf] [FILE.py ...]   the kernel (qkernel/ + boot/), or given files
  qkc run FILE.py FUNCTION [INT ...]              compile, call FUNCTION under unicorn, print result
  qkc ir FILE.py [--unoptimized]                  LLVM IR
  qkc asm FILE.py [FUNCTION]                      capstone disassembly of the linked code
  qkc check FILE.py ...                           type check only

User errors print `file:line:col: error: message` with the source line and a caret and exit 1.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .diagnostics import CompileError


def _parse_int(text: str) -> int:
    try:
        return int(text, 0)
    except ValueError:
        raise SystemExit(f"qkc: error: argument {text!r} is not an integer") from None


def _files(paths: list[str]) -> list[Path]:
    out = []
    for p in paths:
        path = Path(p)
        if not path.is_file():
            raise CompileError(f"no such file: {p}")
        out.append(path)
    return out


def cmd_build(args: argparse.Namespace) -> int:
    from .driver import build_files, build_kernel
    out = Path(args.output)
    if args.files:
        image = build_files(_files(args.files))
        image.write(out)
        print(f"qkc: wrote {out} ({len(image.elf)} bytes, {len(image.symbols)} symbols)")
        return 0
    stats = build_kernel(out)
    if stats.skipped:
        print(f"qkc: {out} is up to date ({stats.seconds * 1000:.0f} ms)")
    else:
        print(f"qkc: wrote {out}: {stats.modules} modules ({stats.compiled} compiled, "
              f"{stats.cached} cached) in {stats.seconds:.2f} s")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from .driver import build_files
    from .emucall import EmuError, Machine
    path = _files([args.file])[0]
    image = build_files([path])
    from .driver import Sources, frontend
    prog, _ = frontend(Sources.for_files([path]))
    decl = find_function(prog, path.stem, args.function)
    func, fname, fntype = decl.symbol, decl.name, decl.fntype
    ints = [_parse_int(a) for a in args.args]
    if len(ints) != len(fntype.params):
        raise CompileError(f"'{fname}' takes {len(fntype.params)} arguments, got {len(ints)}")
    try:
        machine = Machine(image.elf)
        result = machine.call(func, *[v & (2**64 - 1) for v in ints])
    except EmuError as e:
        print(f"qkc: {fname} faulted: {e}", file=sys.stderr)
        return 2
    ret = fntype.ret
    bits = getattr(ret, "bits", 64)
    result &= (1 << bits) - 1 if bits else 0
    if getattr(ret, "signed", False) and result >> (bits - 1):
        result -= 1 << bits
    if str(ret) == "bool":
        result &= 1
    if str(ret) != "None":
        print(result)
    return 0


def find_function(prog, module: str, name: str):  # noqa: ANN001, ANN201
    """The FuncDecl `name` names: `f` in the file's module, `mod.f`, or an @export symbol."""
    from .decls import FuncDecl
    modname, _, fname = name.rpartition(".")
    mod = prog.modules.get(modname or module)
    decl = mod.decls.get(fname) if mod is not None else None
    if isinstance(decl, FuncDecl) and decl.module is mod:
        return decl
    for m in prog.modules.values():
        for fd in m.functions():
            if fd.exported and fd.symbol == name:
                return fd
    raise CompileError(f"no function '{name}' in module '{modname or module}' (nor an @export of that name)")


def cmd_ir(args: argparse.Namespace) -> int:
    from .driver import module_ir
    irs = module_ir(_files([args.file]), optimized=not args.unoptimized)
    name = Path(args.file).stem
    print(irs[name] if name in irs else "\n".join(irs.values()))
    return 0


def cmd_asm(args: argparse.Namespace) -> int:
    import capstone
    from .driver import build_files
    path = _files([args.file])[0]
    image = build_files([path])
    md = capstone.Cs(capstone.CS_ARCH_X86, capstone.CS_MODE_64)
    from elftools.elf.elffile import ELFFile
    import io
    elf = ELFFile(io.BytesIO(image.elf))
    segs = [(s["p_vaddr"], s.data()) for s in elf.iter_segments() if s["p_type"] == "PT_LOAD"]
    prefix = f"{path.stem}."
    if args.function:
        from .driver import Sources, frontend
        prog, _ = frontend(Sources.for_files([path]))
        symbol = find_function(prog, path.stem, args.function).symbol
        wanted = [s for s in image.symbols.values() if s.name == symbol]
    else:
        wanted = [s for s in sorted(image.symbols.values(), key=lambda s: s.addr)
                  if s.kind == "func" and s.name.startswith(prefix)]
    if not wanted:
        raise CompileError(f"no function {args.function or '*'} in {path}")
    for sym in wanted:
        print(f"{sym.addr:#x} <{sym.name}>:")
        for vaddr, data in segs:
            if vaddr <= sym.addr < vaddr + len(data):
                code = data[sym.addr - vaddr: sym.addr - vaddr + sym.size]
                for insn in md.disasm(code, sym.addr):
                    print(f"  {insn.address:#x}:  {insn.mnemonic:8s} {insn.op_str}")
        print()
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    from .driver import Sources, frontend
    frontend(Sources.for_files(_files(args.files)))
    print(f"qkc: {len(args.files)} file(s) OK")
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="qkc", description="the kernel-Python compiler")
    sub = p.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build", help="build kernel.elf (or link the given files)")
    b.add_argument("-o", "--output", default="build/kernel.elf")
    b.add_argument("files", nargs="*")
    b.set_defaults(func=cmd_build)
    r = sub.add_parser("run", help="compile FILE and call FUNCTION under unicorn")
    r.add_argument("file")
    r.add_argument("function")
    r.add_argument("args", nargs="*")
    r.set_defaults(func=cmd_run)
    i = sub.add_parser("ir", help="print LLVM IR")
    i.add_argument("file")
    i.add_argument("--unoptimized", action="store_true")
    i.set_defaults(func=cmd_ir)
    a = sub.add_parser("asm", help="disassemble compiled functions")
    a.add_argument("file")
    a.add_argument("function", nargs="?")
    a.set_defaults(func=cmd_asm)
    c = sub.add_parser("check", help="type check only")
    c.add_argument("files", nargs="+")
    c.set_defaults(func=cmd_check)
    args = p.parse_args(argv)
    try:
        return args.func(args)
    except CompileError as e:
        print(e.format(), file=sys.stderr)
        return 1
    except Exception as e:  # a LinkError names the objects, symbols and relocations involved
        if type(e).__name__ != "LinkError":
            raise
        print(f"qkc: link error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
