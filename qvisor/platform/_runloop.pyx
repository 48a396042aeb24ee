# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""The C fast path of the pvm run loop: KVM_RUN with the GIL released, out-port exits served in C.

Owns: the inner loop only. serve() enters the vCPU again and again while every exit is an
`out` to a port registered in a dict, calling that port's Python callback with the GIL held; it
returns to the caller (qvisor.platform.runloop, never used directly) on anything else, which
decodes the exit with qvisor.kvm.exits.decode_exit and dispatches it in Python as before.

Reads from the kvm_run page only exit_reason and the io header (offsets in LAYOUT, which
runloop checks against qvisor.kvm.structs before using this module); writes only
immediate_exit (cleared after EINTR, like Vcpu.run). Port data are bounds-checked against the
mapping; an io header pointing outside it is returned to Python, whose decoder reports it.

Callbacks: a value callback (an instance of the `value_type` passed in, runloop.OutValue) is
called as fn(value) with the first item as an unsigned int, the qcall convention; any other
callable gets an IoOut (the Handlers contract). A true result stops the loop, None/False resume;
an exception propagates with the exit already consumed (as in the pure-Python loop).

EINTR (a signal, or immediate_exit set by Vcpu.kick) returns to Python at once, after
PyErr_CheckSignals has run the Python signal handlers (so a timeout handler has fired by
then; an exception it raises propagates from serve()).
"""

from cpython.buffer cimport PyBUF_WRITABLE, PyBuffer_Release, PyObject_GetBuffer
from cpython.bytes cimport PyBytes_FromStringAndSize
from cpython.dict cimport PyDict_GetItem
from cpython.exc cimport PyErr_CheckSignals
from cpython.ref cimport PyObject
from libc.errno cimport EINTR, errno
from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t
from libc.string cimport memcpy


cdef extern from "<sys/ioctl.h>" nogil:
    int ioctl(int fd, unsigned long request, ...)


# linux/kvm.h: _IO(KVMIO, 0x80); the kvm_run header (checked against structs.py by runloop)
cdef enum:
    _KVM_RUN = 0xAE80
    _OFF_IMMEDIATE_EXIT = 1
    _OFF_EXIT_REASON = 8
    _OFF_IO = 32            # kvm_run.io: direction u8, size u8, port u16, count u32, data_offset u64
    _IO_SIZE = 1
    _IO_PORT = 2
    _IO_COUNT = 4
    _IO_DATA_OFFSET = 8
    _KVM_EXIT_IO = 2
    _KVM_EXIT_IO_OUT = 1

LAYOUT = {
    "KVM_RUN": _KVM_RUN,
    "immediate_exit": _OFF_IMMEDIATE_EXIT,
    "exit_reason": _OFF_EXIT_REASON,
    "io": _OFF_IO,
    "io.size": _IO_SIZE, "io.port": _IO_PORT, "io.count": _IO_COUNT,
    "io.data_offset": _IO_DATA_OFFSET,
    "KVM_EXIT_IO": _KVM_EXIT_IO,
    "KVM_EXIT_IO_OUT": _KVM_EXIT_IO_OUT,
}

# serve() result codes: (code, served, errno)
cdef enum:
    _EXIT = 0           # an exit nobody served here is in the page: decode and dispatch it
    _STOP = 1           # a callback returned true; its IoOut is in the page
    _LIMIT = 2          # max_exits exits were served; the last one is in the page
    _INTERRUPTED = 3    # KVM_RUN returned EINTR (signal handlers have run; immediate_exit cleared)
    _ERROR = 4          # KVM_RUN failed with errno (third item)

EXIT, STOP, LIMIT, INTERRUPTED, ERROR = _EXIT, _STOP, _LIMIT, _INTERRUPTED, _ERROR


cdef inline uint32_t _u32(const uint8_t* p) noexcept nogil:
    cdef uint32_t v
    memcpy(&v, p, 4)
    return v


cdef inline uint64_t _u64(const uint8_t* p) noexcept nogil:
    cdef uint64_t v
    memcpy(&v, p, 8)
    return v


cdef inline uint16_t _u16(const uint8_t* p) noexcept nogil:
    cdef uint16_t v
    memcpy(&v, p, 2)
    return v


cdef inline uint64_t _item(const uint8_t* p, unsigned size) noexcept nogil:
    """The first item of port data, little endian (x86 port I/O sizes are 1, 2, 4)."""
    if size == 4:
        return _u32(p)
    if size == 1:
        return p[0]
    if size == 2:
        return _u16(p)
    cdef uint64_t v = 0
    cdef unsigned i
    for i in range(size if size < 8 else 8):
        v |= (<uint64_t>p[i]) << (8 * i)
    return v


def serve(int fd, page, dict outs not None, value_type, ioout, long max_exits=-1):
    """Run the vCPU `fd` whose kvm_run mapping is the writable buffer `page` (the vCPU's mmap:
    holding it keeps the mapping alive even if the Vcpu is closed from a callback).

    outs: port -> callback, read live at every exit. max_exits < 0: no limit; otherwise stop
    (LIMIT) once that many exits were served (at least one is always entered). value_type: the
    class whose instances are value callbacks (their .fn gets the int); ioout: the IoOut class.
    Returns (code, served, errno) with the codes above; served counts exits handled and resumed
    here (a stopping exit is not counted)."""
    cdef Py_buffer view
    cdef uint8_t* p
    cdef Py_ssize_t plen
    cdef long served = 0
    cdef int r, err = 0
    cdef unsigned size
    cdef uint16_t port
    cdef uint32_t count
    cdef uint64_t off, nbytes
    cdef PyObject* cbp
    PyObject_GetBuffer(page, &view, PyBUF_WRITABLE)
    try:
        p = <uint8_t*>view.buf
        plen = view.len
        if plen < _OFF_IO + 16:
            raise ValueError(f"kvm_run mapping of {plen} bytes is too small")
        while True:
            with nogil:
                r = ioctl(fd, _KVM_RUN, 0)
                if r < 0:
                    err = errno
            if r < 0:
                if err == EINTR:
                    try:
                        PyErr_CheckSignals()      # runs Python handlers; raises what they raise
                    finally:
                        p[_OFF_IMMEDIATE_EXIT] = 0    # after them: a kick they made is consumed
                    return _INTERRUPTED, served, 0
                return _ERROR, served, err
            if (_u32(p + _OFF_EXIT_REASON) != _KVM_EXIT_IO
                    or p[_OFF_IO] != _KVM_EXIT_IO_OUT):
                return _EXIT, served, 0
            port = _u16(p + _OFF_IO + _IO_PORT)
            key = port
            cbp = PyDict_GetItem(outs, key)
            if cbp is NULL:
                return _EXIT, served, 0
            cb = <object>cbp                      # a reference: the callback may edit outs
            size = p[_OFF_IO + _IO_SIZE]
            count = _u32(p + _OFF_IO + _IO_COUNT)
            off = _u64(p + _OFF_IO + _IO_DATA_OFFSET)
            nbytes = <uint64_t>size * count
            if size == 0 or count == 0 or off > <uint64_t>plen or nbytes > <uint64_t>plen - off:
                return _EXIT, served, 0            # the Python decoder reports the bad header
            if type(cb) is value_type:
                res = cb.fn(_item(p + off, size))
            else:
                res = cb(ioout(key, size, PyBytes_FromStringAndSize(<char*>p + off,
                                                                     <Py_ssize_t>nbytes), count))
            if res is not None and res is not False and (res is True or res):
                return _STOP, served, 0
            served += 1
            if max_exits >= 0 and served >= max_exits:
                return _LIMIT, served, 0
    finally:
        PyBuffer_Release(&view)


def spin(int fd, page, long n):
    """Measurement only (bench/kvm_exit.py): enter the vCPU up to n times while it exits with
    `out` (any port), no Python per exit. Returns (outs seen, code, errno) with code EXIT when a
    non-out exit stopped it (left in the page), LIMIT after n, INTERRUPTED or ERROR."""
    cdef Py_buffer view
    cdef uint8_t* p
    cdef long i = 0
    cdef int r = 0, err = 0, code = _LIMIT
    PyObject_GetBuffer(page, &view, PyBUF_WRITABLE)
    try:
        p = <uint8_t*>view.buf
        if view.len < _OFF_IO + 16:
            raise ValueError(f"kvm_run mapping of {view.len} bytes is too small")
        with nogil:
            while i < n:
                r = ioctl(fd, _KVM_RUN, 0)
                if r < 0:
                    err = errno
                    code = _INTERRUPTED if err == EINTR else _ERROR
                    break
                if _u32(p + _OFF_EXIT_REASON) != _KVM_EXIT_IO or p[_OFF_IO] != _KVM_EXIT_IO_OUT:
                    code = _EXIT
                    break
                i += 1
        if code == _INTERRUPTED:
            try:
                PyErr_CheckSignals()
            finally:
                p[_OFF_IMMEDIATE_EXIT] = 0
        return i, code, err
    finally:
        PyBuffer_Release(&view)
