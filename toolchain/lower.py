"""Pass 4, lower: checked kernel-Python modules to LLVM IR (one llvmlite module per source module).

Contracts: every local lives in an entry-block alloca, zero-initialised (mem2reg promotes it);
bools are i1 in registers and i8 in memory; other modules' functions and globals are declared
external under their link symbols; `finalize_ir` adds what llvmlite cannot say itself (dso_local
on every symbol, so no GOT/PLT relocations appear; "no-builtins" so loops never become libc calls;
frame pointers kept for crash-report backtraces).
"""

from __future__ import annotations

import ast
import re

import llvmlite.ir as ir

from .check import Local
from .decls import ConstDecl, FuncDecl, GlobalDecl
from .folding import op_symbol
from .intrinsics import lower_intrinsic
from .resolve import ModuleInfo
from .typeexpr import Env
from .types import (I64, PTR, ArrayType, BoolType, FnType, IntType, NullType, PtrType,
                    StructType, Type, UntypedIntType, VoidType)

I1 = ir.IntType(1)
I8 = ir.IntType(8)
I64_IR = ir.IntType(64)


class ModuleLowerer:
    def __init__(self, env: Env, mod: ModuleInfo, triple: str, datalayout: str) -> None:
        self.env, self.mod = env, mod
        self.ir = ir.Module(name=mod.name)
        self.ir.triple = triple
        self.ir.data_layout = datalayout
        self.functions: dict[str, ir.Function] = {}
        self.globals: dict[str, ir.GlobalVariable] = {}
        self.bytes_consts: dict[bytes, ir.GlobalVariable] = {}

    # ---- symbols

    def func_ref(self, d: FuncDecl) -> ir.Function:
        fn = self.functions.get(d.symbol)
        if fn is None:
            ft = self.env.signature(d)
            fn = ir.Function(self.ir, ft.llvm_fn(), name=d.symbol)
            self.functions[d.symbol] = fn
        return fn

    def runtime_function(self, name: str, ret: ir.Type, args: list[ir.Type]) -> ir.Function:
        fn = self.functions.get(name)
        if fn is None:
            fn = ir.Function(self.ir, ir.FunctionType(ret, args), name=name)
            self.functions[name] = fn
        return fn

    def global_ref(self, g: GlobalDecl) -> ir.GlobalVariable:
        gv = self.globals.get(g.symbol)
        if gv is None:
            assert g.type is not None
            gv = ir.GlobalVariable(self.ir, g.type.mem, name=g.symbol)
            gv.align = g.type.align
            gv.type = PTR
            if g.module is not self.mod:
                gv.linkage = "external"
            self.globals[g.symbol] = gv
        return gv

    def bytes_const(self, data: bytes) -> ir.GlobalVariable:
        gv = self.bytes_consts.get(data)
        if gv is None:
            blob = bytearray(data + b"\0")
            t = ir.ArrayType(I8, len(blob))
            gv = ir.GlobalVariable(self.ir, t, name=f".bytes.{len(self.bytes_consts)}")
            gv.global_constant = True
            gv.linkage = "private"
            gv.unnamed_addr = True
            gv.initializer = ir.Constant(t, blob)
            gv.type = PTR
            self.bytes_consts[data] = gv
        return gv

    # ---- module

    def lower(self) -> ir.Module:
        for g in self.mod.globals():
            if g.module is self.mod:
                gv = self.global_ref(g)
                init = getattr(g, "qinit", None)
                gv.initializer = self.const_init(init, g.type) if init else ir.Constant(g.type.mem, None)
        for d in self.mod.functions():
            if d.module is self.mod:
                FunctionLowerer(self, d).lower()
        return self.ir

    def const_init(self, init: tuple, t: Type) -> ir.Constant:
        kind = init[0]
        if kind == "zero" or kind == "null":
            return ir.Constant(t.mem, None)
        if kind == "int":
            v = init[1]
            return ir.Constant(t.mem, (v & ((1 << t.mem.width) - 1)) if isinstance(t, IntType) else int(bool(v)))
        if kind == "func":
            return self.func_ref(init[1])
        if kind == "bytes":
            return self.bytes_const(init[1])
        if kind == "addr":
            gv = self.global_ref(init[1])
            if init[2] == 0:
                return gv
            return ir.FormattedConstant(PTR, f"getelementptr inbounds (i8, ptr {gv.get_reference()}, "
                                             f"i64 {init[2]})")
        if kind == "intptr":
            return ir.FormattedConstant(PTR, f"inttoptr (i64 {init[1]} to ptr)") if init[1] else \
                ir.Constant(PTR, None)
        if kind == "struct":
            assert isinstance(t, StructType)
            return ir.Constant(t.mem, [ir.Constant(ft.mem, None) if item is None else self.const_init(item, ft)
                                       for item, (_, ft) in zip(init[1], t.fields)])
        if kind == "list":
            assert isinstance(t, ArrayType)
            items = [self.const_init(i, t.elem) for i in init[1]]
            items += [ir.Constant(t.elem.mem, None)] * (t.count - len(items))
            return ir.Constant(t.mem, items)
        raise AssertionError(kind)


