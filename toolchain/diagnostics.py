"""Compiler diagnostics: source locations and user-facing errors.

Every error a kernel developer can cause is a CompileError carrying the location of the offending
node; `format()` renders it as `file:line:col: error: message`, then the source line and a caret.
The CLI prints that and exits 1; a Python traceback reaching the user is a compiler bug.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass


@dataclass(frozen=True)
class SourceLoc:
    path: str
    line: int  # 1-based
    col: int  # 0-based (ast's col_offset); printed 1-based
    source_line: str = ""

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.col + 1}"


class CompileError(Exception):
    def __init__(self, message: str, loc: SourceLoc | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.loc = loc

    def format(self) -> str:
        if self.loc is None:
            return f"error: {self.message}"
        out = f"{self.loc}: error: {self.message}"
        if self.loc.source_line:
            text = self.loc.source_line.rstrip("\n")
            out += f"\n    {text}\n    {' ' * min(self.loc.col, len(text))}^"
        return out

    def __str__(self) -> str:
        return self.format()


class SourceFile:
    """A kernel-Python source file and the means to locate its AST nodes."""

    def __init__(self, path: str, text: str) -> None:
        self.path = path
        self.text = text
        self.lines = text.splitlines()

    def loc(self, node: ast.AST | None) -> SourceLoc | None:
        if node is None or not hasattr(node, "lineno"):
            return SourceLoc(self.path, 1, 0, self.lines[0] if self.lines else "")
        line = node.lineno  # type: ignore[attr-defined]
        col = getattr(node, "col_offset", 0) or 0
        src = self.lines[line - 1] if 0 < line <= len(self.lines) else ""
        return SourceLoc(self.path, line, col, src)

    def error(self, node: ast.AST | None, message: str) -> CompileError:
        return CompileError(message, self.loc(node))
