"""The freestanding x86-64 target: triple, CPU features and the LLVM target machine.

Facts measured with llvmlite 0.50 (LLVM 22): the kernel target is x86_64-unknown-none-elf with
SSE/MMX/AVX off and soft-float (the kernel never touches FPU state), position-independent code
(the kernel is linked in the higher half, outside the top 2 GiB), small code model.
"""

from __future__ import annotations

import functools

import llvmlite.binding as llvm

TRIPLE = "x86_64-unknown-none-elf"
CPU = "x86-64"
FEATURES = "-sse,-sse2,-sse3,-ssse3,-sse4.1,-sse4.2,-avx,-avx2,-mmx,-x87,+soft-float"
HOST_FEATURES = ""  # the JIT used by benchmarks runs in the host process: its normal features


@functools.cache
def init_llvm() -> None:
    llvm.initialize_native_target()
    llvm.initialize_native_asmprinter()
    llvm.initialize_native_asmparser()  # needed before any module asm (boot/)


@functools.cache
def target_machine(opt: int = 2) -> llvm.TargetMachine:
    init_llvm()
    target = llvm.Target.from_triple(TRIPLE)
    return target.create_target_machine(cpu=CPU, features=FEATURES, opt=opt, reloc="pic",
                                        codemodel="small")


def datalayout() -> str:
    return str(target_machine().target_data)
