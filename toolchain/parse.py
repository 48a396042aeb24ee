"""Pass 1, parse: kernel-Python source text to a Python AST, with located syntax errors.

Also names the Python constructs kernel Python rejects, so every pass reports them the same way
("generators are not supported in kernel Python").
"""

from __future__ import annotations

import ast
from pathlib import Path

from .diagnostics import CompileError, SourceFile, SourceLoc

# ast node class -> the name a kernel developer knows it by.
UNSUPPORTED: dict[type, str] = {
    ast.Lambda: "lambda expressions", ast.ListComp: "list comprehensions",
    ast.SetComp: "set comprehensions", ast.DictComp: "dict comprehensions",
    ast.GeneratorExp: "generator expressions", ast.Yield: "generators (yield)",
    ast.YieldFrom: "generators (yield from)", ast.Await: "await", ast.AsyncFunctionDef: "async functions",
    ast.AsyncFor: "async for", ast.AsyncWith: "async with", ast.Try: "exceptions (try)",
    ast.Raise: "exceptions (raise)", ast.With: "with statements", ast.Dict: "dicts", ast.Set: "sets",
    ast.List: "lists", ast.Tuple: "tuples", ast.JoinedStr: "f-strings", ast.Starred: "star expressions",
    ast.Slice: "slices", ast.NamedExpr: "assignment expressions (:=)", ast.Delete: "del statements",
    ast.Nonlocal: "nonlocal (closures)", ast.Match: "match statements",
    ast.ClassDef: "classes", ast.FunctionDef: "nested functions (closures)", ast.Import: "imports",
    ast.ImportFrom: "imports", ast.FormattedValue: "f-strings",
}
if hasattr(ast, "TryStar"):
    UNSUPPORTED[ast.TryStar] = "exceptions (try/except*)"


def unsupported_name(node: ast.AST) -> str:
    return UNSUPPORTED.get(type(node), f"'{type(node).__name__}'")


def parse_text(path: str, text: str) -> tuple[SourceFile, ast.Module]:
    src = SourceFile(path, text)
    try:
        tree = ast.parse(text, filename=path, type_comments=False)
    except SyntaxError as e:
        line = e.lineno or 1
        source_line = src.lines[line - 1] if 0 < line <= len(src.lines) else ""
        raise CompileError(f"syntax error: {e.msg}",
                           SourceLoc(path, line, max((e.offset or 1) - 1, 0), source_line)) from None
    return src, tree


def display_path(path: Path) -> str:
    """The path as diagnostics show it: relative to the working directory when inside it."""
    try:
        return str(Path(path).resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def parse_file(path: Path) -> tuple[SourceFile, ast.Module]:
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as e:
        raise CompileError(f"cannot read {path}: {e}") from None
    return parse_text(display_path(path), text)
