"""Host-native execution of compiled kernel Python through LLVM's MCJIT (benchmarks, quick tests).

The same optimised IR that goes into kernel.elf is JIT-compiled for the host process, so
generated-code quality can be measured beside gcc -O2 natively. Functions that use hardware
intrinsics (port I/O, MSRs, hlt) must not be called here: they run in ring 3 of the host process.
"""

from __future__ import annotations

import ctypes
from pathlib import Path

import llvmlite.binding as llvm

from .driver import Sources, frontend, lower_program
from .optimize import optimize, parse_ir
from .target import init_llvm
from .types import BoolType, FnType, IntType, PtrType, Type, VoidType


def _ctype(t: Type):  # noqa: ANN202
    if isinstance(t, IntType):
        return {(8, False): ctypes.c_uint8, (16, False): ctypes.c_uint16, (32, False): ctypes.c_uint32,
                (64, False): ctypes.c_uint64, (8, True): ctypes.c_int8, (16, True): ctypes.c_int16,
                (32, True): ctypes.c_int32, (64, True): ctypes.c_int64}[(t.bits, t.signed)]
    if isinstance(t, BoolType):
        return ctypes.c_bool
    if isinstance(t, (PtrType, FnType)):
        return ctypes.c_void_p
    if isinstance(t, VoidType):
        return None
    raise TypeError(f"cannot call a function taking {t} from the host")


class Jit:
    """Compiles kernel-Python files into this process; `function(symbol)` gives a ctypes callable."""

    def __init__(self, paths: list[Path], opt: int = 2) -> None:
        init_llvm()
        prog, env = frontend(Sources.for_files([Path(p) for p in paths]))
        self.prog = prog
        triple = llvm.get_process_triple()
        linked = None
        for name, text in lower_program(prog, env).items():
            text = text.replace('target triple = "x86_64-unknown-none-elf"', f'target triple = "{triple}"')
            mod = parse_ir(text, name)
            if linked is None:
                linked = mod
            else:
                linked.link_in(mod)
        assert linked is not None
        target = llvm.Target.from_triple(triple)
        self.tm = target.create_target_machine(opt=opt, reloc="default", codemodel="jitdefault")
        linked.triple = triple
        linked.data_layout = str(self.tm.target_data)
        optimize(linked, opt)
        self.module = linked
        self.engine = llvm.create_mcjit_compiler(linked, self.tm)
        self.engine.finalize_object()

    def function(self, symbol: str):  # noqa: ANN201
        modname, _, fname = symbol.rpartition(".")
        decl = self.prog.modules[modname].decls[fname] if modname in self.prog.modules else None
        addr = self.engine.get_function_address(symbol)
        if not addr:
            raise KeyError(f"no compiled function {symbol!r}")
        if decl is None or getattr(decl, "fntype", None) is None:
            raise KeyError(f"{symbol!r} is not a kernel-Python function")
        ft = decl.fntype
        proto = ctypes.CFUNCTYPE(_ctype(ft.ret), *[_ctype(p) for p in ft.params])
        return proto(addr)
