"""Module-level variable initialisers: checked here, turned into LLVM constants by lower.py.

An initialiser is a compile-time value, recorded on the GlobalDecl as `g.qinit`, a small tree:
  ("int", v) | ("null",) | ("func", FuncDecl) | ("bytes", b) | ("list", [items]) | ("zero",)
  | ("addr", GlobalDecl, byte offset) | ("intptr", address)
  | ("struct", [item or None per field, in field order])   None: the field is zero
Struct values are written `S(v1, v2, name=v3)`: positional values fill the fields in order, keyword
values name them, fields given no value are zero (docs/kernel-python.md, "Module globals").
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


def _addr_of(env: Env, mod: ModuleInfo, arg: ast.expr, t: Type) -> tuple:
    """addr_of(g) or addr_of(g[i]) for a module-level variable g and a constant i."""
    index = None
    if isinstance(arg, ast.Subscript):
        index = env.const_eval(mod, arg.slice)
        arg = arg.value
    target = env.lookup(mod, arg) if isinstance(arg, (ast.Name, ast.Attribute)) else None
    if not isinstance(target, GlobalDecl) or (index is None and isinstance(arg, ast.Subscript)):
        raise mod.error(arg, "addr_of in an initialiser takes a module-level variable or g[constant]")
    target_t = env.resolve_type(target.module, target.node.annotation)  # type: ignore[attr-defined]
    offset = 0
    if index is not None:
        if not isinstance(target_t, ArrayType) or not 0 <= index < target_t.count:
            raise mod.error(arg, f"index {index} is not an element of {target_t}")
        target_t, offset = target_t.elem, index * target_t.elem.size
    if t != PtrType(target_t):
        raise mod.error(arg, f"addr_of gives ptr[{target_t}], expected {t}")
    return ("addr", target, offset)


def _struct_value(env: Env, mod: ModuleInfo, node: ast.Call, st: StructType) -> tuple:
    """S(positional..., name=value...): every field at most once; the others are zero."""
    names = [n for n, _ in st.fields]
    if len(node.args) > len(names):
        raise mod.error(node.args[len(names)], f"too many values for struct {st.name}: it has "
                                               f"{len(names)} field{'s' * (len(names) != 1)} ({', '.join(names)})")
    given: dict[str, ast.expr] = dict(zip(names, node.args))
    for kw in node.keywords:
        if kw.arg is None:
            raise mod.error(kw, "'**' is not supported in a struct initialiser; name the fields")
        if kw.arg not in names:
            raise mod.error(kw, f"struct {st.name} has no field '{kw.arg}' (fields: {', '.join(names)})")
        if kw.arg in given:
            raise mod.error(kw, f"field '{kw.arg}' of {st.name} is given twice")
        given[kw.arg] = kw.value
    items = []
    for fname, ftype in st.fields:
        v = given.get(fname)
        items.append(None if v is None else _value(env, mod, v, ftype))
    return ("struct", items)


def _value(env: Env, mod: ModuleInfo, node: ast.expr, t: Type) -> tuple:
    if isinstance(node, ast.Call) and isinstance(t, StructType) and isinstance(node.func, (ast.Name, ast.Attribute)):
        d = env.lookup(mod, node.func)
        if isinstance(d, StructDecl):
            if d.stype is not t:
                raise mod.error(node, f"expected a {t} value, got {d.name}(...)")
            return _struct_value(env, mod, node, t) if node.args or node.keywords else ("zero",)
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
        if isinstance(t, BoolType) and not isinstance(v, bool):
            raise mod.error(node, f"expected a bool (True or False), got {v}")
        if isinstance(t, IntType) and isinstance(v, bool):
            raise mod.error(node, f"expected a {t}, got a bool; use {t}({v})")
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
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            d = env.lookup(mod, node.func)
            if isinstance(d, DialectName) and d.original == "addr_of" and len(node.args) == 1:
                return _addr_of(env, mod, node.args[0], t)
            if isinstance(d, DialectName) and d.original == "cast" and len(node.args) == 2:
                if env.resolve_type(mod, node.args[0]) != t:
                    raise mod.error(node.args[0], f"cast to {ast.unparse(node.args[0])} initialising a {t}")
                v = env.const_eval(mod, node.args[1])
                if v is None or isinstance(v, bool) or not 0 <= v < 2**64:
                    raise mod.error(node.args[1], "a pointer constant is an integer address in [0, 2**64)")
                return ("intptr", v)
        if isinstance(node, (ast.Name, ast.Attribute)):
            d = env.lookup(mod, node)
            if isinstance(d, DialectName) and d.original == "NULL":
                return ("null",)
            if isinstance(d, GlobalDecl) and isinstance(t, PtrType):
                at = env.resolve_type(d.module, d.node.annotation)  # type: ignore[attr-defined]
                if isinstance(at, ArrayType) and at.elem == t.target:
                    return ("addr", d, 0)  # an array decays to its first element
            if isinstance(d, FuncDecl):
                ft = env.signature(d)
                if ft != t:
                    raise mod.error(node, f"'{d.name}' is a {ft}, expected {t}")
                return ("func", d)
        raise mod.error(node, f"the initial value of a {t} global must be NULL, a function, "
                              "a bytes literal, cast(T, address), an array or addr_of(global)")
    if isinstance(t, ArrayType):
        if not isinstance(node, ast.List):
            raise mod.error(node, f"initialise an {t} with a list literal [...] or {t}()")
        if len(node.elts) > t.count:
            raise mod.error(node.elts[t.count], f"too many initialisers for {t}")
        return ("list", [_value(env, mod, e, t.elem) for e in node.elts])
    if isinstance(t, StructType):
        raise mod.error(node, f"initialise a {t} with {t.name}(field values...) or {t.name}() (zero)")
    raise mod.error(node, f"cannot initialise a {t} global")