class FunctionLowerer:
    def __init__(self, ml: ModuleLowerer, d: FuncDecl) -> None:
        self.ml, self.decl = ml, d
        self.node: ast.FunctionDef = d.node  # type: ignore[assignment]
        self.fn = ml.func_ref(d)
        self.ret_type: Type = d.fntype.ret  # type: ignore[union-attr]
        self.slots: dict[int, ir.AllocaInstr] = {}
        self.loops: list[tuple[ir.Block, ir.Block]] = []  # (continue target, break target)
        entry = self.fn.append_basic_block("entry")
        self.b = ir.IRBuilder(entry)

    def runtime_function(self, name: str, ret: ir.Type, args: list[ir.Type]) -> ir.Function:
        return self.ml.runtime_function(name, ret, args)

    def lower(self) -> None:
        d = self.decl
        attrs = self.fn.attributes
        attrs.add("noredzone")
        attrs.add("nounwind")
        if d.inline:
            attrs.add("alwaysinline")
        if d.noinline:
            attrs.add("noinline")
        qlocals: dict[str, Local] = self.node.qlocals  # type: ignore[attr-defined]
        params = {n: a for n, a in zip(d.param_names, self.fn.args)}
        for name, loc in qlocals.items():
            slot = self.b.alloca(loc.type.mem, name=name)
            slot.type = PTR  # opaque: llvmlite would otherwise check typed-pointer stores
            slot.align = max(loc.type.align, 1)
            self.slots[id(loc)] = slot
            if loc.is_param:
                params[name].name = name + ".arg"
                self.store(params[name], slot, loc.type)
            else:
                self.b.store(ir.Constant(loc.type.mem, None), slot)
        self.block(self.node.body)
        if not self.b.block.is_terminated:
            if isinstance(self.ret_type, VoidType):
                self.b.ret_void()
            else:
                self.b.unreachable()  # check.py proved the end unreachable

    def start_dead_block(self) -> None:
        self.b.position_at_end(self.fn.append_basic_block("dead"))

    # ------------------------------------------------------------------ memory

    def load(self, addr: ir.Value, t: Type, align: int | None = None) -> ir.Value:
        v = self.b.load(addr, typ=t.mem)
        v.align = align or (t.align if not isinstance(t, (StructType, ArrayType)) else None)
        return self.b.trunc(v, I1) if isinstance(t, BoolType) else v

    def store(self, v: ir.Value, addr: ir.Value, t: Type, align: int | None = None) -> None:
        if isinstance(t, BoolType):
            v = self.b.zext(v, I8)
        st = self.b.store(v, addr)
        st.align = align

    @staticmethod
    def access_align(node: ast.expr) -> int | None:
        """1 for a field (or an element of an array field) of a packed struct, else None
        (the type's natural alignment)."""
        while isinstance(node, (ast.Attribute, ast.Subscript)):
            f = getattr(node, "qfield", None)
            if f is not None and f[0].packed:
                return 1
            if isinstance(node, ast.Subscript) and isinstance(getattr(node.value, "qt", None), ArrayType):
                node = node.value
                continue
            if isinstance(node, ast.Attribute) and f is not None and not f[2]:
                node = node.value  # a field of a struct held by value: its container decides too
                continue
            break
        return None

    # ------------------------------------------------------------------ statements

    def block(self, stmts: list[ast.stmt]) -> None:
        for s in stmts:
            if self.b.block.is_terminated:
                self.start_dead_block()
            getattr(self, "stmt_" + type(s).__name__)(s)

    def stmt_Pass(self, s: ast.stmt) -> None:
        pass

    stmt_Global = stmt_Pass

    def stmt_Expr(self, s: ast.Expr) -> None:
        if isinstance(s.value, ast.Call):
            self.raw_value(s.value)

    def stmt_Return(self, s: ast.Return) -> None:
        if s.value is None:
            self.b.ret_void()
        else:
            self.b.ret(self.value(s.value))

    def stmt_AnnAssign(self, s: ast.AnnAssign) -> None:
        if s.value is not None:
            self.assign(s.target, s.value)

    def stmt_Assign(self, s: ast.Assign) -> None:
        self.assign(s.targets[0], s.value)

    def assign(self, target: ast.expr, value: ast.expr) -> None:
        v = self.value(value)
        self.store(v, self.address(target), target.qt if hasattr(target, "qt") else value.qconv,  # type: ignore[attr-defined]
                   self.access_align(target))

    def stmt_AugAssign(self, s: ast.AugAssign) -> None:
        t: Type = s.qt  # type: ignore[attr-defined]
        addr = self.address(s.target)
        align = self.access_align(s.target)
        cur = self.load(addr, t, align)
        rhs = self.value(s.value)
        self.store(self.arith(s, s.op, cur, rhs, t, s.value), addr, t, align)

    def stmt_If(self, s: ast.If) -> None:
        then_bb = self.fn.append_basic_block("if.then")
        else_bb = self.fn.append_basic_block("if.else") if s.orelse else None
        end_bb = self.fn.append_basic_block("if.end")
        self.b.cbranch(self.truth(s.test), then_bb, else_bb or end_bb)
        self.b.position_at_end(then_bb)
        self.block(s.body)
        if not self.b.block.is_terminated:
            self.b.branch(end_bb)
        if else_bb is not None:
            self.b.position_at_end(else_bb)
            self.block(s.orelse)
            if not self.b.block.is_terminated:
                self.b.branch(end_bb)
        self.b.position_at_end(end_bb)

    def stmt_While(self, s: ast.While) -> None:
        cond_bb = self.fn.append_basic_block("while.cond")
        body_bb = self.fn.append_basic_block("while.body")
        end_bb = self.fn.append_basic_block("while.end")
        self.b.branch(cond_bb)
        self.b.position_at_end(cond_bb)
        self.b.cbranch(self.truth(s.test), body_bb, end_bb)
        self.b.position_at_end(body_bb)
        self.loops.append((cond_bb, end_bb))
        self.block(s.body)
        self.loops.pop()
        if not self.b.block.is_terminated:
            self.b.branch(cond_bb)
        self.b.position_at_end(end_bb)

    def stmt_For(self, s: ast.For) -> None:
        it: ast.Call = s.iter  # type: ignore[assignment]
        t: IntType = it.qt  # type: ignore[attr-defined]
        args = it.args
        start = self.value(args[0]) if len(args) > 1 else ir.Constant(t.llvm, 0)
        stop = self.value(args[1] if len(args) > 1 else args[0])
        step_v = args[2].qconst if len(args) == 3 else 1  # type: ignore[attr-defined]
        var = self.address(s.target)
        self.store(start, var, t)
        cond_bb = self.fn.append_basic_block("for.cond")
        body_bb = self.fn.append_basic_block("for.body")
        inc_bb = self.fn.append_basic_block("for.inc")
        end_bb = self.fn.append_basic_block("for.end")
        self.b.branch(cond_bb)
        self.b.position_at_end(cond_bb)
        cur = self.load(var, t)
        op = "<" if step_v > 0 else ">"
        cmp = self.b.icmp_signed(op, cur, stop) if t.signed else self.b.icmp_unsigned(op, cur, stop)
        self.b.cbranch(cmp, body_bb, end_bb)
        self.b.position_at_end(body_bb)
        self.loops.append((inc_bb, end_bb))
        self.block(s.body)
        self.loops.pop()
        if not self.b.block.is_terminated:
            self.b.branch(inc_bb)
        self.b.position_at_end(inc_bb)
        nxt = self.b.add(self.load(var, t), ir.Constant(t.llvm, t.wrap(step_v) & ((1 << t.bits) - 1)))
        # stop when the increment wraps past the end (range(0, 255) over u8 must terminate)
        wrapped = self.b.icmp_unsigned("<" if step_v > 0 else ">", nxt, self.load(var, t)) \
            if not t.signed else self.b.icmp_signed("<" if step_v > 0 else ">", nxt, self.load(var, t))
        self.store(nxt, var, t)
        self.b.cbranch(wrapped, end_bb, cond_bb)
        self.b.position_at_end(end_bb)

    def stmt_Break(self, s: ast.Break) -> None:
        self.b.branch(self.loops[-1][1])

    def stmt_Continue(self, s: ast.Continue) -> None:
        self.b.branch(self.loops[-1][0])

    # ------------------------------------------------------------------ addresses

    def address(self, node: ast.expr) -> ir.Value:
        """The address of an lvalue expression (check.py verified it is one)."""
        if isinstance(node, (ast.Name, ast.Attribute)) and hasattr(node, "qref"):
            ref = node.qref  # type: ignore[attr-defined]
            if isinstance(ref, Local):
                return self.slots[id(ref)]
            if isinstance(ref, GlobalDecl):
                return self.ml.global_ref(ref)
        if isinstance(node, ast.Attribute):
            st, i, via_ptr = node.qfield  # type: ignore[attr-defined]
            base = self.raw_value(node.value) if via_ptr else self.address(node.value)
            return self.b.gep(base, [ir.Constant(ir.IntType(32), 0), ir.Constant(ir.IntType(32), i)],
                              inbounds=True, source_etype=st.llvm)
        if isinstance(node, ast.Subscript):
            bt = node.value.qt  # type: ignore[attr-defined]
            idx = self.index64(node.slice)
            if isinstance(bt, PtrType):
                return self.b.gep(self.raw_value(node.value), [idx], source_etype=_elem_ir(bt.target))
            return self.b.gep(self.address(node.value), [I64_IR(0), idx], source_etype=bt.llvm)
        raise AssertionError(f"not an lvalue: {ast.unparse(node)}")

    def index64(self, node: ast.expr) -> ir.Value:
        v = self.value(node)
        t = node.qconv  # type: ignore[attr-defined]
        if t.bits == 64:
            return v
        return self.b.sext(v, I64_IR) if t.signed else self.b.zext(v, I64_IR)

    # ------------------------------------------------------------------ values

    def value(self, node: ast.expr) -> ir.Value:
        """The value of `node`, converted to node.qconv when check.py recorded a conversion."""
        to: Type | None = getattr(node, "qconv", None)
        frm: Type = node.qt  # type: ignore[attr-defined]
        c = getattr(node, "qconst", None)
        if c is not None and to is not None and isinstance(to, (IntType, BoolType)):
            return ir.Constant(to.llvm, int(c) & ((1 << to.llvm.width) - 1))
        if c is not None and to is not None and isinstance(to, (PtrType, FnType)) and isinstance(frm, UntypedIntType):
            return ir.Constant(PTR, None) if c == 0 else ir.Constant(I64_IR, c).inttoptr(PTR)
        if isinstance(frm, ArrayType) and isinstance(to, PtrType):
            return self.b.gep(self.address(node), [I64_IR(0), I64_IR(0)], source_etype=frm.llvm)
        if isinstance(frm, NullType):
            return ir.Constant(PTR, None)
        v = self.raw_value(node)
        return v if to is None else self.convert(v, frm, to)

    def convert(self, v: ir.Value, frm: Type, to: Type) -> ir.Value:
        b = self.b
        if isinstance(to, IntType):
            if isinstance(frm, (PtrType, FnType)):
                v, frm = b.ptrtoint(v, I64_IR), I64
            if isinstance(frm, BoolType):
                return b.zext(v, to.llvm)
            if isinstance(frm, IntType):
                if frm.bits == to.bits:
                    return v
                if frm.bits > to.bits:
                    return b.trunc(v, to.llvm)
                return b.sext(v, to.llvm) if frm.signed else b.zext(v, to.llvm)
        if isinstance(to, (PtrType, FnType)):
            if isinstance(frm, IntType):
                if frm.bits < 64:
                    v = b.sext(v, I64_IR) if frm.signed else b.zext(v, I64_IR)
                return b.inttoptr(v, PTR)
            return v
        return v

    def raw_value(self, node: ast.expr) -> ir.Value:
        c = getattr(node, "qconst", None)
        t: Type = node.qt  # type: ignore[attr-defined]
        if c is not None and isinstance(t, (IntType, BoolType)):
            return ir.Constant(t.llvm, int(c) & ((1 << t.llvm.width) - 1))
        m = getattr(self, "expr_" + type(node).__name__)
        return m(node)

    def expr_Constant(self, node: ast.Constant) -> ir.Value:
        assert isinstance(node.value, bytes)
        return self.ml.bytes_const(node.value)

    def expr_Name(self, node: ast.expr) -> ir.Value:
        ref = node.qref  # type: ignore[attr-defined]
        if isinstance(ref, FuncDecl):
            return self.ml.func_ref(ref)
        if isinstance(ref, ConstDecl):
            raise AssertionError("constants are folded")
        return self.load(self.address(node), node.qt)  # type: ignore[attr-defined]

    def expr_Attribute(self, node: ast.Attribute) -> ir.Value:
        if isinstance(getattr(node, "qref", None), FuncDecl):
            return self.ml.func_ref(node.qref)  # type: ignore[attr-defined]
        return self.load(self.address(node), node.qt, self.access_align(node))  # type: ignore[attr-defined]

    def expr_Subscript(self, node: ast.Subscript) -> ir.Value:
        return self.load(self.address(node), node.qt, self.access_align(node))  # type: ignore[attr-defined]

    def expr_UnaryOp(self, node: ast.UnaryOp) -> ir.Value:
        if isinstance(node.op, ast.Not):
            return self.b.not_(self.truth(node.operand))
        v = self.value(node.operand)
        if isinstance(node.op, ast.USub):
            return self.b.neg(v)
        if isinstance(node.op, ast.Invert):
            return self.b.not_(v)
        return v

    def expr_BinOp(self, node: ast.BinOp) -> ir.Value:
        t: Type = node.qt  # type: ignore[attr-defined]
        lt, rt = node.left.qt, node.right.qt  # type: ignore[attr-defined]
        b = self.b
        if isinstance(lt, PtrType) and isinstance(rt, PtrType):  # element difference
            diff = b.sub(b.ptrtoint(self.value(node.left), I64_IR), b.ptrtoint(self.value(node.right), I64_IR))
            size = max(_elem_size(lt.target), 1)
            return diff if size == 1 else b.sdiv(diff, I64_IR(size))
        if isinstance(t, PtrType):
            p_node, i_node = (node.left, node.right) if isinstance(lt, PtrType) else (node.right, node.left)
            idx = self.index64(i_node)
            if isinstance(node.op, ast.Sub):
                idx = b.neg(idx)
            return b.gep(self.value(p_node), [idx], source_etype=_elem_ir(t.target))
        return self.arith(node, node.op, self.value(node.left), self.value(node.right), t, node.right)

    def arith(self, node: ast.AST, op: ast.operator, a: ir.Value, c: ir.Value, t: Type,
              right: ast.expr) -> ir.Value:
        b = self.b
        if isinstance(t, PtrType):
            idx = self.index64(right)
            if isinstance(op, ast.Sub):
                idx = b.neg(idx)
            return b.gep(a, [idx], source_etype=_elem_ir(t.target))
        if isinstance(t, BoolType):
            return {ast.BitAnd: b.and_, ast.BitOr: b.or_, ast.BitXor: b.xor}[type(op)](a, c)
        assert isinstance(t, IntType), t
        if isinstance(op, (ast.LShift, ast.RShift)):
            if c.type.width > t.bits:
                c = b.trunc(c, t.llvm)
            elif c.type.width < t.bits:
                c = b.zext(c, t.llvm)
            c = b.and_(c, ir.Constant(t.llvm, t.bits - 1))
            if isinstance(op, ast.LShift):
                return b.shl(a, c)
            return b.ashr(a, c) if t.signed else b.lshr(a, c)
        table = {ast.Add: b.add, ast.Sub: b.sub, ast.Mult: b.mul, ast.BitAnd: b.and_, ast.BitOr: b.or_,
                 ast.BitXor: b.xor,
                 ast.FloorDiv: b.sdiv if t.signed else b.udiv, ast.Mod: b.srem if t.signed else b.urem}
        f = table.get(type(op))
        if f is None:
            raise AssertionError(f"operator {op_symbol(op)}")
        return f(a, c)

    def expr_BoolOp(self, node: ast.BoolOp) -> ir.Value:
        return self.short_circuit([lambda v=v: self.truth(v) for v in node.values],
                                  isinstance(node.op, ast.And))

    def short_circuit(self, conds: list, is_and: bool) -> ir.Value:
        """Evaluates conds (callables giving i1) left to right, stopping at the first that decides."""
        end_bb = self.fn.append_basic_block("sc.end")
        incoming = []
        for i, cond in enumerate(conds):
            v = cond()
            if i == len(conds) - 1:
                incoming.append((v, self.b.block))
                self.b.branch(end_bb)
                break
            nxt = self.fn.append_basic_block("sc.next")
            incoming.append((ir.Constant(I1, 0 if is_and else 1), self.b.block))
            if is_and:
                self.b.cbranch(v, nxt, end_bb)
            else:
                self.b.cbranch(v, end_bb, nxt)
            self.b.position_at_end(nxt)
        self.b.position_at_end(end_bb)
        phi = self.b.phi(I1)
        for v, bb in incoming:
            phi.add_incoming(v, bb)
        return phi

    def expr_Compare(self, node: ast.Compare) -> ir.Value:
        operands = [node.left] + node.comparators
        types = node.qcmp  # type: ignore[attr-defined]
        cache: dict[int, ir.Value] = {}

        def operand(i: int) -> ir.Value:
            if i not in cache:
                cache[i] = self.value(operands[i])
            return cache[i]

        def pair(i: int) -> ir.Value:
            op = {ast.Eq: "==", ast.NotEq: "!=", ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">",
                  ast.GtE: ">="}[type(node.ops[i])]
            t = types[i]
            a, c = operand(i), operand(i + 1)
            if isinstance(t, IntType) and t.signed:
                return self.b.icmp_signed(op, a, c)
            return self.b.icmp_unsigned(op, a, c)

        if len(node.ops) == 1:
            return pair(0)
        return self.short_circuit([lambda i=i: pair(i) for i in range(len(node.ops))], True)

    def expr_IfExp(self, node: ast.IfExp) -> ir.Value:
        then_bb = self.fn.append_basic_block("sel.then")
        else_bb = self.fn.append_basic_block("sel.else")
        end_bb = self.fn.append_basic_block("sel.end")
        self.b.cbranch(self.truth(node.test), then_bb, else_bb)
        self.b.position_at_end(then_bb)
        a = self.value(node.body)
        a_bb = self.b.block
        self.b.branch(end_bb)
        self.b.position_at_end(else_bb)
        c = self.value(node.orelse)
        c_bb = self.b.block
        self.b.branch(end_bb)
        self.b.position_at_end(end_bb)
        phi = self.b.phi(a.type)
        phi.add_incoming(a, a_bb)
        phi.add_incoming(c, c_bb)
        return phi

    def truth(self, node: ast.expr) -> ir.Value:
        """An i1 that is true when `node` is: bools as they are, others compared with zero/NULL."""
        c = getattr(node, "qconst", None)
        if c is not None:
            return ir.Constant(I1, int(bool(c)))
        t: Type = node.qt  # type: ignore[attr-defined]
        v = self.value(node)
        if isinstance(t, BoolType):
            return v
        if isinstance(v.type, ir.PointerType):
            return self.b.icmp_unsigned("!=", v, ir.Constant(PTR, None))
        return self.b.icmp_unsigned("!=", v, ir.Constant(v.type, 0))

    def expr_Call(self, node: ast.Call) -> ir.Value | None:
        kind = node.qcall  # type: ignore[attr-defined]
        if kind[0] == "func":
            fn = self.ml.func_ref(kind[1])
            return self.b.call(fn, [self.value(a) for a in node.args])
        if kind[0] == "indirect":
            ft: FnType = node.func.qt  # type: ignore[attr-defined]
            # a no-op bitcast whose typed-pointer result tells llvmlite the callee's signature
            callee = ir.instructions.CastInstr(self.b.block, "bitcast", self.value(node.func),
                                               ft.llvm_fn().as_pointer())
            self.b._insert(callee)
            return self.b.call(callee, [self.value(a) for a in node.args])
        if kind[0] == "intrinsic":
            return lower_intrinsic(self, node, kind[1])
        if kind[0] == "cast":
            return self.value_as(node.args[-1], kind[1])
        if kind[0] == "zero":
            return ir.Constant(kind[1].mem, None)
        if kind[0] == "truth":
            return self.truth(node.args[0])
        raise AssertionError(kind)

    def value_as(self, node: ast.expr, to: Type) -> ir.Value:
        frm: Type = node.qt  # type: ignore[attr-defined]
        if isinstance(frm, ArrayType):
            return self.b.gep(self.address(node), [I64_IR(0), I64_IR(0)], source_etype=frm.llvm)
        v = self.value(node)
        src = getattr(node, "qconv", None) or frm
        return self.convert(v, src, to)


def _elem_ir(t: Type) -> ir.Type:
    return I8 if isinstance(t, VoidType) else t.mem


def _elem_size(t: Type) -> int:
    return 1 if isinstance(t, VoidType) else t.size


_DEFINE = re.compile(r'^define (.*)$', re.M)
_DECLARE = re.compile(r'^declare (.*)$', re.M)
_GLOBAL = re.compile(r'^(@\S+ = )(external |internal |private )?(.*)$', re.M)


def finalize_ir(text: str) -> str:
    """Adds dso_local, "no-builtins" and "frame-pointer"="all" to llvmlite's IR text."""
    text = _DEFINE.sub(lambda m: f'define dso_local {m.group(1)} "no-builtins" "frame-pointer"="all"', text)
    text = _DECLARE.sub(lambda m: f"declare dso_local {m.group(1)}", text)
    text = _GLOBAL.sub(lambda m: f"{m.group(1)}{m.group(2) or ''}dso_local {m.group(3)}", text)
    return text


__all__ = ["ModuleLowerer", "finalize_ir"]
