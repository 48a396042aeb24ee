"""Fixtures for the QVisor tests: `pvm` gives a fresh PvmPlatform (16 MiB) or skips with the
precise reason /dev/kvm cannot be used here."""

import os
import sys

import pytest

# the helpers beside this file (qvisor_guests, elf_builder) import under any --import-mode
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

_reason: list[str | None] = []


def _kvm_unusable() -> str | None:
    if not _reason:
        from qvisor.kvm import Kvm, KvmError
        if not os.path.exists("/dev/kvm"):
            _reason.append("/dev/kvm does not exist on this host")
        else:
            try:
                with Kvm() as kvm, kvm.create_vm():
                    pass
                _reason.append(None)
            except KvmError as e:
                _reason.append(f"/dev/kvm unusable: {e}")
    return _reason[0]


@pytest.fixture
def pvm():
    why = _kvm_unusable()
    if why:
        pytest.skip(why)
    from qvisor.platform.pvm import PvmPlatform
    p = PvmPlatform(16 << 20)
    yield p
    p.close()


@pytest.fixture
def kvm_usable():
    why = _kvm_unusable()
    if why:
        pytest.skip(why)
