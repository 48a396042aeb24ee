"""Pass 5, optimise: LLVM's standard -O2 module pipeline over one parsed LLVM module."""

from __future__ import annotations

import llvmlite.binding as llvm

from .target import target_machine


def parse_ir(text: str, name: str) -> llvm.ModuleRef:
    try:
        mod = llvm.parse_assembly(text)
        mod.verify()
    except RuntimeError as e:  # a compiler bug: the lowering produced invalid IR
        raise RuntimeError(f"internal compiler error: invalid LLVM IR for {name}: {e}") from None
    mod.name = name
    return mod


def optimize(mod: llvm.ModuleRef, level: int = 2) -> llvm.ModuleRef:
    tm = target_machine()
    pto = llvm.create_pipeline_tuning_options(speed_level=level)
    pto.loop_vectorization = False  # no vector registers in kernel code
    pto.slp_vectorization = False
    pb = llvm.create_pass_builder(tm, pto)
    mpm = pb.getModulePassManager()
    mpm.run(mod, pb)
    return mod
