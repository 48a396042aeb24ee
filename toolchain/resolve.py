"""Pass 2, resolve: modules, imports and module-level names.

`Program` finds kernel-Python modules on its search path, parses them (parse.py), and collects each
module's top-level declarations into `ModuleInfo.decls` (decls.py). Imports are followed
recursively: kernel Python may import only other kernel modules, `qkernel.dialect`,
`typing.Final` and `from __future__ import annotations`. Bodies are not looked at here; check.py
does that.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from pathlib import Path

from .decls import (AliasDecl, ConstDecl, Decl, DialectName, FuncDecl, GlobalDecl, ImportedName,
                    ModuleRef, StructDecl)
from .diagnostics import CompileError, SourceFile
from .intrinsics import DIALECT_NAMES, INTRINSICS
from .parse import UNSUPPORTED, parse_file, unsupported_name
from .types import StructType

DIALECT = "qkernel.dialect"
# DIALECT_NAMES (what a module may import from qkernel.dialect) is derived from the intrinsic
# registry in intrinsics.py, together with the types, type forms and decorators listed there.


@dataclass(eq=False)
class ModuleInfo:
    name: str
    src: SourceFile
    tree: ast.Module
    decls: dict[str, Decl] = field(default_factory=dict)
    imports: list[str] = field(default_factory=list)  # kernel modules this one imports

    def error(self, node: ast.AST | None, message: str) -> CompileError:
        return self.src.error(node, message)

    def functions(self) -> list[FuncDecl]:
        return [d for d in self.decls.values() if isinstance(d, FuncDecl)]

    def globals(self) -> list[GlobalDecl]:
        return [d for d in self.decls.values() if isinstance(d, GlobalDecl)]


class Program:
    """All modules of one compilation, keyed by dotted name."""

    def __init__(self, search_paths: list[Path]) -> None:
        self.search_paths = [Path(p) for p in search_paths]
        self.modules: dict[str, ModuleInfo] = {}

    # ---- finding and loading modules

    def find(self, modname: str) -> Path | None:
        rel = Path(*modname.split("."))
        for base in self.search_paths:
            for cand in (base / rel.with_suffix(".py"), base / rel / "__init__.py"):
                if cand.is_file():
                    return cand
        return None

    def load(self, modname: str, node: ast.AST | None = None,
             importer: ModuleInfo | None = None) -> ModuleInfo:
        if modname in self.modules:
            return self.modules[modname]
        path = self.find(modname)
        if path is None:
            msg = f"no kernel module named '{modname}' (searched {', '.join(map(str, self.search_paths))})"
            raise importer.error(node, msg) if importer else CompileError(msg)
        return self.load_file(path, modname)

    def load_file(self, path: Path, modname: str) -> ModuleInfo:
        src, tree = parse_file(path)
        mod = ModuleInfo(modname, src, tree)
        self.modules[modname] = mod
        collect_decls(self, mod)
        return mod

    # ---- name lookup across modules

    def lookup(self, mod: ModuleInfo, name: str) -> Decl | None:
        """The declaration `name` denotes at module level in `mod`, following from-imports."""
        seen = 0
        decl = mod.decls.get(name)
        while isinstance(decl, ImportedName):
            seen += 1
            src = self.modules[decl.source]
            target = src.decls.get(decl.original)
            if target is None or seen > 32:
                raise decl.module.error(decl.node, f"module '{decl.source}' has no name '{decl.original}'")
            decl = target
        return decl


def collect_decls(prog: Program, mod: ModuleInfo) -> None:
    body = mod.tree.body
    for i, stmt in enumerate(body):
        if i == 0 and _is_docstring(stmt):
            continue
        if isinstance(stmt, ast.ImportFrom):
            _import_from(prog, mod, stmt)
        elif isinstance(stmt, ast.Import):
            _import(prog, mod, stmt)
        elif isinstance(stmt, ast.FunctionDef):
            _define(mod, stmt.name, _function(mod, stmt), stmt)
        elif isinstance(stmt, ast.ClassDef):
            _define(mod, stmt.name, _struct(mod, stmt), stmt)
        elif isinstance(stmt, ast.AnnAssign):
            _ann_assign(mod, stmt)
        elif isinstance(stmt, ast.Assign):
            if len(stmt.targets) != 1 or not isinstance(stmt.targets[0], ast.Name):
                raise mod.error(stmt, "module-level assignment must bind one name")
            name = stmt.targets[0].id
            _define(mod, name, AliasDecl(name, mod, stmt), stmt)
        elif _is_docstring(stmt) or isinstance(stmt, ast.Pass):
            continue
        else:
            what = unsupported_name(stmt)
            raise mod.error(stmt, f"{what} are not supported in kernel Python" if type(stmt) in UNSUPPORTED
                            else f"{what} statements are not allowed at module level in kernel Python")


def _is_docstring(stmt: ast.stmt) -> bool:
    return isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant) and isinstance(stmt.value.value, str)


def _define(mod: ModuleInfo, name: str, decl: Decl, node: ast.AST) -> None:
    if name in mod.decls and not isinstance(mod.decls[name], DialectName):
        raise mod.error(node, f"'{name}' is already defined in this module")
    mod.decls[name] = decl


def _import_from(prog: Program, mod: ModuleInfo, stmt: ast.ImportFrom) -> None:
    if stmt.level:
        raise mod.error(stmt, "relative imports are not supported; import 'qkernel.<module>' by its full name")
    source = stmt.module or ""
    if source == "__future__":
        return
    for alias in stmt.names:
        if alias.name == "*":
            raise mod.error(stmt, "'import *' is not supported; name what you import")
        local = alias.asname or alias.name
        if source == DIALECT:
            if alias.name not in DIALECT_NAMES:
                raise mod.error(stmt, f"qkernel.dialect has no name '{alias.name}'")
            _define(mod, local, DialectName(local, mod, stmt, original=alias.name), stmt)
            entry = INTRINSICS.get(alias.name)
            for needed in entry.needs if entry else ():  # kernel modules its lowering calls
                if prog.find(needed) is None:
                    raise mod.error(stmt, f"'{alias.name}' needs the kernel module '{needed}', "
                                          "which is not on the search path")
                mod.imports.append(prog.load(needed, stmt, mod).name)
        elif source == "typing":
            if alias.name != "Final":
                raise mod.error(stmt, f"typing.{alias.name} is not part of kernel Python (only Final)")
            _define(mod, local, DialectName(local, mod, stmt, original=alias.name), stmt)
        else:
            sub = f"{source}.{alias.name}"
            if prog.find(sub) is not None:
                target = prog.load(sub, stmt, mod)
                mod.imports.append(target.name)
                _define(mod, local, ModuleRef(local, mod, stmt, target=target.name), stmt)
            else:
                _check_kernel_module(prog, mod, stmt, source)
                target = prog.load(source, stmt, mod)
                mod.imports.append(target.name)
                _define(mod, local, ImportedName(local, mod, stmt, source=target.name, original=alias.name), stmt)


def _import(prog: Program, mod: ModuleInfo, stmt: ast.Import) -> None:
    for alias in stmt.names:
        if alias.name == DIALECT:
            raise mod.error(stmt, "import names from the dialect: 'from qkernel.dialect import u64, ...'")
        _check_kernel_module(prog, mod, stmt, alias.name)
        if alias.asname is None and "." in alias.name:
            raise mod.error(stmt, f"write 'import {alias.name} as {alias.name.rsplit('.', 1)[-1]}' "
                                  "(dotted module paths are not expressions in kernel Python)")
        target = prog.load(alias.name, stmt, mod)
        mod.imports.append(target.name)
        local = alias.asname or alias.name
        _define(mod, local, ModuleRef(local, mod, stmt, target=target.name), stmt)


def _check_kernel_module(prog: Program, mod: ModuleInfo, stmt: ast.AST, name: str) -> None:
    if prog.find(name) is None:
        top = name.split(".")[0]
        if top in ("os", "sys", "ctypes", "subprocess", "socket", "threading", "typing", "qvisor",
                   "toolchain", "struct", "math", "time"):
            raise mod.error(stmt, f"kernel Python cannot import host module '{name}': "
                                  "only qkernel.* modules and qkernel.dialect")
        raise mod.error(stmt, f"no kernel module named '{name}'")


def _decorator_name(d: ast.expr) -> str:
    f = d.func if isinstance(d, ast.Call) else d
    return f.id if isinstance(f, ast.Name) else ast.unparse(f)


def _function(mod: ModuleInfo, node: ast.FunctionDef) -> FuncDecl:
    decl = FuncDecl(node.name, mod, node, symbol=f"{mod.name}.{node.name}")
    for d in node.decorator_list:
        name = _decorator_name(d)
        if name == "export":
            if not (isinstance(d, ast.Call) and len(d.args) == 1 and isinstance(d.args[0], ast.Constant)
                    and isinstance(d.args[0].value, str)):
                raise mod.error(d, "use @export(\"symbol_name\")")
            decl.symbol, decl.exported = d.args[0].value, True
        elif name == "inline":
            decl.inline = True
        elif name == "noinline":
            decl.noinline = True
        else:
            raise mod.error(d, f"unsupported decorator '@{name}' (kernel Python knows @export, @inline, @noinline)")
    return decl


def _struct(mod: ModuleInfo, node: ast.ClassDef) -> StructDecl:
    packed = False
    is_struct = False
    for d in node.decorator_list:
        if _decorator_name(d) != "struct":
            raise mod.error(d, f"unsupported class decorator '@{_decorator_name(d)}'")
        is_struct = True
        if isinstance(d, ast.Call):
            for kw in d.keywords:
                if kw.arg != "packed" or not isinstance(kw.value, ast.Constant):
                    raise mod.error(kw, "@struct takes only packed=True")
                packed = bool(kw.value.value)
    if not is_struct:
        raise mod.error(node, "classes are not supported in kernel Python; "
                              "a C-layout record is a class decorated with @struct")
    if node.bases or node.keywords:
        raise mod.error(node, "struct classes cannot inherit")
    for i, stmt in enumerate(node.body):
        if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name):
            if stmt.value is not None:
                raise mod.error(stmt.value, "struct fields cannot have default values (structs are zero-initialised)")
        elif isinstance(stmt, ast.FunctionDef):
            raise mod.error(stmt, "classes with methods are not supported; "
                                  "write module-level functions that take ptr[Struct]")
        elif not (_is_docstring(stmt) or isinstance(stmt, ast.Pass)):
            raise mod.error(stmt, f"{unsupported_name(stmt)} is not allowed in a struct body "
                                  "(only 'name: type' fields)")
    return StructDecl(node.name, mod, node, stype=StructType(f"{mod.name}.{node.name}", packed=packed))


def _ann_assign(mod: ModuleInfo, stmt: ast.AnnAssign) -> None:
    if not isinstance(stmt.target, ast.Name):
        raise mod.error(stmt, "module-level annotated assignment must bind one name")
    name = stmt.target.id
    ann = stmt.annotation
    is_final = (isinstance(ann, ast.Name) and ann.id == "Final") or (
        isinstance(ann, ast.Subscript) and isinstance(ann.value, ast.Name) and ann.value.id == "Final")
    if is_final:
        if stmt.value is None:
            raise mod.error(stmt, f"Final constant '{name}' needs a value")
        _define(mod, name, ConstDecl(name, mod, stmt, value_expr=stmt.value), stmt)
    else:
        _define(mod, name, GlobalDecl(name, mod, stmt, init=stmt.value, symbol=f"{mod.name}.{name}"), stmt)
