"""The guest-host ABI is defined once (qkernel/abi.py): the layouts the host reads under CPython
equal the ones the compiler gives the kernel."""

from __future__ import annotations

from pathlib import Path

import pytest

from qkernel import abi as K
from qkernel.arch import frame as trap
from qkernel.dialect import layout

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def compiled():
    from toolchain.driver import Sources, frontend
    prog, env = frontend(Sources(["qkernel.abi", "qkernel.arch.frame"], [ROOT]))
    return prog


@pytest.mark.parametrize("module, name", [("qkernel.abi", "BootParams"), ("qkernel.abi", "Qcall"),
                                          ("qkernel.arch.frame", "TrapFrame")])
def test_struct_layouts_agree(compiled, module, name):
    st = compiled.modules[module].decls[name].stype
    cls = getattr(K if module == "qkernel.abi" else trap, name)
    lay = layout(cls)
    assert lay.size == st.size and lay.align == st.align
    assert {f: lay.offset(f) for f in lay.fields} == st.offsets


def test_host_boot_layout_comes_from_the_kernel():
    from qvisor.abi import BOOT_LAYOUT
    assert BOOT_LAYOUT.KERNEL_BASE == K.KERNEL_BASE
    assert BOOT_LAYOUT.DIRECT_MAP_BASE == K.DIRECT_MAP_BASE
    assert BOOT_LAYOUT.BOOT_PARAMS_PHYS == K.BOOT_PARAMS_PHYS


def test_crash_report_trapframe_order_matches_kernel():
    from qvisor.crash import TRAPFRAME_FIELDS
    assert list(layout(trap.TrapFrame).fields) == list(TRAPFRAME_FIELDS)
