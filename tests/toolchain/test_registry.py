"""The intrinsic registry (toolchain/intrinsics.py) and qkernel/dialect.py name the same things.

The resolver's importable names, the checker's and the lowering's dispatch all come from
`INTRINSICS`; here the registry is held against the CPython definitions, in both directions.
"""

from __future__ import annotations

import ast
import inspect

from qkernel import dialect
from toolchain import check_calls, intrinsics, lower, resolve
from toolchain.intrinsics import (CPYTHON_ONLY, DECORATORS, DIALECT_NAMES, DIALECT_TYPES,
                                  DIALECT_VALUES, INTRINSICS, TYPE_FORMS)


def _marked_intrinsics() -> set[str]:
    return {n for n, v in vars(dialect).items() if getattr(v, "__kernel_intrinsic__", False)}


def test_every_dialect_intrinsic_is_registered_and_vice_versa():
    assert _marked_intrinsics() == set(INTRINSICS)


def test_dialect_all_is_the_registry_plus_the_cpython_only_names():
    assert set(dialect.__all__) == DIALECT_NAMES | CPYTHON_ONLY
    assert len(dialect.__all__) == len(set(dialect.__all__))
    for n in dialect.__all__:
        assert hasattr(dialect, n), n


def test_categories_are_disjoint_and_defined_in_cpython():
    groups = [set(INTRINSICS), DIALECT_TYPES, TYPE_FORMS, DECORATORS, DIALECT_VALUES, CPYTHON_ONLY]
    assert sum(map(len, groups)) == len(set().union(*groups))
    for n in INTRINSICS:
        assert callable(getattr(dialect, n)), n
    for n in DIALECT_TYPES:
        assert issubclass(getattr(dialect, n), int), n


def test_every_intrinsic_is_checked_and_lowered_or_folded():
    for name, entry in INTRINSICS.items():
        assert entry.name == name
        assert callable(entry.check), name
        assert (entry.lower is None) == (entry.fold is not None), name  # folded xor lowered


def test_the_resolver_uses_the_registry():
    assert resolve.DIALECT_NAMES is DIALECT_NAMES


def test_no_second_list_of_intrinsic_names():
    """No module other than intrinsics.py spells out intrinsic names as string constants."""
    hardware = {n for n, e in INTRINSICS.items() if e.lower is not None and n not in ("cast", "addr_of")}
    for mod in (check_calls, lower, resolve):
        strings = {n.value for n in ast.walk(ast.parse(inspect.getsource(mod)))
                   if isinstance(n, ast.Constant) and isinstance(n.value, str)}
        assert not (strings & hardware), (mod.__name__, strings & hardware)
    assert intrinsics.check_intrinsic and intrinsics.lower_intrinsic
