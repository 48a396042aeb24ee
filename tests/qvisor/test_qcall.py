"""The host's qcall server against hostile requests: every bad guest address or length gives
the guest an errno (or stops the VM for a bad block), never a host exception or stray access."""

from __future__ import annotations

import errno
import os
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qkernel import abi as K
from qvisor.memory import GuestMemory
from qvisor.qcall import GuestExit, KernelPanic, QcallFault, QcallServer

MEM = 4 << 20
BLOCK = 0x1000


@pytest.fixture
def mem():
    m = GuestMemory(MEM)
    yield m
    m.close()


def call(server: QcallServer, mem: GuestMemory, nr: int, *args: int, block: int = BLOCK) -> int:
    a = list(args) + [0] * (6 - len(args))
    mem.write(block, struct.pack("<Q6QQ", nr, *[x & (2**64 - 1) for x in a], 0))
    server.handle(block)
    r = mem.read_u64(block + 56)
    return r - 2**64 if r >> 63 else r


def server_with_pipe(mem):
    r, w = os.pipe()
    return QcallServer(mem, stdout=w, stderr=w), r, w


def test_console_write_delivers_bytes(mem):
    srv, r, w = server_with_pipe(mem)
    mem.write(0x2000, b"hello\n")
    assert call(srv, mem, K.QCALL_CONSOLE_WRITE, 1, 0x2000, 6) == 6
    assert os.read(r, 100) == b"hello\n"
    os.close(r)
    os.close(w)


@pytest.mark.parametrize("addr, length", [
    (MEM - 3, 10),            # runs off the end
    (MEM, 1),                 # starts at the end
    (2**64 - 4, 16),          # wraps around 2^64
    (2**63, 1),               # far outside
    (0x2000, 2**64 - 1),      # huge length (capped, still outside)
])
def test_console_write_bad_range_is_efault(mem, addr, length):
    srv, r, w = server_with_pipe(mem)
    assert call(srv, mem, K.QCALL_CONSOLE_WRITE, 1, addr, length) == -errno.EFAULT
    os.close(r)
    os.close(w)


def test_console_write_bad_fd_is_ebadf(mem):
    srv = QcallServer(mem)
    assert call(srv, mem, K.QCALL_CONSOLE_WRITE, 7, 0x2000, 1) == -errno.EBADF


def test_random_fills_and_rejects_bad_ranges(mem):
    srv = QcallServer(mem)
    assert call(srv, mem, K.QCALL_RANDOM, 0x3000, 64) == 64
    assert mem.read(0x3000, 64) != bytes(64)
    assert call(srv, mem, K.QCALL_RANDOM, MEM - 8, 64) == -errno.EFAULT
    assert call(srv, mem, K.QCALL_RANDOM, 0x3000, 2**40) == -errno.EINVAL
    assert mem.read(MEM - 8, 8) == bytes(8)  # nothing written on failure


def test_clock_ids(mem):
    srv = QcallServer(mem)
    a = call(srv, mem, K.QCALL_CLOCK, 1)
    b = call(srv, mem, K.QCALL_CLOCK, 1)
    assert 0 < a <= b
    assert call(srv, mem, K.QCALL_CLOCK, 99) == -errno.EINVAL


def test_unknown_qcall_is_enosys_and_logged_once(mem):
    srv = QcallServer(mem)
    assert call(srv, mem, 999) == -errno.ENOSYS
    assert call(srv, mem, 999) == -errno.ENOSYS
    assert srv.log.count("host: unknown qcall 999") == 1


@pytest.mark.parametrize("block", [MEM - 8, MEM + 0x1000, 2**64 - 16, 2**32 + 5])
def test_block_outside_memory_stops_the_vm(mem, block):
    srv = QcallServer(mem)
    with pytest.raises(QcallFault):
        srv.handle(block)


def test_exit_and_panic_stop_the_run(mem):
    srv = QcallServer(mem)
    with pytest.raises(GuestExit) as ex:
        call(srv, mem, K.QCALL_EXIT, 300)
    assert ex.value.status == 300 & 0xFF
    mem.write(0x5000, b"boom")
    with pytest.raises(KernelPanic) as p:
        call(srv, mem, K.QCALL_PANIC, 0x5000, 4, 0)
    assert p.value.message == "boom"
    with pytest.raises(KernelPanic) as p:
        call(srv, mem, K.QCALL_PANIC, 2**64 - 1, 4, 0)
    assert "invalid address" in p.value.message


@settings(max_examples=300, deadline=None)
@given(nr=st.integers(0, 10), args=st.lists(st.integers(0, 2**64 - 1), min_size=6, max_size=6))
def test_arbitrary_requests_never_raise_anything_unexpected(nr, args):
    m = GuestMemory(1 << 20)
    try:
        r, w = os.pipe()
        os.set_blocking(w, False)
        srv = QcallServer(m, stdout=w, stderr=w)
        if nr == K.QCALL_CONSOLE_WRITE:
            args[2] &= 0xFFFF  # keep the pipe from filling; ranges stay hostile
        try:
            call(srv, m, nr, *args)
        except (GuestExit, KernelPanic):
            pass
        finally:
            os.close(r)
            os.close(w)
    finally:
        m.close()


# ---- services: each registers its own qcalls


def test_a_new_host_call_is_one_service_method(mem):
    from qvisor.services import Service, qcall

    class Upper(Service):
        @qcall(900)
        def upper(self, buf: int, length: int) -> int:
            self.memory.write(buf, self.memory.read(buf, length).upper())
            return length

    srv = QcallServer(mem)
    srv.register(Upper())
    mem.write(0x2000, b"shout")
    assert call(srv, mem, 900, 0x2000, 5, 0xDEAD, 0xBEEF) == 5   # unused args are not passed
    assert mem.read(0x2000, 5) == b"SHOUT"
    assert call(srv, mem, 900, MEM - 2, 5) == -errno.EFAULT
    assert srv.table[900].name == "Upper.upper" and srv.table[900].nargs == 2


def test_a_qcall_number_has_one_service(mem):
    from qvisor.services import Service, qcall

    class Clash(Service):
        @qcall(K.QCALL_CLOCK)
        def clock(self, clock_id: int) -> int:
            return 0

    srv = QcallServer(mem)
    with pytest.raises(ValueError, match="both serve"):
        srv.register(Clash())
    assert call(srv, mem, K.QCALL_CLOCK, 1) > 0             # the table is unchanged


def test_handlers_take_plain_positional_arguments(mem):
    from qvisor.services import Service, qcall

    class Bad(Service):
        @qcall(901)
        def many(self, *args: int) -> int:
            return 0

    with pytest.raises(TypeError, match="positional"):
        QcallServer(mem).register(Bad())


def test_every_abi_qcall_has_its_service(mem, tmp_path):
    from qvisor.fs import HostFiles
    from qvisor.qcall import ABI_QCALLS
    with HostFiles(str(tmp_path)) as files:
        srv = QcallServer(mem, files=files)
        assert set(srv.table) == set(ABI_QCALLS)
        srv.close()
