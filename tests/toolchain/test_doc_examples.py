"""docs/kernel-python.md cannot rot: its examples are compiled, run and executed here.

Conventions (stated at the top of the document):
  ```python title="NAME.py"                 a kernel module; must pass `qkc check`
  ```python title="NAME.py" error="TEXT"    must be rejected by `qkc check` with TEXT in the message
  ```python cpython                         plain CPython code, exec'd with the project importable
Inside a titled block, `# run: FUNC(ARGS) == VALUE` lines are executed under unicorn (FUNC in that
module; ARGS and VALUE are Python expressions) and compared in FUNC's return type.
"""

from __future__ import annotations

import ast
import re
import sys
import types
from dataclasses import dataclass
from pathlib import Path

import pytest

from toolchain.cli import main as qkc_main
from toolchain.driver import PROJECT_ROOT, Sources, build_files, frontend

DOC = PROJECT_ROOT / "docs" / "kernel-python.md"

_FENCE = re.compile(r"^```(?P<info>[^\n`]*)\n(?P<body>.*?)^```[ \t]*$", re.M | re.S)
_ATTR = re.compile(r'(\w[\w-]*)="([^"]*)"')
_RUN = re.compile(r"^#\s*run:\s*(?P<func>\w+)\((?P<args>.*)\)\s*==\s*(?P<value>.+?)\s*$", re.M)


@dataclass
class Block:
    info: str
    attrs: dict[str, str]
    body: str
    line: int

    @property
    def title(self) -> str | None:
        return self.attrs.get("title")


def _blocks() -> list[Block]:
    text = DOC.read_text()
    out = []
    for m in _FENCE.finditer(text):
        info = m.group("info").strip()
        out.append(Block(info, dict(_ATTR.findall(info)), m.group("body"),
                         text.count("\n", 0, m.start()) + 1))
    return out


BLOCKS = _blocks()
MODULES = [b for b in BLOCKS if b.info.startswith("python") and b.title]
CPYTHON = [b for b in BLOCKS if b.info.split()[:2] == ["python", "cpython"]]
RUNS = [(b, m) for b in MODULES if "error" not in b.attrs for m in _RUN.finditer(b.body)]


def _id(b: Block) -> str:
    return f"{b.title or 'cpython'}@L{b.line}"


@pytest.fixture(scope="module")
def doc_dir(tmp_path_factory) -> Path:
    """Every titled module written under one directory (titles are paths relative to it)."""
    root = tmp_path_factory.mktemp("doc")
    titles = [b.title for b in MODULES]
    dups = {t for t in titles if titles.count(t) > 1}
    assert not dups, f"duplicate example titles in {DOC.name}: {sorted(dups)}"
    for b in MODULES:
        path = root / b.title  # type: ignore[operator]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(b.body)
    return root


def test_document_has_examples():
    assert len(MODULES) >= 10 and CPYTHON and len(RUNS) >= 4
    for b in MODULES:
        assert b.title.endswith(".py"), b.title  # type: ignore[union-attr]


@pytest.mark.parametrize("block", MODULES, ids=_id)
def test_example_checks(block: Block, doc_dir: Path, capsys):
    rc = qkc_main(["check", str(doc_dir / block.title)])  # type: ignore[operator]
    out = capsys.readouterr()
    text = out.out + out.err
    if "error" in block.attrs:
        assert rc == 1, f"{block.title} (docs line {block.line}) should be rejected:\n{text}"
        want = block.attrs["error"]
        assert want in text, f"{block.title}: expected {want!r} in:\n{text}"
    else:
        assert rc == 0, f"{block.title} (docs line {block.line}) fails qkc check:\n{text}"


@pytest.fixture(scope="module")
def machines(doc_dir: Path, tmp_path_factory):
    """Module name -> (Machine, Program) for the titled examples that carry `# run:` lines."""
    from toolchain.emucall import Machine
    cache = tmp_path_factory.mktemp("qkc-cache")
    built: dict[str, tuple] = {}

    def get(block: Block):
        path = doc_dir / block.title  # type: ignore[operator]
        if path.stem not in built:
            prog, _ = frontend(Sources.for_files([path]))
            image = build_files([path], cache)
            built[path.stem] = (Machine(image.elf), prog)
        return built[path.stem]
    return get


def _in_type(value: int, ret) -> int:  # noqa: ANN001
    """value interpreted in the return type `ret` (an IntType or bool)."""
    bits = 1 if str(ret) == "bool" else ret.bits
    value &= (1 << bits) - 1
    if getattr(ret, "signed", False) and value >> (bits - 1):
        value -= 1 << bits
    return value


def _const(expr: str) -> object:
    return eval(compile(ast.parse(expr, mode="eval"), "<doc>", "eval"), {"__builtins__": {}})  # noqa: S307


RUN_IDS = [f"{b.title}:{m.group('func')}({m.group('args')})" for b, m in RUNS]


@pytest.mark.parametrize("block,run", RUNS, ids=RUN_IDS)
def test_example_runs(block: Block, run: re.Match, machines):
    machine, prog = machines(block)
    modname = Path(block.title).stem  # type: ignore[arg-type]
    decl = prog.modules[modname].decls[run.group("func")]
    args = _const(f"({run.group('args')},)") if run.group("args").strip() else ()
    expected = _const(run.group("value"))
    result = machine.call(decl.symbol, *[int(a) & (2**64 - 1) for a in args])  # type: ignore[union-attr]
    got = _in_type(result, decl.fntype.ret)
    assert got == _in_type(int(expected), decl.fntype.ret), \
        f"{block.title}: {run.group(0).strip()} gave {got} (docs line {block.line})"


@pytest.mark.parametrize("block", CPYTHON, ids=_id)
def test_cpython_examples(block: Block, monkeypatch):
    # a real module: dialect.layout() resolves string annotations through sys.modules
    mod = types.ModuleType(f"doc_example_{block.line}")
    monkeypatch.setitem(sys.modules, mod.__name__, mod)
    exec(compile(block.body, f"{DOC.name}:{block.line}", "exec"), mod.__dict__)  # noqa: S102
