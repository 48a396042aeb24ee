"""Module-level variable initialisers: checked here, turned into LLVM constants by lower.py.

An initialiser is a compile-time value, recorded on the GlobalDecl as `g.qinit`, a small tree:
  ("int", v) | ("null",) | ("func", FuncDecl) | ("bytes", b) | ("list", [items]) | ("zero",)
  | ("addr", GlobalDecl)
"""

from __future__ import annotations

import ast

from .decls import DialectName, FuncDecl, GlobalDecl, StructDecl
from .resolve import ModuleInfo
from .typeexpr import Env
from .types import U8, ArrayType, BoolType, FnType, IntType, PtrType, StructType, Type


def check_global_init(env: Env, mod: ModuleInfo, g: GlobalDecl) -> None:
    assert g.type is not None and g.init is not None
    g.qinit = _value(env, mod, g.init, g.type)  # type: ignore[attr-defined]


def _value(env: Env, mod: ModuleInfo, node: ast.expr, t: Type) -> tuple:
    if isinstance(node, ast.Call) and not node.args:
        f = node.func
        if isinstance(f, ast.Subscript) and env.resolve_type(mod, f) == t:
            return ("zero",)
        if isinstance(f, (ast.Name, ast.Attribute)):
            d = env.lookup(mod, f)
            if isinstance(d, StructDecl) and d.stype is t:
                return ("zero",)
    if isinstance(t, (IntType, BoolType)):
        v = env.const_eval(mod, node)
        if v is None:
            raise mod.error(node, f"the initial value of a {t} global must be a constant expression")
        if isinstance(t, IntType) and not (t.min <= v <= t.max):
            raise mod.error(node, f"constant {v} does not fit in {t}")
        return ("int", int(v))
    if isinstance(t, (PtrType, FnType)):
        if isinstance(node, ast.Constant) and node.value == 0 and not isinstance(node.value, bool):
            return ("null",)
        if isinstance(node, ast.Constant) and isinstance(node.value, bytes):
            if t != PtrType(U8):
                raise mod.error(node, f"a bytes literal is a ptr[u8], not a {t}")
            return ("bytes", node.value)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and len(node.args) == 1:
            d = env.lookup(mod, node.func)
            if isinstance(d, DialectName) and d.original == "addr_of":
                target = env.lookup(mod, node.args[0]) if isinstance(node.args[0], (ast.Name, ast.Attribute)) else None
                if not isinstance(target, GlobalDecl):
                    raise mod.error(node, "addr_of in an initialiser takes a module-level variable")
                target_t = env.resolve_type(target.module, target.node.annotation)  # type: ignore[attr-defined]
                if t != PtrType(target_t):
                    raise mod.error(node, f"addr_of gives ptr[{target_t}], expected {t}")
                return ("addr", target)
        if isinstance(node, (ast.Name, ast.Attribute)):
            d = env.lookup(mod, node)
            if isinstance(d, DialectName) and d.original == "NULL":
                return ("null",)
            if isinstance(d, FuncDecl):
                ft = env.signature(d)
                if ft != t:
                    raise mod.error(node, f"'{d.name}' is a {ft}, expected {t}")
                return ("func", d)
        raise mod.error(node, f"the initial value of a {t} global must be NULL, a function, "
                              "a bytes literal or addr_of(global)")
    if isinstance(t, ArrayType):
        if not isinstance(node, ast.List):
            raise mod.error(node, f"initialise an {t} with a list literal [...] or {t}()")
        if len(node.elts) > t.count:
            raise mod.error(node.elts[t.count], f"too many initialisers for {t}")
        return ("list", [_value(env, mod, e, t.elem) for e in node.elts])
    if isinstance(t, StructType):
        raise mod.error(node, f"a {t} global is initialised with {t.name}() (zero) or left uninitialised")
    raise mod.error(node, f"cannot initialise a {t} global")
