"""Pass 3, check (calls): function calls, casts, zero values, len(), bool(), ord() and intrinsics.

A mixin of check.FunctionChecker; it annotates Call nodes with `qcall` (see check.py's docstring)
and uses the checker's expr/coerce/condition machinery.
"""

from __future__ import annotations

import ast

from .decls import AliasDecl, DialectName, FuncDecl, StructDecl
from .folding import char_constant
from .intrinsics import REJECTED_BUILTINS, check_intrinsic
from .types import (BOOL, INT_TYPES, U64, UNTYPED_INT, ArrayType, BoolType, FnType, IntType, NullType,
                    PtrType, Type, UntypedIntType)


class CallChecker:

    def expr_Call(self, node: ast.Call, expected: Type | None) -> Type:
        f = node.func
        if node.keywords and not (isinstance(f, (ast.Name, ast.Attribute)) and not self._is_local_chain(f)
                                  and isinstance(self.env.lookup(self.mod, f), StructDecl)):
            raise self.err(node.keywords[0], "keyword arguments are not supported in kernel Python")
        if isinstance(f, ast.Name) and f.id not in self.locals:
            if f.id == "len":
                return self.call_len(node)
            if f.id == "bool":
                if len(node.args) != 1:
                    raise self.err(node, "bool() takes one argument")
                self.condition(node.args[0])
                node.qcall = ("truth",)  # type: ignore[attr-defined]
                return BOOL
            if f.id == "ord":
                return self.call_ord(node)
            if f.id in REJECTED_BUILTINS:
                raise self.err(node, f"'{f.id}()' is not available in kernel Python"
                               + ("; log through the kernel log" if f.id == "print" else ""))
        if isinstance(f, ast.Subscript) and isinstance(f.value, ast.Name) and \
                isinstance(self.env.prog.lookup(self.mod, f.value.id), DialectName):  # array[T, N]()
            t = self.env.resolve_type(self.mod, f)
            if node.args:
                raise self.err(node, f"{t}() takes no arguments (it is the zero value)")
            node.qcall = ("zero", t)  # type: ignore[attr-defined]
            return t
        d = None
        if isinstance(f, (ast.Name, ast.Attribute)) and not self._is_local_chain(f):
            d = self.env.lookup(self.mod, f)
        if isinstance(d, DialectName):
            name = d.original
            if name in INT_TYPES:
                return self.call_cast(node, INT_TYPES[name], node.args, name)
            return check_intrinsic(self, node, name)  # the registry's check (intrinsics.py)
        if isinstance(d, StructDecl):
            if node.args or node.keywords:
                raise self.err(node, f"{d.name}(...) with field values is a global initialiser; in a "
                                     f"function, start from {d.name}() (zero) and assign the fields")
            node.qcall = ("zero", d.stype)  # type: ignore[attr-defined]
            return d.stype  # type: ignore[return-value]
        if isinstance(d, FuncDecl):
            ft = self.env.signature(d)
            f.qref, f.qt = d, ft  # type: ignore[attr-defined]
            node.qcall = ("func", d)  # type: ignore[attr-defined]
            return self.call_args(node, ft, f"'{d.name}'")
        if isinstance(d, (AliasDecl,)):
            raise self.err(node, f"'{d.name}' is a type alias; it cannot be called")
        ft = self.expr(f)
        if not isinstance(ft, FnType):
            raise self.err(f, f"'{ast.unparse(f)}' is a {ft}, not a function")
        node.qcall = ("indirect",)  # type: ignore[attr-defined]
        return self.call_args(node, ft, f"'{ast.unparse(f)}'")

    def call_args(self, node: ast.Call, ft: FnType, what: str) -> Type:
        if len(node.args) != len(ft.params):
            raise self.err(node, f"{what} takes {len(ft.params)} argument{'s' * (len(ft.params) != 1)}, "
                                 f"got {len(node.args)}")
        for i, (a, pt) in enumerate(zip(node.args, ft.params)):
            self.coerce(a, pt, f"argument {i + 1} of {what}")
        return ft.ret

    def call_cast(self, node: ast.Call, t: Type, args: list[ast.expr], what: str) -> Type:
        if len(args) != 1:
            raise self.err(node, f"{what}() takes one value")
        a = args[0]
        st = self.expr(a, t if isinstance(t, IntType) else None)
        node.qcall = ("cast", t)  # type: ignore[attr-defined]
        ok = (isinstance(t, IntType) and isinstance(st, (IntType, BoolType, PtrType, FnType, UntypedIntType))) \
            or (isinstance(t, (PtrType, FnType))
                and isinstance(st, (IntType, PtrType, FnType, UntypedIntType, NullType)))
        if isinstance(st, ArrayType) and isinstance(t, PtrType) and self.is_lvalue(a):
            ok = True
        if not ok:
            raise self.err(node, f"cannot convert {st} to {t}")
        if isinstance(st, UntypedIntType):
            v = a.qconst  # type: ignore[attr-defined]
            if isinstance(t, IntType):
                node.qconst = t.wrap(v)  # type: ignore[attr-defined]
                a.qconv = t  # type: ignore[attr-defined]
                a.qconst = t.wrap(v)  # type: ignore[attr-defined]
            else:
                a.qconv = U64  # type: ignore[attr-defined]
                a.qconst = U64.wrap(v)  # type: ignore[attr-defined]
        elif isinstance(st, IntType) and isinstance(t, IntType) and getattr(a, "qconst", None) is not None:
            node.qconst = t.wrap(a.qconst)  # type: ignore[attr-defined]
        return t

    def call_ord(self, node: ast.Call) -> Type:
        """ord(b"c"): the byte's value, an untyped constant."""
        node.qconst = char_constant(self.mod, node)  # type: ignore[attr-defined]
        return UNTYPED_INT

    def call_len(self, node: ast.Call) -> Type:
        if len(node.args) != 1:
            raise self.err(node, "len() takes one argument")
        a = node.args[0]
        if isinstance(a, ast.Constant) and isinstance(a.value, bytes):
            node.qconst = len(a.value)  # type: ignore[attr-defined]
            return UNTYPED_INT
        t = self.expr(a)
        if isinstance(t, ArrayType):
            node.qconst = t.count  # type: ignore[attr-defined]
            return UNTYPED_INT
        raise self.err(node, f"len() of a {t}: only bytes literals and arrays have a length")
