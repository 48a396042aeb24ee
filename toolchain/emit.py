"""Pass 6, emit: an optimised LLVM module to an ELF64 relocatable object (and assembly text)."""

from __future__ import annotations

import llvmlite.binding as llvm

from .target import target_machine


def emit_object(mod: llvm.ModuleRef) -> bytes:
    return target_machine().emit_object(mod)


def emit_assembly(mod: llvm.ModuleRef) -> str:
    return target_machine().emit_assembly(mod)
