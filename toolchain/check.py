"""Pass 3, check: type-checks function bodies and global initialisers.

The checker annotates the AST in place for lower.py (one attribute per fact, all prefixed `q`):
  node.qt      Type of an expression (UNTYPED_INT for an untyped constant)
  node.qconst  folded value when the expression is a compile-time constant
  node.qconv   Type the value must be converted to where it is used (set by `coerce`)
  node.qref    for names: a Local or a module-level Decl
  node.qcall   for calls: ("func", FuncDecl) | ("indirect",) | ("intrinsic", name) | ("cast", T)
               | ("zero", T) | ("truth",)
  node.qfield  for attributes: (StructType, field index, via_pointer)
  node.qcmp    for comparisons: the operand type of each compared pair
  node.qfmt    for kfmt calls: the parsed format pieces (kfmt.py)
  fn.qlocals   for FunctionDefs: {name: Local}
  g.qinit      for initialised GlobalDecls: the constant tree (initializers.py)
A typed side table instead of attributes was considered (issue 8, part 7); every pass reads these
facts, so it is left for when the rules grow (docs/toolchain.md, "Facts on AST nodes").
Every error is a CompileError at the offending node; no construct outside the dialect passes.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass

from .decls import ConstDecl, Decl, DialectName, FuncDecl, GlobalDecl, ModuleRef, StructDecl, AliasDecl
from .check_calls import CallChecker
from .folding import byte_at, fold_binop, fold_unary, is_bytes_literal, op_symbol
from .intrinsics import INTRINSICS
from .parse import unsupported_name
from .resolve import ModuleInfo
from .typeexpr import Env
from .types import (BOOL, I64, INT_TYPES, NULL, U8, U64, UNTYPED_INT, ArrayType, BoolType,
                    FnType, IntType, NullType, PtrType, StructType, Type, UntypedIntType, VoidType,
                    is_int)


@dataclass(eq=False)
class Local:
    name: str
    type: Type
    node: ast.AST
    is_param: bool = False



class FunctionChecker(CallChecker):
    def __init__(self, env: Env, mod: ModuleInfo, decl: FuncDecl) -> None:
        self.env, self.mod, self.decl = env, mod, decl
        self.node: ast.FunctionDef = decl.node  # type: ignore[assignment]
        assert decl.fntype is not None
        self.fntype = decl.fntype
        self.locals: dict[str, Local] = {}
        self.globals_declared: set[str] = set()
        self.loop_depth = 0

    def err(self, node: ast.AST | None, msg: str) -> Exception:
        return self.mod.error(node, msg)

    # ------------------------------------------------------------------ entry

    def run(self) -> None:
        for name, t, arg in zip(self.decl.param_names, self.fntype.params, self.node.args.args):
            self.locals[name] = Local(name, t, arg, is_param=True)
        for sub in ast.walk(self.node):
            if isinstance(sub, ast.Global):
                for n in sub.names:
                    if not isinstance(self.env.prog.lookup(self.mod, n), GlobalDecl):
                        raise self.err(sub, f"'{n}' is not a module-level variable of this module")
                    self.globals_declared.add(n)
        body = self.node.body
        if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
                and isinstance(body[0].value.value, str):
            body = body[1:]
        self.block(body)
        if not isinstance(self.fntype.ret, VoidType) and not terminates(body):
            raise self.err(self.node, f"function '{self.decl.name}' can reach its end without returning "
                                      f"a {self.fntype.ret}")
        self.node.qlocals = self.locals  # type: ignore[attr-defined]

    # ------------------------------------------------------------------ statements

    def block(self, stmts: list[ast.stmt]) -> None:
        for s in stmts:
            self.stmt(s)

    def stmt(self, s: ast.stmt) -> None:
        m = getattr(self, "stmt_" + type(s).__name__, None)
        if m is None:
            raise self.err(s, f"{unsupported_name(s)} are not supported in kernel Python"
                           if type(s) is not ast.Assert else "assert is not supported")
        m(s)

    def stmt_Pass(self, s: ast.Pass) -> None:
        pass

    def stmt_Global(self, s: ast.Global) -> None:
        pass

    def stmt_Expr(self, s: ast.Expr) -> None:
        v = s.value
        if isinstance(v, ast.Constant) and isinstance(v.value, str):
            return  # a string used as a comment
        if not isinstance(v, ast.Call):
            self.expr(v)  # rejects yield, await, ... by name
            raise self.err(s, "this expression statement has no effect")
        self.expr(v)

    def stmt_Return(self, s: ast.Return) -> None:
        ret = self.fntype.ret
        if s.value is None:
            if not isinstance(ret, VoidType):
                raise self.err(s, f"'return' without a value in a function returning {ret}")
            return
        if isinstance(ret, VoidType):
            raise self.err(s.value, f"function '{self.decl.name}' returns None but this returns a value")
        self.coerce(s.value, ret, "return value")

    def stmt_If(self, s: ast.If) -> None:
        self.condition(s.test)
        self.block(s.body)
        self.block(s.orelse)

    def stmt_While(self, s: ast.While) -> None:
        if s.orelse:
            raise self.err(s.orelse[0], "while/else is not supported")
        self.condition(s.test)
        self.loop_depth += 1
        self.block(s.body)
        self.loop_depth -= 1

    def stmt_For(self, s: ast.For) -> None:
        if s.orelse:
            raise self.err(s.orelse[0], "for/else is not supported")
        it = s.iter
        if not (isinstance(it, ast.Call) and isinstance(it.func, ast.Name) and it.func.id == "range"
                and 1 <= len(it.args) <= 3 and not it.keywords):
            raise self.err(it, "for loops iterate over range(stop), range(start, stop) or "
                               "range(start, stop, step) only")
        if not isinstance(s.target, ast.Name):
            raise self.err(s.target, "the loop variable must be a plain name")
        types = [self.expr(a) for a in it.args]
        t: Type = UNTYPED_INT
        for a, at in zip(it.args, types):
            if not is_int(at):
                raise self.err(a, f"range() bounds must be integers, not {at}")
            t = self.unify(a, t, at, "range bounds")
        name = s.target.id
        if isinstance(t, UntypedIntType):
            t = self.locals[name].type if name in self.locals else I64
        if len(it.args) == 3:
            step = getattr(it.args[2], "qconst", None)
            if step is None or step == 0:
                raise self.err(it.args[2], "the range step must be a nonzero constant")
            if step < 0 and isinstance(t, IntType) and not t.signed:
                raise self.err(it.args[2], f"a negative step needs a signed loop variable, not {t}; "
                                           "convert the bounds, e.g. range(i64(n), -1, -1)")
        for a in it.args:
            self.coerce(a, t, "range bound")
        self.bind_local(s.target, t)
        it.qt = t  # type: ignore[attr-defined]
        self.loop_depth += 1
        self.block(s.body)
        self.loop_depth -= 1

    def stmt_Break(self, s: ast.Break) -> None:
        if not self.loop_depth:
            raise self.err(s, "'break' outside a loop")

    def stmt_Continue(self, s: ast.Continue) -> None:
        if not self.loop_depth:
            raise self.err(s, "'continue' outside a loop")

    def stmt_AnnAssign(self, s: ast.AnnAssign) -> None:
        if not isinstance(s.target, ast.Name):
            raise self.err(s.target, "annotated assignment declares a local variable by name")
        name = s.target.id
        t = self.env.resolve_type(self.mod, s.annotation)
        self.env._require_complete(self.mod, t, s.annotation)
        if name in self.locals and self.locals[name].type != t:
            raise self.err(s, f"'{name}' is already a {self.locals[name].type}")
        if name in self.globals_declared:
            raise self.err(s, f"'{name}' is declared global; assign it without an annotation")
        if s.value is not None:
            self.coerce(s.value, t, f"initial value of '{name}'")
        self.bind_local(s.target, t)

    def stmt_Assign(self, s: ast.Assign) -> None:
        if len(s.targets) != 1:
            raise self.err(s, "chained assignment (a = b = c) is not supported")
        target = s.targets[0]
        if isinstance(target, ast.Tuple):
            raise self.err(target, "tuple unpacking is not supported; assign one name at a time")
        if isinstance(target, ast.Name) and target.id not in self.globals_declared \
                and target.id not in self.locals:
            vt = self.expr(s.value)
            if isinstance(vt, UntypedIntType):
                vt = self.default_int(s.value)
            elif isinstance(vt, NullType):
                raise self.err(s.value, f"cannot infer the pointer type of '{target.id}'; annotate it")
            elif isinstance(vt, VoidType):
                raise self.err(s.value, "this call returns None")
            elif isinstance(vt, ArrayType) and not isinstance(s.value, ast.Call):
                raise self.err(s.value, "arrays are not copied by assignment; use memcpy or a pointer")
            d = self.env.prog.lookup(self.mod, target.id)
            if isinstance(d, GlobalDecl):
                raise self.err(target, f"assigning '{target.id}' makes it a local that hides the global; "
                                       f"write 'global {target.id}' first to assign the global")
            if d is not None and not isinstance(d, DialectName):
                raise self.err(target, f"'{target.id}' names a module-level {type(d).__name__[:-4].lower()}")
            self.coerce(s.value, vt, "value")
            self.bind_local(target, vt)
            return
        t = self.lvalue(target)
        self.coerce(s.value, t, "assigned value")

    def stmt_AugAssign(self, s: ast.AugAssign) -> None:
        t = self.lvalue(s.target)
        fake = ast.BinOp(left=s.target, op=s.op, right=s.value)
        ast.copy_location(fake, s)
        rt = self.binop_type(fake, t, self.expr(s.value, t if not isinstance(t, PtrType) else None))
        if rt != t:
            raise self.err(s, f"'{op_symbol(s.op)}=' gives a {rt}, which does not fit back in {t}")
        s.qt = t  # type: ignore[attr-defined]

    def bind_local(self, target: ast.Name, t: Type) -> None:
        name = target.id
        if name in self.globals_declared:
            g = self.env.prog.lookup(self.mod, name)
            target.qref = g  # type: ignore[attr-defined]
            return
        if name in self.locals:
            if self.locals[name].type != t:
                raise self.err(target, f"'{name}' is a {self.locals[name].type}; cannot rebind it to {t}")
        else:
            if isinstance(t, VoidType):
                raise self.err(target, "cannot store None")
            self.locals[name] = Local(name, t, target)
        target.qref = self.locals[name]  # type: ignore[attr-defined]

    # ------------------------------------------------------------------ lvalues

    def lvalue(self, node: ast.expr) -> Type:
        if isinstance(node, ast.Name):
            if node.id in self.locals and node.id not in self.globals_declared:
                node.qref = self.locals[node.id]  # type: ignore[attr-defined]
                node.qt = self.locals[node.id].type  # type: ignore[attr-defined]
                return node.qt  # type: ignore[attr-defined]
            d = self.env.prog.lookup(self.mod, node.id)
            if isinstance(d, GlobalDecl):
                if node.id not in self.globals_declared:
                    raise self.err(node, f"write 'global {node.id}' before assigning the module variable")
                node.qref, node.qt = d, d.type  # type: ignore[attr-defined]
                return d.type  # type: ignore[return-value]
            raise self.err(node, f"'{node.id}' is not assignable")
        if isinstance(node, ast.Attribute):
            d = self.env.lookup(self.mod, node)
            if isinstance(d, GlobalDecl):
                node.qref, node.qt = d, d.type  # type: ignore[attr-defined]
                return d.type  # type: ignore[return-value]
            if d is not None:
                raise self.err(node, f"'{ast.unparse(node)}' is not assignable")
        if isinstance(node, (ast.Attribute, ast.Subscript)):
            t = self.expr(node)
            if isinstance(t, ArrayType):
                raise self.err(node, "arrays are not assigned whole; assign elements or use memcpy")
            return t
        raise self.err(node, f"cannot assign to {ast.unparse(node)}")

    def is_lvalue(self, node: ast.expr) -> bool:
        if isinstance(node, ast.Name):
            return isinstance(getattr(node, "qref", None), (Local, GlobalDecl))
        if isinstance(node, ast.Attribute):
            return hasattr(node, "qfield") and (node.qfield[2] or self.is_lvalue(node.value)) \
                or isinstance(getattr(node, "qref", None), GlobalDecl)
        if isinstance(node, ast.Subscript):
            return isinstance(node.value.qt, PtrType) or self.is_lvalue(node.value)  # type: ignore[attr-defined]
        return False

    # ------------------------------------------------------------------ conversions

    def default_int(self, node: ast.expr) -> Type:
        v = node.qconst  # type: ignore[attr-defined]
        if I64.min <= v <= I64.max:
            return I64
        if 0 <= v <= U64.max:
            return U64
        raise self.err(node, f"constant {v} does not fit in 64 bits")

    def coerce(self, node: ast.expr, target: Type, what: str) -> None:
        """Checks that `node` converts implicitly to `target` and records the conversion."""
        t = self.expr(node, target)
        if t == target and not isinstance(t, UntypedIntType):
            node.qconv = target  # type: ignore[attr-defined]
            return
        if isinstance(t, UntypedIntType) and isinstance(target, IntType):
            v = node.qconst  # type: ignore[attr-defined]
            if not (target.min <= v <= target.max):
                raise self.err(node, f"constant {v} does not fit in {target}")
            node.qconv = target  # type: ignore[attr-defined]
            return
        if isinstance(t, UntypedIntType) and isinstance(target, (PtrType, FnType)) and node.qconst == 0:  # type: ignore[attr-defined]
            node.qconv = target  # type: ignore[attr-defined]
            return
        if isinstance(t, IntType) and isinstance(target, IntType) and t.signed == target.signed \
                and t.bits <= target.bits:
            node.qconv = target  # type: ignore[attr-defined]
            return
        if isinstance(t, NullType) and isinstance(target, (PtrType, FnType)):
            node.qconv = target  # type: ignore[attr-defined]
            return
        if isinstance(t, PtrType) and isinstance(target, PtrType) and \
                (target.target == U8 or isinstance(target.target, VoidType)):
            node.qconv = target  # type: ignore[attr-defined]  (any pointer is a byte pointer, as void* in C)
            return
        if isinstance(t, ArrayType) and isinstance(target, PtrType) and t.elem == target.target \
                and self.is_lvalue(node):
            node.qconv = target  # type: ignore[attr-defined]  (array decays to &a[0])
            return
        if isinstance(t, VoidType):
            raise self.err(node, f"{what}: this call returns None")
        hint = ""
        if isinstance(t, IntType) and isinstance(target, IntType):
            hint = f"; use {target}(...) to convert" + (" (narrowing)" if t.bits > target.bits else "")
        elif isinstance(target, PtrType) and isinstance(t, (PtrType, IntType)):
            hint = f"; use cast({target}, ...)"
        raise self.err(node, f"{what}: expected {target}, got {t}{hint}")

    def condition(self, node: ast.expr) -> None:
        t = self.expr(node, BOOL)
        if not isinstance(t, (BoolType, IntType, PtrType, FnType, UntypedIntType)):
            raise self.err(node, f"a {t} cannot be used as a condition")
        if isinstance(t, UntypedIntType):
            node.qconv = I64  # type: ignore[attr-defined]

    def unify(self, node: ast.AST, a: Type, b: Type, what: str) -> Type:
        """The common type of two integer operands (docs/kernel-python.md, "Arithmetic")."""
        if isinstance(a, UntypedIntType):
            return b
        if isinstance(b, UntypedIntType):
            return a
        if isinstance(a, IntType) and isinstance(b, IntType):
            if a.signed != b.signed:
                raise self.err(node, f"{what}: mixed signedness ({a} and {b}); convert one side explicitly")
            return a if a.bits >= b.bits else b
        if a == b:
            return a
        raise self.err(node, f"{what}: incompatible types {a} and {b}")

    # ------------------------------------------------------------------ expressions

    def expr(self, node: ast.expr, expected: Type | None = None) -> Type:
        if hasattr(node, "qt"):
            return node.qt  # type: ignore[attr-defined]
        m = getattr(self, "expr_" + type(node).__name__, None)
        if m is None:
            raise self.err(node, f"{unsupported_name(node)} are not supported in kernel Python")
        t = m(node, expected)
        node.qt = t  # type: ignore[attr-defined]
        return t

    def expr_Constant(self, node: ast.Constant, expected: Type | None) -> Type:
        v = node.value
        if isinstance(v, bool):
            node.qconst = int(v)  # type: ignore[attr-defined]
            return BOOL
        if isinstance(v, int):
            node.qconst = v  # type: ignore[attr-defined]
            return UNTYPED_INT
        if isinstance(v, bytes):
            return PtrType(INT_TYPES["u8"])
        if isinstance(v, float):
            raise self.err(node, "floats are not supported in kernel Python")
        if isinstance(v, str):
            raise self.err(node, "str values are not supported in kernel Python; use a bytes literal b\"...\"")
        if v is None:
            raise self.err(node, "None is not a value in kernel Python; use NULL for pointers")
        raise self.err(node, f"{type(v).__name__} constants are not supported")

    def expr_Name(self, node: ast.Name, expected: Type | None) -> Type:
        if node.id in self.locals and node.id not in self.globals_declared:
            loc = self.locals[node.id]
            node.qref = loc  # type: ignore[attr-defined]
            return loc.type
        d = self.env.prog.lookup(self.mod, node.id)
        if d is None:
            if node.id in ("True", "False"):
                return self.expr_Constant(ast.Constant(node.id == "True"), expected)
            raise self.err(node, f"name '{node.id}' is not defined")
        return self.decl_value(node, d)

    def decl_value(self, node: ast.expr, d: Decl) -> Type:
        node.qref = d  # type: ignore[attr-defined]
        if isinstance(d, GlobalDecl):
            return d.type  # type: ignore[return-value]
        if isinstance(d, ConstDecl):
            t, v = self.env.const_decl(d)
            node.qconst = int(v)  # type: ignore[attr-defined]
            return t
        if isinstance(d, FuncDecl):
            return self.env.signature(d)
        if isinstance(d, DialectName):
            if d.original == "NULL":
                return NULL
            raise self.err(node, f"'{d.original}' is not a value (call it, or use it in a type)")
        if isinstance(d, (StructDecl, AliasDecl)):
            raise self.err(node, f"'{d.name}' is a type, not a value")
        if isinstance(d, ModuleRef):
            raise self.err(node, f"module '{d.target}' is not a value")
        raise self.err(node, f"'{d.name}' is not a value")

    def expr_Attribute(self, node: ast.Attribute, expected: Type | None) -> Type:
        d = self.env.lookup(self.mod, node) if isinstance(node.value, (ast.Name, ast.Attribute)) \
            and not self._is_local_chain(node.value) else None
        if d is not None:
            return self.decl_value(node, d)
        bt = self.expr(node.value)
        via_ptr = isinstance(bt, PtrType)
        st = bt.target if isinstance(bt, PtrType) else bt
        if not isinstance(st, StructType):
            raise self.err(node, f"{bt} has no fields ('.{node.attr}')")
        i = st.field_index(node.attr)
        if i is None:
            names = ", ".join(n for n, _ in st.fields)
            raise self.err(node, f"struct '{st.name}' has no field '{node.attr}' (fields: {names})")
        node.qfield = (st, i, via_ptr)  # type: ignore[attr-defined]
        return st.fields[i][1]

    def _is_local_chain(self, node: ast.expr) -> bool:
        while isinstance(node, ast.Attribute):
            node = node.value
        return isinstance(node, ast.Name) and node.id in self.locals

    def expr_Subscript(self, node: ast.Subscript, expected: Type | None) -> Type:
        if isinstance(node.slice, ast.Slice):
            raise self.err(node, "slices are not supported in kernel Python")
        bt = self.expr(node.value)
        it = self.expr(node.slice)
        if not is_int(it):
            raise self.err(node.slice, f"index must be an integer, not {it}")
        if is_bytes_literal(node.value) and getattr(node.slice, "qconst", None) is not None:
            node.qconst = byte_at(self.mod, node, node.slice.qconst)  # type: ignore[attr-defined]
            return UNTYPED_INT  # a character constant: b"/"[0]
        if isinstance(it, UntypedIntType):
            node.slice.qconv = I64 if node.slice.qconst <= I64.max else U64  # type: ignore[attr-defined]
        else:
            node.slice.qconv = it  # type: ignore[attr-defined]
        if isinstance(bt, PtrType):
            if isinstance(bt.target, VoidType):
                raise self.err(node, "cannot index a ptr[None]; cast it to a typed pointer")
            return bt.target
        if isinstance(bt, ArrayType):
            c = getattr(node.slice, "qconst", None)
            if c is not None and not (0 <= c < bt.count):
                raise self.err(node.slice, f"index {c} is out of range for {bt}")
            if not self.is_lvalue(node.value):
                raise self.err(node, "can only index an array stored in a variable, field or pointer")
            return bt.elem
        raise self.err(node, f"a {bt} cannot be indexed")

    def expr_UnaryOp(self, node: ast.UnaryOp, expected: Type | None) -> Type:
        if isinstance(node.op, ast.Not):
            self.condition(node.operand)
            c = getattr(node.operand, "qconst", None)
            if c is not None:
                node.qconst = int(not c)  # type: ignore[attr-defined]
            return BOOL
        t = self.expr(node.operand, expected)
        if isinstance(t, UntypedIntType):
            node.qconst = fold_unary(self.mod, node, node.operand.qconst)  # type: ignore[attr-defined]
            return t
        if not isinstance(t, IntType):
            raise self.err(node, f"unary operator on a {t}")
        node.operand.qconv = t  # type: ignore[attr-defined]
        c = getattr(node.operand, "qconst", None)
        if c is not None:
            node.qconst = fold_unary(self.mod, node, c, t)  # type: ignore[attr-defined]
        return t

    def expr_BinOp(self, node: ast.BinOp, expected: Type | None) -> Type:
        if isinstance(node.op, (ast.Div, ast.Pow, ast.MatMult)):
            if isinstance(node.op, ast.Pow):
                lt, rt = self.expr(node.left), self.expr(node.right)
                if isinstance(lt, UntypedIntType) and isinstance(rt, UntypedIntType):
                    node.qconst = fold_binop(self.mod, node, node.left.qconst, node.right.qconst, None)  # type: ignore[attr-defined]
                    return UNTYPED_INT
                raise self.err(node, "'**' is only for constant expressions")
            raise self.err(node, "'/' is float division, which kernel Python does not have; use '//'"
                           if isinstance(node.op, ast.Div) else "'@' is not supported")
        hint = expected if isinstance(expected, IntType) else None
        if _shift_of_literal(node.left) and not _shift_of_literal(node.right) \
                and not isinstance(node.op, (ast.LShift, ast.RShift)):
            rt = self.expr(node.right, hint)  # `x + (1 << n)` and `(1 << n) + x` type alike
            lt = self.expr(node.left, rt if isinstance(rt, IntType) else hint)
        else:
            lt = self.expr(node.left, hint)
            rt = self.expr(node.right, None if isinstance(lt, PtrType) else (lt if isinstance(lt, IntType) else hint))
        return self.binop_type(node, lt, rt, expected)

    def binop_type(self, node: ast.BinOp, lt: Type, rt: Type, expected: Type | None = None) -> Type:
        op = node.op
        sym = op_symbol(op)
        if isinstance(lt, PtrType) or isinstance(rt, PtrType):
            if isinstance(op, ast.Add) and isinstance(lt, PtrType) and is_int(rt):
                self._index_conv(node.right, rt)
                return lt
            if isinstance(op, ast.Add) and isinstance(rt, PtrType) and is_int(lt):
                self._index_conv(node.left, lt)
                return rt
            if isinstance(op, ast.Sub) and isinstance(lt, PtrType) and is_int(rt):
                self._index_conv(node.right, rt)
                return lt
            if isinstance(op, ast.Sub) and isinstance(lt, PtrType) and lt == rt:
                return I64
            raise self.err(node, f"operator '{sym}' on {lt} and {rt}")
        if isinstance(lt, BoolType) and isinstance(rt, BoolType) \
                and isinstance(op, (ast.BitAnd, ast.BitOr, ast.BitXor)):
            return BOOL
        if not is_int(lt) or not is_int(rt):
            raise self.err(node, f"operator '{sym}' needs integers, got {lt} and {rt}")
        if isinstance(op, (ast.LShift, ast.RShift)):
            t = lt
            if isinstance(lt, UntypedIntType) and not isinstance(rt, UntypedIntType):
                t = expected if isinstance(expected, IntType) else self.default_int(node.left)
            if isinstance(rt, UntypedIntType):
                node.right.qconv = t if isinstance(t, IntType) else None  # type: ignore[attr-defined]
            else:
                node.right.qconv = rt  # type: ignore[attr-defined]
        else:
            t = self.unify(node, lt, rt, f"operator '{sym}'")
        lc, rc = getattr(node.left, "qconst", None), getattr(node.right, "qconst", None)
        if isinstance(t, UntypedIntType):
            node.qconst = fold_binop(self.mod, node, lc, rc, None)  # type: ignore[attr-defined]
            return t
        assert isinstance(t, IntType)
        for side in (node.left,) if isinstance(op, (ast.LShift, ast.RShift)) else (node.left, node.right):
            st = side.qt  # type: ignore[attr-defined]
            if isinstance(st, UntypedIntType) and not (t.min <= side.qconst <= t.max):  # type: ignore[attr-defined]
                raise self.err(side, f"constant {side.qconst} does not fit in {t}")  # type: ignore[attr-defined]
            side.qconv = t  # type: ignore[attr-defined]
        if isinstance(op, (ast.FloorDiv, ast.Mod)) and rc == 0:
            raise self.err(node.right, "division by zero")
        if lc is not None and rc is not None:
            node.qconst = fold_binop(self.mod, node, t.wrap(lc), rc, t)  # type: ignore[attr-defined]
        return t

    def _index_conv(self, node: ast.expr, t: Type) -> None:
        node.qconv = (I64 if isinstance(t, UntypedIntType) else t)  # type: ignore[attr-defined]

    def expr_BoolOp(self, node: ast.BoolOp, expected: Type | None) -> Type:
        for v in node.values:
            self.condition(v)
        return BOOL

    def expr_Compare(self, node: ast.Compare, expected: Type | None) -> Type:
        operands = [node.left] + node.comparators
        for op in node.ops:
            if isinstance(op, (ast.Is, ast.IsNot, ast.In, ast.NotIn)):
                raise self.err(node, f"'{type(op).__name__.lower()}' comparisons are not supported; use == and !=")
        types = [self.expr(o) for o in operands]
        node.qcmp = []  # type: ignore[attr-defined]  # per pair: the operand type compared
        for i, op in enumerate(node.ops):
            a, b = operands[i], operands[i + 1]
            ta, tb = types[i], types[i + 1]
            if isinstance(ta, (PtrType, FnType, NullType)) or isinstance(tb, (PtrType, FnType, NullType)):
                if not isinstance(op, (ast.Eq, ast.NotEq)) and not (isinstance(ta, PtrType) and ta == tb):
                    raise self.err(node, "pointers are compared with == and != (or < between equal pointer types)")
                pt = ta if not isinstance(ta, (NullType, UntypedIntType)) else tb
                if isinstance(pt, (NullType, UntypedIntType)):
                    raise self.err(node, "comparison of two NULLs")
                for side, st in ((a, ta), (b, tb)):
                    if isinstance(st, UntypedIntType) and side.qconst != 0:  # type: ignore[attr-defined]
                        raise self.err(side, "pointers are compared with NULL or other pointers, not integers")
                    if st != pt and not isinstance(st, (NullType, UntypedIntType)):
                        raise self.err(node, f"comparison of {ta} and {tb}")
                    side.qconv = pt  # type: ignore[attr-defined]
                node.qcmp.append(pt)  # type: ignore[attr-defined]
                continue
            if isinstance(ta, BoolType) and isinstance(tb, BoolType):
                a.qconv = b.qconv = BOOL  # type: ignore[attr-defined]
                node.qcmp.append(BOOL)  # type: ignore[attr-defined]
                continue
            if not is_int(ta) or not is_int(tb):
                raise self.err(node, f"cannot compare {ta} and {tb}")
            t = self.unify(node, ta, tb, "comparison")
            if isinstance(t, UntypedIntType):
                t = self.default_int(a) if abs(a.qconst) >= abs(b.qconst) else self.default_int(b)  # type: ignore[attr-defined]
            for side, st in ((a, ta), (b, tb)):
                if isinstance(st, UntypedIntType) and not (t.min <= side.qconst <= t.max):  # type: ignore[attr-defined]
                    raise self.err(side, f"constant {side.qconst} does not fit in {t} (comparison is always "
                                         f"{'false' if isinstance(op, ast.Eq) else 'decided'})")  # type: ignore[attr-defined]
                side.qconv = t  # type: ignore[attr-defined]
            node.qcmp.append(t)  # type: ignore[attr-defined]
        return BOOL

    def expr_IfExp(self, node: ast.IfExp, expected: Type | None) -> Type:
        self.condition(node.test)
        a = self.expr(node.body, expected)
        b = self.expr(node.orelse, expected)
        if isinstance(a, NullType):
            t = b
        elif isinstance(b, NullType):
            t = a
        elif is_int(a) and is_int(b):
            t = self.unify(node, a, b, "conditional expression")
        elif a == b:
            t = a
        else:
            raise self.err(node, f"the two branches have different types: {a} and {b}")
        if isinstance(t, UntypedIntType):
            t = expected if isinstance(expected, IntType) else I64
        self.coerce(node.body, t, "conditional branch")
        self.coerce(node.orelse, t, "conditional branch")
        return t


def _shift_of_literal(node: ast.expr) -> bool:
    """`1 << n`: its type comes from context, so the other operand is typed first."""
    return isinstance(node, ast.BinOp) and isinstance(node.op, (ast.LShift, ast.RShift)) \
        and isinstance(node.left, ast.Constant)


def terminates(stmts: list[ast.stmt]) -> bool:
    """True when control cannot fall off the end of `stmts`."""
    if not stmts:
        return False
    last = stmts[-1]
    if isinstance(last, ast.Return):
        return True
    if isinstance(last, ast.If):
        return terminates(last.body) and terminates(last.orelse)
    if isinstance(last, ast.While):
        infinite = (getattr(last.test, "qconst", None) or 0) != 0
        return infinite and not any(isinstance(n, ast.Break) for n in _loop_body_nodes(last.body))
    if isinstance(last, ast.Expr) and isinstance(last.value, ast.Call):
        kind = getattr(last.value, "qcall", None)
        return kind is not None and kind[0] == "intrinsic" and INTRINSICS[kind[1]].noreturn
    return False


def _loop_body_nodes(body: list[ast.stmt]):  # noqa: ANN202
    """Nodes of a loop body, not descending into nested loops (their breaks are their own)."""
    stack = list(body)
    while stack:
        n = stack.pop()
        yield n
        for c in ast.iter_child_nodes(n):
            if not isinstance(c, (ast.While, ast.For)):
                stack.append(c)


def check_program(env: Env) -> None:
    """Declares everything, then checks every function body and global initialiser."""
    env.declare_all()
    from .initializers import check_global_init
    symbols: dict[str, FuncDecl] = {}
    for mod in env.prog.modules.values():
        for fd in mod.functions():
            if fd.module is mod:
                other = symbols.get(fd.symbol)
                if other is not None:
                    raise mod.error(fd.node, f"symbol '{fd.symbol}' is already defined by "
                                             f"{other.module.name}.{other.name} ({other.module.src.path}:"
                                             f"{other.node.lineno})")  # type: ignore[attr-defined]
                symbols[fd.symbol] = fd
    for mod in env.prog.modules.values():
        for g in mod.globals():
            if g.module is mod and g.init is not None:
                check_global_init(env, mod, g)
        for fd in mod.functions():
            if fd.module is mod:
                FunctionChecker(env, mod, fd).run()
