"""The pipeline: parse -> resolve -> check -> lower -> optimise -> emit -> link, with a build cache.

Incremental builds: each module's object is cached under the SHA-256 of its unoptimised LLVM IR
(plus the compiler's own source hash and target settings): a module whose IR did not change is not
optimised or code-generated again, whoever else changed. A whole build whose inputs (every source
file, the compiler, the options) are unchanged is skipped entirely by its manifest.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from .check import check_program
from .diagnostics import CompileError
from .emit import emit_assembly, emit_object
from .lower import ModuleLowerer, finalize_ir
from .optimize import optimize, parse_ir
from .resolve import Program
from .target import FEATURES, TRIPLE, datalayout, init_llvm
from .typeexpr import Env

PROJECT_ROOT = Path(__file__).resolve().parent.parent
RUNTIME_DIR = Path(__file__).resolve().parent / "runtime"
RUNTIME_MODULE = "qkcrt"
KERNEL_PACKAGE = "qkernel"
DIALECT_FILE = PROJECT_ROOT / "qkernel" / "dialect.py"
BOOT_DIR = PROJECT_ROOT / "boot"
KERNEL_BASE = 0xFFFF_C000_0000_0000  # higher half, outside the top 2 GiB (PVM hosts forbid it)


@dataclass
class CompiledModule:
    name: str
    ir: str  # the unoptimised IR the cache key is computed from
    obj: bytes
    cached: bool


@dataclass
class BuildStats:
    modules: int = 0
    compiled: int = 0
    cached: int = 0
    seconds: float = 0.0
    skipped: bool = False
    timings: dict[str, float] = field(default_factory=dict)


@dataclass
class Sources:
    """What to compile: module names to load and where to find them."""

    modules: list[str]
    search_paths: list[Path]
    files: dict[str, Path] = field(default_factory=dict)  # module name -> file, for top-level files

    @classmethod
    def for_files(cls, paths: list[Path]) -> "Sources":
        files = {p.stem: p.resolve() for p in paths}
        search = sorted({p.resolve().parent for p in paths}) + [PROJECT_ROOT]
        return cls(list(files), search, files)

    @classmethod
    def kernel(cls, root: Path = PROJECT_ROOT) -> "Sources":
        mods = []
        for p in sorted((root / KERNEL_PACKAGE).rglob("*.py")):
            if p.relative_to(root).as_posix() == f"{KERNEL_PACKAGE}/dialect.py":
                continue
            rel = p.relative_to(root).with_suffix("")
            parts = list(rel.parts)
            if parts[-1] == "__init__":
                parts.pop()
            mods.append(".".join(parts))
        return cls(mods, [root])


@functools.cache
def compiler_hash() -> str:
    h = hashlib.sha256()
    for p in sorted(Path(__file__).resolve().parent.glob("*.py")):
        h.update(p.name.encode())
        h.update(p.read_bytes())
    h.update(f"{TRIPLE}|{FEATURES}".encode())
    return h.hexdigest()


def frontend(sources: Sources) -> tuple[Program, Env]:
    """Parse, resolve and check everything reachable from `sources` plus the runtime."""
    prog = Program(sources.search_paths + [RUNTIME_DIR])
    for name in sources.modules:
        if name in sources.files:
            if name not in prog.modules:
                prog.load_file(sources.files[name], name)
        else:
            prog.load(name)
    prog.load(RUNTIME_MODULE)
    env = Env(prog)
    check_program(env)
    return prog, env


def lower_program(prog: Program, env: Env) -> dict[str, str]:
    """Module name -> finalised LLVM IR text."""
    init_llvm()
    dl = datalayout()
    return {name: finalize_ir(str(ModuleLowerer(env, mod, TRIPLE, dl).lower()))
            for name, mod in prog.modules.items()}


def compile_ir(name: str, ir_text: str, cache_dir: Path | None, opt: int = 2) -> CompiledModule:
    key = hashlib.sha256(f"{compiler_hash()}|O{opt}|".encode() + ir_text.encode()).hexdigest()
    path = cache_dir / "objects" / f"{key}.o" if cache_dir else None
    if path is not None and path.exists():
        return CompiledModule(name, ir_text, path.read_bytes(), cached=True)
    try:
        mod = optimize(parse_ir(ir_text, name), opt)
        obj = emit_object(mod)
    except RuntimeError as e:  # LLVM rejects what it cannot assemble (inline asm text, mostly)
        raise CompileError(f"LLVM could not compile module '{name}': {str(e).strip()}") from None
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        tmp.write_bytes(obj)
        tmp.replace(path)
    return CompiledModule(name, ir_text, obj, cached=False)


def boot_module_ir(boot_dir: Path = BOOT_DIR) -> str | None:
    """boot/*.S assembled by LLVM as module asm (one module), or None when boot/ has none."""
    files = sorted(boot_dir.glob("*.S")) if boot_dir.is_dir() else []
    if not files:
        return None
    lines = [f'target triple = "{TRIPLE}"', f'target datalayout = "{datalayout()}"']
    for f in files:
        for line in f.read_text().splitlines():
            esc = line.replace("\\", "\\5C").replace('"', "\\22")
            lines.append(f'module asm "{esc}"')
    return "\n".join(lines) + "\n"


def compile_objects(sources: Sources, cache_dir: Path | None, *, boot_dir: Path | None = None,
                    opt: int = 2, stats: BuildStats | None = None) -> list[CompiledModule]:
    stats = stats or BuildStats()
    t0 = time.perf_counter()
    prog, env = frontend(sources)
    t1 = time.perf_counter()
    irs = lower_program(prog, env)
    if boot_dir is not None:
        boot = boot_module_ir(boot_dir)
        if boot is not None:
            irs["boot"] = boot
        vdso_src = boot_dir.parent / "vdso" / "vdso.S"
        if vdso_src.is_file():
            from .vdso import build_image, module_ir
            irs["vdso"] = module_ir(build_image(vdso_src))
    t2 = time.perf_counter()
    out = [compile_ir(name, text, cache_dir, opt) for name, text in irs.items()]
    t3 = time.perf_counter()
    stats.modules = len(out)
    stats.cached = sum(m.cached for m in out)
    stats.compiled = stats.modules - stats.cached
    stats.timings.update(frontend=t1 - t0, lower=t2 - t1, backend=t3 - t2)
    return out


def link_objects(objs: list[CompiledModule], *, base: int = KERNEL_BASE, entry: str | None = None):  # noqa: ANN201
    from .link import link
    return link([(m.name, m.obj) for m in objs], base=base, entry=entry)


def source_digest(sources: Sources, boot_dir: Path, extra: str = "") -> str:
    """SHA-256 over the compiler, every kernel source, the runtime and boot/*.S."""
    h = hashlib.sha256(compiler_hash().encode() + extra.encode())
    paths: set[Path] = (set(RUNTIME_DIR.glob("*.py")) | set(boot_dir.glob("*.S"))
                        | set((boot_dir.parent / "vdso").glob("*.S")))
    for base in sources.search_paths:
        paths.update(base.glob(f"{KERNEL_PACKAGE}/**/*.py"))
    paths.update(sources.files.values())
    for p in sorted(paths):
        h.update(str(p).encode())
        h.update(p.read_bytes())
    return h.hexdigest()


