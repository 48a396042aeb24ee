"""Declarations: what a module-level name in kernel Python denotes.

resolve.py creates these from each module's top level; check.py fills in types and constant
values; lower.py turns them into LLVM globals and functions. `symbol` is the linker-level name:
`<module>.<name>` unless the function is `@export("name")`ed.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .types import FnType, StructType, Type

if TYPE_CHECKING:
    from .resolve import ModuleInfo


@dataclass(eq=False)
class Decl:
    name: str
    module: "ModuleInfo"
    node: ast.AST


@dataclass(eq=False)
class FuncDecl(Decl):
    fntype: FnType | None = None
    symbol: str = ""
    exported: bool = False
    inline: bool = False
    noinline: bool = False
    param_names: list[str] = field(default_factory=list)


@dataclass(eq=False)
class GlobalDecl(Decl):
    type: Type | None = None
    init: ast.expr | None = None  # None: zero-initialised
    symbol: str = ""


@dataclass(eq=False)
class ConstDecl(Decl):
    """`NAME: Final = expr` (folded at compile time) and the integer/bool/bytes value it has."""

    type: Type | None = None  # an IntType, BOOL, or UNTYPED_INT
    value: int | None = None
    value_expr: ast.expr | None = None
    evaluating: bool = False


@dataclass(eq=False)
class StructDecl(Decl):
    stype: StructType | None = None


@dataclass(eq=False)
class AliasDecl(Decl):
    """`handler_t = fn[[u64], i64]`: a module-level type alias."""

    type: Type | None = None
    evaluating: bool = False


@dataclass(eq=False)
class ModuleRef(Decl):
    """A name bound to another kernel module by an import."""

    target: str = ""


@dataclass(eq=False)
class ImportedName(Decl):
    """`from qkernel.x import y`: resolved on use to the Decl named `y` in module `source`."""

    source: str = ""
    original: str = ""


@dataclass(eq=False)
class DialectName(Decl):
    """A name imported from qkernel.dialect (a type constructor, an intrinsic, NULL, Final...)."""

    original: str = ""
