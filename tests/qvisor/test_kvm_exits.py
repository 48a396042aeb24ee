"""decode_exit on hand-built kvm_run pages (no /dev/kvm needed)."""

import dataclasses

import pytest

from qvisor.kvm import ioctls as K
from qvisor.kvm import structs as S
from qvisor.kvm.exits import (Debug, FailEntry, Hlt, InternalError, Interrupted, IoIn, IoOut,
                              Mmio, Shutdown, SystemEvent, Unknown, decode_exit, describe)

PAGE = 4096


def page(reason):
    buf = bytearray(2 * PAGE)                  # kvm_run + the PIO data page, like the real map
    run = S.kvm_run.from_buffer(buf)
    run.exit_reason = reason
    return buf, run


def test_io_out():
    buf, run = page(K.KVM_EXIT_IO)
    run.io.direction, run.io.size, run.io.port = K.KVM_EXIT_IO_OUT, 4, 0x3F8
    run.io.count, run.io.data_offset = 1, PAGE
    buf[PAGE: PAGE + 4] = b"\x78\x56\x34\x12"
    e = decode_exit(buf)
    assert e == IoOut(0x3F8, 4, b"\x78\x56\x34\x12", 1)
    assert e.value == 0x12345678
    buf[PAGE] = 0                              # the exit owns a copy
    assert e.data[0] == 0x78
    assert decode_exit(memoryview(buf)) == decode_exit(bytes(buf))


def test_io_out_rep_count():
    buf, run = page(K.KVM_EXIT_IO)
    run.io.direction, run.io.size, run.io.port = K.KVM_EXIT_IO_OUT, 1, 0x10
    run.io.count, run.io.data_offset = 5, PAGE
    buf[PAGE: PAGE + 5] = b"hello"
    assert decode_exit(buf) == IoOut(0x10, 1, b"hello", 5)


def test_io_data_outside_page_is_an_error_not_a_crash():
    buf, run = page(K.KVM_EXIT_IO)
    run.io.direction, run.io.size, run.io.count = K.KVM_EXIT_IO_OUT, 4, 1
    run.io.data_offset = 2 * PAGE - 2
    with pytest.raises(ValueError):
        decode_exit(buf)


def test_io_in():
    buf, run = page(K.KVM_EXIT_IO)
    run.io.direction, run.io.size, run.io.port = K.KVM_EXIT_IO_IN, 2, 0x60
    run.io.count, run.io.data_offset = 1, PAGE
    assert decode_exit(buf) == IoIn(0x60, 2, 1)


def test_simple_exits():
    assert decode_exit(page(K.KVM_EXIT_HLT)[0]) == Hlt()
    assert decode_exit(page(K.KVM_EXIT_SHUTDOWN)[0]) == Shutdown()
    assert decode_exit(page(K.KVM_EXIT_INTR)[0]) == Interrupted()


def test_mmio():
    buf, run = page(K.KVM_EXIT_MMIO)
    run.mmio.phys_addr, run.mmio.len, run.mmio.is_write = 0xFEE0_0000, 4, 1
    run.mmio.data[:4] = [1, 2, 3, 4]
    assert decode_exit(buf) == Mmio(0xFEE0_0000, b"\x01\x02\x03\x04", True)


def test_internal_error_with_insn_bytes():
    # what this host returned for `int3` at CPL 0 (flags=1: insn bytes valid; size 15; cc f4..)
    buf, run = page(K.KVM_EXIT_INTERNAL_ERROR)
    run.internal.suberror, run.internal.ndata = K.KVM_INTERNAL_ERROR_EMULATION, 4
    for i, v in enumerate((1, 0xF4CC0F, 0, 0x1000)):
        run.internal.data[i] = v
    e = decode_exit(buf)
    assert e == InternalError(1, (1, 0xF4CC0F, 0, 0x1000))
    assert e.name == "emulation failure"
    assert e.insn_bytes[:2] == b"\xcc\xf4" and len(e.insn_bytes) == 15
    assert "insn cc f4" in describe(e)


def test_internal_error_ndata_clamped():
    buf, run = page(K.KVM_EXIT_INTERNAL_ERROR)
    run.internal.suberror, run.internal.ndata = 3, 1000
    e = decode_exit(buf)
    assert len(e.data) == 16 and e.insn_bytes is None


def test_fail_entry_system_event_debug_unknown():
    buf, run = page(K.KVM_EXIT_FAIL_ENTRY)
    run.fail_entry.hardware_entry_failure_reason, run.fail_entry.cpu = 0x80000021, 3
    assert decode_exit(buf) == FailEntry(0x80000021, 3)

    buf, run = page(K.KVM_EXIT_SYSTEM_EVENT)
    run.system_event.type = K.KVM_SYSTEM_EVENT_RESET
    run.system_event.data[0] = 7
    e = decode_exit(buf)
    assert e == SystemEvent(K.KVM_SYSTEM_EVENT_RESET, (7,)) and e.name == "reset"

    buf, run = page(K.KVM_EXIT_DEBUG)
    run.debug.exception, run.debug.pc = 3, 0xFFFF_C000_0000_0010
    assert decode_exit(buf) == Debug(3, 0xFFFF_C000_0000_0010)

    buf, run = page(12345)
    run.hw.hardware_exit_reason = 0x30
    assert decode_exit(buf) == Unknown(12345, 0x30)


def test_decode_from_ctypes_struct():
    run = S.kvm_run()
    run.exit_reason = K.KVM_EXIT_HLT
    assert decode_exit(run) == Hlt()


def test_exits_are_frozen():
    e = IoOut(1, 1, b"a")
    with pytest.raises(dataclasses.FrozenInstanceError):
        e.port = 2
    assert describe(e) == "out port 0x1 size 1 data 61"