def build_kernel(output: Path, cache_dir: Path | None = None, *, root: Path = PROJECT_ROOT,
                 entry: str = "_start") -> BuildStats:
    """Builds kernel.elf (+ kernel.elf.map) from qkernel/ and boot/; skips when nothing changed."""
    t0 = time.perf_counter()
    stats = BuildStats()
    sources = Sources.kernel(root)
    cache_dir = cache_dir or output.parent / ".qkc-cache"
    boot_dir = root / "boot"
    digest = source_digest(sources, boot_dir, f"entry={entry}")
    manifest = cache_dir / "kernel.manifest.json"
    if output.exists() and manifest.exists():
        try:
            m = json.loads(manifest.read_text())
            if m.get("digest") == digest and m.get("output") == str(output.resolve()):
                stats.skipped = True
                stats.seconds = time.perf_counter() - t0
                return stats
        except (OSError, ValueError):
            pass
    objs = compile_objects(sources, cache_dir, boot_dir=boot_dir, stats=stats)
    image = link_objects(objs, entry=entry if any(m.name == "boot" for m in objs) else None)
    output.parent.mkdir(parents=True, exist_ok=True)
    image.write(output)
    cache_dir.mkdir(parents=True, exist_ok=True)
    manifest.write_text(json.dumps({"digest": digest, "output": str(output.resolve())}))
    stats.seconds = time.perf_counter() - t0
    return stats


def build_files(paths: list[Path], cache_dir: Path | None = None, *, base: int = KERNEL_BASE):  # noqa: ANN201
    """Compiles and links standalone kernel-Python files (for `qkc run` and tests)."""
    objs = compile_objects(Sources.for_files(paths), cache_dir)
    return link_objects(objs, base=base)


def build_modules(modules: list[str], cache_dir: Path | None = None, *, root: Path = PROJECT_ROOT,
                  base: int = KERNEL_BASE):  # noqa: ANN201
    """Compiles and links kernel modules by dotted name (and what they import), without boot/:
    the image kernel unit tests load into toolchain.emucall.Machine."""
    return link_objects(compile_objects(Sources(modules, [root]), cache_dir), base=base)


def module_ir(paths: list[Path], optimized: bool = True) -> dict[str, str]:
    prog, env = frontend(Sources.for_files(paths))
    irs = lower_program(prog, env)
    if not optimized:
        return irs
    return {n: str(optimize(parse_ir(t, n))) for n, t in irs.items()}


def module_asm(paths: list[Path]) -> dict[str, str]:
    prog, env = frontend(Sources.for_files(paths))
    return {n: emit_assembly(optimize(parse_ir(t, n))) for n, t in lower_program(prog, env).items()}


__all__ = ["CompileError", "build_kernel", "build_files", "compile_objects", "Sources"]
