"""Module-level meaning: annotations to Types, struct layouts, aliases, Final constants, signatures.

`Env` wraps a Program and answers, for any module, what a type expression denotes
(`resolve_type`), what a constant expression folds to (`const_eval`), and fills the
declarations' types (`declare_all`). check.py uses it for function bodies.
"""

from __future__ import annotations

import ast

from .decls import (AliasDecl, ConstDecl, Decl, DialectName, FuncDecl, GlobalDecl, ModuleRef,
                    StructDecl)
from .resolve import ModuleInfo, Program
from .types import (BOOL, INT_TYPES, UNTYPED_INT, VOID, ArrayType, BoolType, FnType, IntType,
                    PtrType, StructType, Type, VoidType)


class Env:
    def __init__(self, prog: Program) -> None:
        self.prog = prog

    # ---- names

    def lookup(self, mod: ModuleInfo, node: ast.expr) -> Decl | None:
        """The module-level Decl that a Name or `module.attr` Attribute denotes, or None."""
        if isinstance(node, ast.Name):
            return self.prog.lookup(mod, node.id)
        if isinstance(node, ast.Attribute) and isinstance(node.value, (ast.Name, ast.Attribute)):
            base = self.lookup(mod, node.value)
            if isinstance(base, ModuleRef):
                target = self.prog.modules[base.target]
                d = self.prog.lookup(target, node.attr)
                if d is None:
                    raise mod.error(node, f"module '{target.name}' has no name '{node.attr}'")
                return d
        return None

    # ---- types

    def resolve_type(self, mod: ModuleInfo, node: ast.expr | None, *, allow_void: bool = False) -> Type:
        if node is None:
            raise mod.error(node, "a type annotation is required here")
        if isinstance(node, ast.Constant):
            if node.value is None:
                if allow_void:
                    return VOID
                raise mod.error(node, "None is only a return type")
            if isinstance(node.value, str):  # forward reference "Node"
                try:
                    inner = ast.parse(node.value, mode="eval").body
                except SyntaxError:
                    raise mod.error(node, f"bad type in string annotation: {node.value!r}") from None
                ast.copy_location(inner, node)
                for sub in ast.walk(inner):
                    ast.copy_location(sub, node)
                return self.resolve_type(mod, inner, allow_void=allow_void)
        if isinstance(node, ast.Name) and node.id == "bool" and self.prog.lookup(mod, "bool") is None:
            return BOOL
        if isinstance(node, ast.Name) and node.id == "int" and self.prog.lookup(mod, "int") is None:
            raise mod.error(node, "'int' has no width in kernel Python; use u64, i64, u32, ...")
        if isinstance(node, ast.Subscript):
            head = self.lookup(mod, node.value)
            kind = head.original if isinstance(head, DialectName) else None
            args = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
            if kind == "ptr":
                if len(args) != 1:
                    raise mod.error(node, "ptr takes one type: ptr[T]")
                return PtrType(self.resolve_type(mod, args[0], allow_void=True)
                               if not _is_none(args[0]) else VOID)
            if kind == "array":
                if len(args) != 2:
                    raise mod.error(node, "array takes a type and a length: array[T, N]")
                elem = self.resolve_type(mod, args[0])
                n = self.const_int(mod, args[1])
                if n <= 0:
                    raise mod.error(args[1], f"array length must be positive, not {n}")
                self._require_complete(mod, elem, args[0])
                return ArrayType(elem, n)
            if kind == "fn":
                if len(args) != 2 or not isinstance(args[0], ast.List):
                    raise mod.error(node, "function pointer types are written fn[[T1, T2], R]")
                params = tuple(self.resolve_type(mod, a) for a in args[0].elts)
                return FnType(params, self.resolve_type(mod, args[1], allow_void=True))
            if kind == "Final":
                raise mod.error(node, "Final is only for module-level constants")
            if head is None and isinstance(node.value, ast.Name) and node.value.id in ("ptr", "array", "fn"):
                raise mod.error(node.value, f"'{node.value.id}' is not imported; add it to "
                                            "'from qkernel.dialect import ...'")
            raise mod.error(node, f"'{ast.unparse(node.value)}' is not a generic type (ptr, array, fn)")
        if isinstance(node, (ast.Name, ast.Attribute)):
            d = self.lookup(mod, node)
            if isinstance(d, DialectName) and d.original in INT_TYPES:
                return INT_TYPES[d.original]
            if isinstance(d, StructDecl):
                assert d.stype is not None
                return d.stype
            if isinstance(d, AliasDecl):
                return self.alias_type(d)
            if d is None:
                name = ast.unparse(node)
                if name in INT_TYPES:
                    raise mod.error(node, f"'{name}' is not imported; add it to 'from qkernel.dialect import ...'")
                raise mod.error(node, f"unknown type '{name}'")
            raise mod.error(node, f"'{ast.unparse(node)}' is not a type")
        raise mod.error(node, f"'{ast.unparse(node)}' is not a type")

    def _require_complete(self, mod: ModuleInfo, t: Type, node: ast.AST) -> None:
        if isinstance(t, StructType) and not t.complete:
            self.struct_layout(t, node, mod)
        if isinstance(t, VoidType):
            raise mod.error(node, "None has no size")

    def alias_type(self, d: AliasDecl) -> Type:
        if d.type is None:
            if d.evaluating:
                raise d.module.error(d.node, f"type alias '{d.name}' refers to itself")
            d.evaluating = True
            value = d.node.value  # type: ignore[attr-defined]
            if not isinstance(value, (ast.Name, ast.Attribute, ast.Subscript)) or \
                    (isinstance(value, ast.Constant) and not isinstance(value.value, str)):
                raise d.module.error(d.node, f"module-level '{d.name} = ...' must be a type alias; write a "
                                             f"constant as '{d.name}: Final = ...' and a variable with its "
                                             f"type, e.g. '{d.name}: u64 = ...'")
            d.type = self.resolve_type(d.module, value)
            d.evaluating = False
        return d.type

    def struct_layout(self, st: StructType, use: ast.AST | None = None, use_mod: ModuleInfo | None = None) -> None:
        """Fills st.fields and offsets from its class body (once). Nested structs by value must be
        complete first; a struct containing itself by value is an error."""
        if st.complete:
            return
        modname, name = st.qualname.rsplit(".", 1)
        mod = self.prog.modules[modname]
        decl = mod.decls[name]
        assert isinstance(decl, StructDecl)
        if getattr(decl, "_laying_out", False):
            raise mod.error(decl.node, f"struct '{name}' contains itself by value; use ptr[{name}]")
        decl._laying_out = True  # type: ignore[attr-defined]
        fields: list[tuple[str, Type]] = []
        for stmt in decl.node.body:  # type: ignore[attr-defined]
            if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name):
                ft = self.resolve_type(mod, stmt.annotation)
                if isinstance(ft, StructType):
                    self.struct_layout(ft, stmt, mod)
                if any(n == stmt.target.id for n, _ in fields):
                    raise mod.error(stmt, f"duplicate field '{stmt.target.id}'")
                fields.append((stmt.target.id, ft))
        if not fields:
            raise mod.error(decl.node, f"struct '{name}' has no fields")
        st.fields = fields
        st.finish()
        decl._laying_out = False  # type: ignore[attr-defined]

    # ---- constants

    def const_int(self, mod: ModuleInfo, node: ast.expr) -> int:
        v = self.const_eval(mod, node)
        if v is None or isinstance(v, bool):
            raise mod.error(node, "expected a constant integer expression")
        return v

    def const_eval(self, mod: ModuleInfo, node: ast.expr) -> int | None:
        """The value of a compile-time integer (or bool) expression, or None if it is not one.
        Untyped arithmetic is exact (Python ints); C division rules apply to // and %."""
        from .folding import byte_at, char_constant, fold_binop, fold_unary, is_bytes_literal
        from .intrinsics import INTRINSICS
        if isinstance(node, ast.Constant):
            if isinstance(node.value, bool):
                return node.value
            if isinstance(node.value, int):
                return node.value
            return None
        if isinstance(node, (ast.Name, ast.Attribute)):
            d = self.lookup(mod, node)
            if isinstance(d, ConstDecl):
                return self.const_decl(d)[1]
            if isinstance(d, DialectName) and d.original == "NULL":
                return None
            return None
        if isinstance(node, ast.UnaryOp):
            v = self.const_eval(mod, node.operand)
            return None if v is None else fold_unary(mod, node, v)
        if isinstance(node, ast.BinOp):
            a = self.const_eval(mod, node.left)
            b = self.const_eval(mod, node.right)
            if a is None or b is None:
                return None
            return fold_binop(mod, node, a, b, None)
        if isinstance(node, ast.Subscript) and is_bytes_literal(node.value):
            i = self.const_eval(mod, node.slice)
            return None if i is None else byte_at(mod, node, i)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            d = self.lookup(mod, node.func)
            if d is None and node.func.id == "ord":
                return char_constant(mod, node)
            entry = INTRINSICS.get(d.original) if isinstance(d, DialectName) else None
            if entry is not None and entry.fold is not None:
                return entry.fold(self, mod, node)
            if isinstance(d, DialectName) and d.original in INT_TYPES and len(node.args) == 1:
                v = self.const_eval(mod, node.args[0])
                return None if v is None else INT_TYPES[d.original].wrap(int(v))
        return None

    def const_decl(self, d: ConstDecl) -> tuple[Type, int]:
        """(type, value) of a Final constant: `X: Final = 5` is untyped, `X: Final[u32] = 5` is u32."""
        if d.value is None:
            if d.evaluating:
                raise d.module.error(d.node, f"constant '{d.name}' is defined in terms of itself")
            d.evaluating = True
            mod = d.module
            assert d.value_expr is not None
            v = self.const_eval(mod, d.value_expr)
            if v is None:
                raise mod.error(d.value_expr, f"the value of Final constant '{d.name}' is not a "
                                              "compile-time integer expression")
            ann = d.node.annotation  # type: ignore[attr-defined]
            t: Type = BOOL if isinstance(v, bool) else UNTYPED_INT
            if isinstance(ann, ast.Subscript):
                t = self.resolve_type(mod, ann.slice)
                if isinstance(t, IntType) and not (t.min <= v <= t.max):
                    raise mod.error(d.value_expr, f"constant {v} does not fit in {t}")
                if not isinstance(t, (IntType, BoolType)):
                    raise mod.error(ann, "Final constants are integers or bools")
            d.type, d.value = t, v
            d.evaluating = False
        assert d.type is not None
        return d.type, d.value

    def sizeof(self, mod: ModuleInfo, node: ast.expr) -> int:
        t = self.resolve_type(mod, node)
        self._require_complete(mod, t, node)
        return t.size

    def offsetof(self, mod: ModuleInfo, call: ast.Call) -> int:
        t = self.resolve_type(mod, call.args[0])
        fld = call.args[1]
        if not isinstance(t, StructType) or not (isinstance(fld, ast.Constant) and isinstance(fld.value, str)):
            raise mod.error(call, "offsetof takes a struct type and a field name string: offsetof(T, \"field\")")
        self._require_complete(mod, t, call)
        if fld.value not in t.offsets:
            raise mod.error(fld, f"struct '{t.name}' has no field '{fld.value}'")
        return t.offsets[fld.value]

    # ---- declarations

    def declare_all(self) -> None:
        """Lays out structs and computes every function signature, global type and constant."""
        for mod in list(self.prog.modules.values()):
            for d in list(mod.decls.values()):
                if d.module is not mod:
                    continue
                if isinstance(d, StructDecl):
                    assert d.stype is not None
                    self.struct_layout(d.stype)
                elif isinstance(d, AliasDecl):
                    self.alias_type(d)
                elif isinstance(d, ConstDecl):
                    self.const_decl(d)
                elif isinstance(d, GlobalDecl):
                    d.type = self.resolve_type(mod, d.node.annotation)  # type: ignore[attr-defined]
                    self._require_complete(mod, d.type, d.node)
                elif isinstance(d, FuncDecl):
                    self.signature(d)

    def signature(self, d: FuncDecl) -> FnType:
        if d.fntype is None:
            mod, node = d.module, d.node
            assert isinstance(node, ast.FunctionDef)
            a = node.args
            if a.vararg or a.kwarg or a.kwonlyargs or a.defaults or a.posonlyargs or a.kw_defaults:
                raise mod.error(node, "kernel functions take plain positional parameters "
                                      "(no defaults, *args, **kwargs or keyword-only parameters)")
            params = []
            for arg in a.args:
                if arg.annotation is None:
                    raise mod.error(arg, f"parameter '{arg.arg}' needs a type annotation")
                t = self.resolve_type(mod, arg.annotation)
                if not isinstance(t, (IntType, BoolType, PtrType, FnType)):
                    raise mod.error(arg, f"parameter '{arg.arg}' has type {t}: pass structs and arrays by pointer")
                params.append(t)
                d.param_names.append(arg.arg)
            ret = VOID if node.returns is None else self.resolve_type(mod, node.returns, allow_void=True)
            if not isinstance(ret, (IntType, BoolType, PtrType, FnType, VoidType)):
                raise mod.error(node.returns, f"functions return scalars, not {ret}")
            d.fntype = FnType(tuple(params), ret)
        return d.fntype


def _is_none(node: ast.expr) -> bool:
    return isinstance(node, ast.Constant) and node.value is None


__all__ = ["Env"]
