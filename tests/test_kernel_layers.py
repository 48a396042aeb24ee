"""The kernel's dependency order (docs/architecture.md, "Kernel layers"): every qkernel module
sits in one layer and imports only modules of its own layer or below. A new module must be
placed here, and in the doc, before it can be imported."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# Bottom first; a trailing ".*" takes a whole package.
LAYERS = [
    ["qkernel", "qkernel.dialect", "qkernel.abi", "qkernel.linux", "qkernel.linux.*"],
    ["qkernel.lib", "qkernel.lib.*", "qkernel.mm", "qkernel.mm.addr", "qkernel.arch", "qkernel.arch.fpu",
     "qkernel.arch.cpu", "qkernel.arch.priv", "qkernel.arch.frame", "qkernel.loader",
     "qkernel.loader.elf"],
    ["qkernel.arch.percpu"],
    ["qkernel.qcall"],
    ["qkernel.klog", "qkernel.panic"],
    ["qkernel.arch.gdt", "qkernel.arch.idt", "qkernel.arch.lapic", "qkernel.arch.syscall",
     "qkernel.mm.frames"],
    ["qkernel.mm.pagetable", "qkernel.mm.kalloc"],
    ["qkernel.mm.vma"],
    ["qkernel.mm.fault", "qkernel.mm.mmap", "qkernel.mm.vdso"],
    ["qkernel.mm.uaccess", "qkernel.loader.stack"],
    ["qkernel.arch.trap"],
    ["qkernel.task", "qkernel.task.*"],
    ["qkernel.fs", "qkernel.fs.*"],
    ["qkernel.syscalls", "qkernel.syscalls.table"],
    ["qkernel.syscalls.sys_*"],
    ["qkernel.syscalls.entry", "qkernel.syscalls.register"],
    ["qkernel.exec", "qkernel.selftest"],
    ["qkernel.main"],
]


def layer_of(module: str) -> int:
    for i, names in enumerate(LAYERS):
        for n in names:
            if n == module or (n.endswith("*") and module.startswith(n[:-1])):
                return i
    raise AssertionError(f"{module} has no layer: place it in tests/test_kernel_layers.py and "
                         "docs/architecture.md")


def modules() -> dict[str, Path]:
    out = {}
    for p in (ROOT / "qkernel").rglob("*.py"):
        name = ".".join(p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        out[name] = p
    return out


def imports_of(path: Path, known: dict[str, Path]) -> set[str]:
    deps = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("qkernel"):
            for a in node.names:
                full = f"{node.module}.{a.name}"
                deps.add(full if full in known else node.module)
        elif isinstance(node, ast.Import):
            deps.update(a.name for a in node.names if a.name.startswith("qkernel"))
    return deps


def test_every_kernel_module_imports_only_its_layer_or_below():
    known = modules()
    wrong = []
    for name, path in sorted(known.items()):
        if name == "qkernel.dialect":
            continue  # CPython definitions, not compiled (kfmt's model reads fmt.LINE_MAX lazily)
        mine = layer_of(name)
        for dep in sorted(imports_of(path, known) - {name}):
            if layer_of(dep) > mine:
                wrong.append(f"{name} (layer {mine}) imports {dep} (layer {layer_of(dep)})")
    assert not wrong, "\n".join(wrong)


def test_no_module_level_per_process_state_outside_the_task_structures():
    """The per-process globals the foundations issue moved into Process/Task stay gone."""
    banned = {"qkernel.syscalls.sys_io": ["stdio_open", "cloexec", "bounce", "path_buf", "iov"],
              "qkernel.syscalls.sys_process": ["umask_value", "uts", "ids"],
              "qkernel.syscalls.sys_time": ["start_ns", "ts", "usage"],
              "qkernel.syscalls.sys_info": ["info", "lim"],
              "qkernel.exec": ["space"]}
    known = modules()
    for mod, names in banned.items():
        tree = ast.parse(known[mod].read_text())
        assigned = {t.id for n in tree.body if isinstance(n, (ast.Assign, ast.AnnAssign))
                    for t in ([n.target] if isinstance(n, ast.AnnAssign) else n.targets)
                    if isinstance(t, ast.Name)}
        assert not assigned & set(names), (mod, assigned & set(names))
    assert "qkernel.proc" not in known


def test_handlers_take_the_task_and_their_arguments():
    """Every sys_* handler is (t: ptr[Task], a: ptr[SyscallArgs]) -> i64: no padding params."""
    known = modules()
    for mod in [m for m in known if m.startswith("qkernel.syscalls.sys_")]:
        for node in ast.parse(known[mod].read_text()).body:
            if isinstance(node, ast.FunctionDef) and node.name.startswith("sys_"):
                args = [(a.arg, ast.unparse(a.annotation)) for a in node.args.args]
                assert args == [("t", "ptr[Task]"), ("a", "ptr[SyscallArgs]")], (mod, node.name)


def test_each_table_row_names_its_own_handler():
    """register.py: one handler per system call, named after it (sys_read for SYS_read), or
    NULL for a row that only carries an ENOSYS note; no number listed twice."""
    tree = ast.parse((ROOT / "qkernel/syscalls/register.py").read_text())
    seen = set()
    rows = [c for c in ast.walk(tree) if isinstance(c, ast.Call) and getattr(c.func, "id", "") == "register"]
    assert len(rows) > 50
    for call in rows:
        nr, handler, status, note = call.args
        name = ast.unparse(nr).removeprefix("n.SYS_")
        assert name not in seen, name
        seen.add(name)
        assert isinstance(note, ast.Constant) and isinstance(note.value, bytes)
        if ast.unparse(handler) == "NULL":
            assert ast.unparse(status) == "X" and note.value, name
        else:
            assert ast.unparse(handler).split(".")[-1] == f"sys_{name}", name
