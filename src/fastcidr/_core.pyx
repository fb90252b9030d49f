# cython: language_level=3
"""The compiled core: ``CIDRAllocator`` (one CIDR, O(1) operations) and, re-exported from
``_addr``, the strict address helpers.

Everything on the hot path is C: the parser and formatter (``include/fc_addr.h``), the random
generator (``fc_rng.h``), the hierarchical bitmap / run index (``fc_space.h``) and the result
string, built straight from a char buffer. The algorithms are those of ``docs/ALGORITHMS.md``,
shared bit for bit with the pure-Python twin ``_core_twin.py``.

>>> from fastcidr._core import CIDRAllocator
>>> a = CIDRAllocator("10.96.0.0/28", strategy="sequential")
>>> a.allocate_next()
'10.96.0.1'
"""
cimport cython
from cpython.bytes cimport PyBytes_AS_STRING
from cpython.long cimport PyLong_AsUnsignedLongLong, PyLong_FromUnsignedLongLong
from cpython.object cimport PyObject
from cpython.ref cimport Py_INCREF
from libc.stdint cimport int64_t, uint16_t, uint32_t, uint64_t
from libc.stdlib cimport free, malloc, realloc
from libc.string cimport memcpy, memset

import os as _os

from fastcidr import _freespace
from fastcidr._rules import OUTPUTS as _OUTPUTS, output_code as _output_code
from fastcidr._rules import output_formatter as _output_formatter, output_maker as _output_maker
from fastcidr._addr import canonical_cidr, canonical_ip, format_cidr, format_ip, parse_cidr, parse_ip

from fastcidr.errors import (
    AlreadyAllocatedError,
    InvalidAddressError,
    NotInRangeError,
    RangeFullError,
    SnapshotError,
)

__all__ = [
    "CIDRAllocator",
    "parse_ip",
    "parse_cidr",
    "format_ip",
    "format_cidr",
    "canonical_ip",
    "canonical_cidr",
]

from fastcidr._addr cimport (
    _addr_to_int,
    _format,
    _format_cidr,
    _int_to_addr,
    _ip_error,
    _parse_any_cidr,
    _parse_object_ip,
    _reason,
)
from fastcidr._fc cimport (
    FC_ADDR_BUFSIZE,
    FC_ERR_NON_ASCII,
    FC_NONE,
    FC_OK,
    fc_addr,
    fc_addr_at,
    fc_addr_from_be16,
    fc_addr_to_be16,
    fc_band_offset,
    fc_format_ip,
    fc_format_ipv4,
    fc_has_host_bits,
    fc_overlaps_v4mapped,
    fc_parse_ip,
    fc_rng,
    fc_rng_bounded,
    fc_rng_seed,
    fc_size,
    fc_space,
    fc_space_clear,
    fc_space_copy,
    fc_space_count,
    fc_space_count_range,
    fc_space_first_used,
    fc_space_free,
    fc_space_init,
    fc_space_memory,
    fc_space_next_run,
    fc_space_set,
    fc_space_take_first_free,
    fc_space_test,
    fc_bytes_drop,
    fc_bytes_finish,
    fc_bytes_new,
    fc_list_set_new,
    fc_py_ascii,
    fc_py_ascii_data,
    fc_crc32,
    fc_platform_init,
    fc_snap_bound,
    fc_snap_check_v1,
    fc_snap_encode,
    fc_snap_error_text,
    fc_snap_read,
    fc_snap_load_v1,
)

cdef extern from "Python.h":
    object PyList_New(Py_ssize_t n)
    bint PyUnicode_Check(object o)
    bint PyLong_Check(object o)
    Py_ssize_t PY_SSIZE_T_MAX

fc_platform_init()

cdef object _MAPPED_MSG = "overlaps the IPv4-mapped range ::ffff:0:0/96"

# Snapshot layout (docs/ALGORITHMS.md): little-endian; versions 1 (runs) and 2 (blocks).
cdef enum:
    SNAP_HEADER = 73   # magic 4, version 2, family 1, prefix 1, network 16, strategy 1,
                       # rng 32, used 8, nruns (v1) or body length (v2) 8
    SNAP_RUN = 16
    SNAP_CRC = 4

cdef enum:
    STRATEGY_RANDOM = 0
    STRATEGY_SEQUENTIAL = 1

# ------------------------------------------------------------------------------------------
# CIDRAllocator
# ------------------------------------------------------------------------------------------

cdef inline void _put_u16(unsigned char *p, uint16_t v) noexcept nogil:
    p[0] = <unsigned char>v
    p[1] = <unsigned char>(v >> 8)


cdef inline void _put_u64(unsigned char *p, uint64_t v) noexcept nogil:
    cdef int i
    for i in range(8):
        p[i] = <unsigned char>(v >> (8 * i))


cdef inline uint64_t _get_u64(const unsigned char *p) noexcept nogil:
    cdef uint64_t v = 0
    cdef int i
    for i in range(7, -1, -1):
        v = (v << 8) | p[i]
    return v


cdef inline uint16_t _get_u16(const unsigned char *p) noexcept nogil:
    return <uint16_t>(p[0] | (p[1] << 8))


cdef inline uint32_t _get_u32(const unsigned char *p) noexcept nogil:
    return <uint32_t>p[0] | (<uint32_t>p[1] << 8) | (<uint32_t>p[2] << 16) | (<uint32_t>p[3] << 24)


cdef class CIDRAllocator:
    """Addresses of one CIDR with Kubernetes' semantics, every operation O(1).

    ``CIDRAllocator(cidr, *, seed=None, strategy="random")``: ``cidr`` is IPv4 (any prefix) or
    IPv6 with a prefix of at least 64. ``strategy="random"`` draws a start in the dynamic band and
    takes the first free address at or after it (wrapping inside the band), then does the same in
    the static band, as Kubernetes does; ``"sequential"`` takes the lowest free address of the
    dynamic band, then of the static band. ``seed`` makes ``"random"`` reproducible.

    Thread safety: every public method is atomic with respect to other threads. The whole C state
    is updated before any Python object is created, and no Python code runs in the middle of a
    change, so holding the GIL makes each call atomic; on free-threaded builds each call runs
    inside a critical section on the allocator.

    >>> a = CIDRAllocator("192.168.1.0/28", seed=7)
    >>> a.allocate("192.168.1.5")
    '192.168.1.5'
    >>> "192.168.1.5" in a, len(a), a.free
    (True, 1, 13)
    >>> a.release("192.168.1.5")
    >>> a.size, a.band_offset, a.first, a.last
    (14, 0, '192.168.1.1', '192.168.1.14')
    """

    cdef fc_space space
    cdef fc_rng rng
    cdef fc_addr net
    cdef uint64_t size
    cdef uint64_t band
    cdef uint64_t used_static
    cdef uint32_t first_v4      # network + 1 for IPv4 (the formatting fast path)
    cdef int family
    cdef int prefix
    cdef int strategy
    cdef bint ready
    @cython.final
    cdef object _cidr_text
    cdef int out               # output type: 0 str, 1 int, 2 ipaddress, 3 netaddr (_rules.OUTPUTS)
    @cython.final
    cdef object _maker         # int -> address object (out 2, 3)
    @cython.final
    cdef object _formatter     # (family, int) -> output, for the free-space calls
    @cython.final
    cdef object __weakref__

    def __cinit__(self, *args, **kwargs):
        self.ready = False
        memset(&self.space, 0, sizeof(fc_space))

    def __dealloc__(self):
        if self.ready:
            fc_space_free(&self.space)
            self.ready = False

    def __init__(self, cidr, *, seed=None, strategy="random", output="str"):
        cdef int family = 0, prefix = 0, strat, out
        cdef fc_addr net
        cdef uint64_t seed64
        if self.ready:
            raise TypeError("CIDRAllocator is already initialised")
        strat = _strategy_code(strategy)
        seed64 = _seed_value(seed)
        out = _output_code(output)
        _parse_any_cidr(cidr, &family, &net, &prefix)
        self._setup(family, net, prefix, strat)
        self._set_output(out)
        fc_rng_seed(&self.rng, seed64)

    @cython.final
    cdef int _set_output(self, int out) except -1:
        self.out = out
        self._maker = _output_maker(out, self.family)
        # text through the compiled formatter (_rules' is the twin's, in Python)
        self._formatter = format_ip if out == 0 else _output_formatter(out)
        return 0

    @cython.final
    cdef inline object _out_at(self, uint64_t off):
        """The address at offset ``off`` in the output type."""
        if self.out == 0:
            return self._text_at(off)
        if self.out == 1:
            return self._int_at(off)
        return self._maker(self._int_at(off))

    @cython.final
    cdef int _setup(self, int family, fc_addr net, int prefix, int strategy) except -1:
        if family == 6 and prefix < 64:
            raise InvalidAddressError(
                f"shortest allowed prefix length for service CIDR is 64, got {prefix}"
            )
        if family == 6 and fc_overlaps_v4mapped(net, prefix):
            raise InvalidAddressError(
                f"invalid CIDR {_format_cidr(family, net, prefix)!r}: {_MAPPED_MSG}"
            )
        self.family = family
        self.net = net
        self.prefix = prefix
        self.strategy = strategy
        self.size = fc_size(family, prefix)
        self.band = fc_band_offset(family, prefix)
        self.used_static = 0
        self.first_v4 = <uint32_t>(net.lo + 1)
        self._cidr_text = _format_cidr(family, net, prefix)
        if fc_space_init(&self.space, self.size) != 0:
            fc_space_free(&self.space)
            raise MemoryError()
        self.ready = True
        return 0

    @cython.final
    cdef inline int _check(self) except -1:
        if not self.ready:
            raise ValueError("CIDRAllocator is not initialised")
        return 0

    # -------------------------------------------------------------- C-level core operations

    @cython.final
    cdef inline int _take_next(self, uint64_t *out) noexcept nogil:
        """The next offset by the strategy, taken. 0 ok, 1 full, -1 out of memory."""
        cdef uint64_t used = fc_space_count(&self.space)
        cdef uint64_t band = self.band, size = self.size, start
        cdef int r
        if used - self.used_static < size - band:
            if self.strategy == STRATEGY_RANDOM:
                start = band + fc_rng_bounded(&self.rng, size - band)
            else:
                start = band
            r = fc_space_take_first_free(&self.space, start, size, out)
            if r == 0:
                r = fc_space_take_first_free(&self.space, band, start, out)
        elif self.used_static < band:
            if self.strategy == STRATEGY_RANDOM:
                start = fc_rng_bounded(&self.rng, band)
            else:
                start = 0
            r = fc_space_take_first_free(&self.space, start, band, out)
            if r == 0:
                r = fc_space_take_first_free(&self.space, 0, start, out)
            if r == 1:
                self.used_static += 1
        else:
            return 1
        if r == 1:
            return 0
        return 1 if r == 0 else -1  # none found is unreachable while the counters are right

    @cython.final
    cdef inline object _text_at(self, uint64_t off):
        cdef char buf[FC_ADDR_BUFSIZE]
        cdef size_t n
        if self.family == 4:
            n = fc_format_ipv4(self.first_v4 + <uint32_t>off, buf)
        else:
            n = fc_format_ip(6, fc_addr_at(self.net, off), buf)
        return <object>fc_py_ascii(buf, <Py_ssize_t>n)

    @cython.final
    cdef inline PyObject *_text_at_new(self, uint64_t off) except NULL:
        cdef char buf[FC_ADDR_BUFSIZE]
        cdef size_t n
        if self.family == 4:
            n = fc_format_ipv4(self.first_v4 + <uint32_t>off, buf)
        else:
            n = fc_format_ip(6, fc_addr_at(self.net, off), buf)
        return fc_py_ascii(buf, <Py_ssize_t>n)

    @cython.final
    cdef inline object _int_at(self, uint64_t off):
        if self.family == 4:
            return PyLong_FromUnsignedLongLong(self.first_v4 + <uint32_t>off)
        return _addr_to_int(fc_addr_at(self.net, off))

    @cython.final
    cdef int _locate(self, object ip, uint64_t *off, int *family, fc_addr *a) except -1:
        """Parse ``ip`` (str, int of this family, address object). 1 and the offset when this
        CIDR holds it as a host, else 0; unparseable input raises InvalidAddressError."""
        cdef Py_ssize_t n = 0
        cdef const char *data
        cdef int r
        if PyUnicode_Check(ip):
            data = fc_py_ascii_data(ip, &n)
            if data == NULL:
                raise _ip_error(ip, _reason(FC_ERR_NON_ASCII))
            r = fc_parse_ip(data, <size_t>n, family, a)
            if r != FC_OK:
                raise _ip_error(ip, _reason(r))
        elif PyLong_Check(ip) and not isinstance(ip, bool):
            if not _int_to_addr(ip, self.family, a):
                raise _ip_error(ip, f"out of the {'IPv4' if self.family == 4 else 'IPv6'} address range")
            family[0] = self.family
        else:
            _parse_object_ip(ip, family, a)
        # usable addresses are net+1 .. net+size; an IPv6 range (prefix >= 64) shares its high word
        if family[0] != self.family or a.hi != self.net.hi or a.lo <= self.net.lo:
            return 0
        off[0] = a.lo - self.net.lo - 1
        return off[0] < self.size

    @cython.final
    cdef object _not_in_range(self, int family, fc_addr a):
        return NotInRangeError(_format(family, a), self._cidr_text)

    # -------------------------------------------------------------- public API

    @property
    def cidr(self):
        """The CIDR, canonical text."""
        return self._cidr_text

    @property
    def family(self):
        """``"IPv4"`` or ``"IPv6"``."""
        return "IPv4" if self.family == 4 else "IPv6"

    @property
    def size(self):
        """Usable addresses (Kubernetes' formula, up to 2**64-1)."""
        return self.size

    @property
    def first(self):
        """First usable address, or None when the range is empty."""
        if self.size == 0:
            return None
        return self._out_at(0)

    @property
    def last(self):
        """Last usable address, or None when the range is empty."""
        if self.size == 0:
            return None
        return self._out_at(self.size - 1)

    @property
    def band_offset(self):
        """Size of the static (lower) band."""
        return self.band

    @property
    def used(self):
        """Allocated addresses."""
        return fc_space_count(&self.space)

    @property
    def free(self):
        """Free addresses."""
        return self.size - fc_space_count(&self.space)

    @property
    def strategy(self):
        """``"random"`` or ``"sequential"``."""
        return "random" if self.strategy == STRATEGY_RANDOM else "sequential"

    @property
    def output(self):
        """What the calls return for an address: ``"str"``, ``"int"``, ``"ipaddress"``, ``"netaddr"``."""
        return _OUTPUTS[self.out]

    @cython.binding(False)
    def allocate_next(self):
        """The next address by the strategy (canonical text, or the output type); ``RangeFullError``
        when full."""
        cdef uint64_t off = 0
        cdef int r
        with cython.critical_section(self):
            r = self._take_next(&off)
        if r == 0:
            return self._out_at(off)
        if r > 0:
            raise RangeFullError()
        raise MemoryError()

    @cython.binding(False)
    def allocate_next_int(self):
        """Like ``allocate_next()`` but returns the address as an int."""
        cdef uint64_t off = 0
        cdef int r
        with cython.critical_section(self):
            r = self._take_next(&off)
        if r == 0:
            return self._int_at(off)
        if r > 0:
            raise RangeFullError()
        raise MemoryError()

    @cython.final
    cdef uint64_t *_take_many(self, object n_obj, Py_ssize_t *count) except? NULL:
        """Take n offsets (all or nothing) into a malloc'd array; NULL and *count == 0 for n == 0."""
        cdef Py_ssize_t n, i
        cdef uint64_t *offs
        cdef uint64_t saved_static
        cdef fc_rng saved_rng
        cdef int r = 0
        if not PyLong_Check(n_obj) or isinstance(n_obj, bool):
            raise TypeError(f"n must be an int, not {type(n_obj).__name__}")
        if n_obj < 0:
            raise ValueError(f"n must be >= 0, got {n_obj}")
        if n_obj > self.size - fc_space_count(&self.space):
            raise RangeFullError()
        if n_obj > (<Py_ssize_t>1 << 40):  # a list that long cannot be built anyway
            raise MemoryError(f"cannot return {n_obj} addresses in one list")
        n = n_obj
        count[0] = n
        if n == 0:
            return NULL
        offs = <uint64_t *>malloc(<size_t>n * sizeof(uint64_t))
        if offs == NULL:
            raise MemoryError()
        with cython.critical_section(self):
            if <uint64_t>n > self.size - fc_space_count(&self.space):  # changed meanwhile
                r = 1
            else:
                saved_rng = self.rng
                saved_static = self.used_static
                for i in range(n):
                    r = self._take_next(&offs[i])
                    if r != 0:
                        # roll back: out of memory (full cannot happen: counted above)
                        while i > 0:
                            i -= 1
                            fc_space_clear(&self.space, offs[i])
                        self.rng = saved_rng
                        self.used_static = saved_static
                        break
        if r != 0:
            free(offs)
            if r > 0:
                raise RangeFullError()
            raise MemoryError()
        return offs

    def allocate_many(self, n):
        """``n`` addresses by the strategy, all or nothing (``RangeFullError`` and nothing taken
        when fewer are free). The same as ``n`` successive ``allocate_next()`` calls."""
        cdef Py_ssize_t count = 0, i
        cdef uint64_t *offs = self._take_many(n, &count)
        cdef PyObject *item
        if count == 0:
            return []
        try:
            if self.out != 0:
                result = [self._out_at(offs[i]) for i in range(count)]
                free(offs)
                return result
            result = PyList_New(count)
            for i in range(count):
                item = self._text_at_new(offs[i])
                fc_list_set_new(result, i, item)
        except BaseException:
            self._give_back(offs, count)
            free(offs)
            raise
        free(offs)
        return result

    def allocate_many_int(self, n):
        """Like ``allocate_many(n)`` but returns ints."""
        cdef Py_ssize_t count = 0, i
        cdef uint64_t *offs = self._take_many(n, &count)
        if count == 0:
            return []
        try:
            result = PyList_New(count)
            for i in range(count):
                value = self._int_at(offs[i])
                Py_INCREF(value)  # the list steals this reference
                fc_list_set_new(result, i, <PyObject *>value)
        except BaseException:
            self._give_back(offs, count)
            free(offs)
            raise
        free(offs)
        return result

    @cython.final
    cdef void _give_back(self, uint64_t *offs, Py_ssize_t count):
        """Undo a batch whose result could not be built (out of memory)."""
        cdef Py_ssize_t i
        with cython.critical_section(self):
            for i in range(count):
                if fc_space_clear(&self.space, offs[i]) == 1 and offs[i] < self.band:
                    self.used_static -= 1

    @cython.binding(False)
    def allocate(self, ip):
        """Take that address (either band). ``AlreadyAllocatedError`` if taken,
        ``NotInRangeError`` if this CIDR does not hold it as a usable address."""
        cdef uint64_t off = 0
        cdef int family = 0, r
        cdef fc_addr a
        if not self._locate(ip, &off, &family, &a):
            raise self._not_in_range(family, a)
        with cython.critical_section(self):
            r = fc_space_set(&self.space, off)
            if r == 1 and off < self.band:
                self.used_static += 1
        if r == 1:
            if self.out != 0:
                return self._out_at(off)
            if family == 4 and type(ip) is str:
                return ip  # strict IPv4 text is canonical: no new string needed
            return self._text_at(off)
        if r == 0:
            raise AlreadyAllocatedError()
        raise MemoryError()

    @cython.binding(False)
    def release(self, ip):
        """Free that address; a no-op for a free or out-of-range address (idempotent)."""
        cdef uint64_t off = 0
        cdef int family = 0
        cdef fc_addr a
        if self._locate(ip, &off, &family, &a):
            with cython.critical_section(self):
                if fc_space_clear(&self.space, off) == 1 and off < self.band:
                    self.used_static -= 1

    @cython.binding(False)
    def has(self, ip):
        """True when the address is allocated here."""
        cdef uint64_t off = 0
        cdef int family = 0
        cdef fc_addr a
        if self._locate(ip, &off, &family, &a):
            return fc_space_test(&self.space, off) != 0
        return False

    def __contains__(self, ip):
        cdef uint64_t off = 0
        cdef int family = 0
        cdef fc_addr a
        if self._locate(ip, &off, &family, &a):
            return fc_space_test(&self.space, off) != 0
        return False

    def __len__(self):
        cdef uint64_t used = fc_space_count(&self.space)
        if used > <uint64_t>PY_SSIZE_T_MAX:
            raise OverflowError(f"{used} addresses do not fit len(); use .used")
        return <Py_ssize_t>used

    # -- free space (docs/ALGORITHMS.md "Free space"; the argument checks are in _freespace) ------
    def _free_runs(self, cidr, after, Py_ssize_t limit):
        """Maximal free runs ``(family, first, last)`` (ints) after ``after``; at most limit (0: all)."""
        cdef int family = 0, prefix = 0
        cdef fc_addr net
        cdef uint64_t start = 0, p, s = 0, e = 0, end, nruns = 0, cap = 0
        cdef uint64_t *runs = NULL
        cdef uint64_t *grown
        cdef bint nomem = False
        cdef Py_ssize_t i
        if cidr is not None:
            _parse_any_cidr(cidr, &family, &net, &prefix)
            if family != self.family or prefix != self.prefix or net.hi != self.net.hi or net.lo != self.net.lo:
                raise KeyError(_format_cidr(family, net, prefix))
        base = _addr_to_int(self.net) + 1
        if after is not None:
            after_family, value = after
            if after_family > self.family or (after_family == self.family and value >= base + self.size - 1):
                return []
            if after_family == self.family and value >= base:
                start = <uint64_t>(value - base + 1)
        with cython.critical_section(self):  # C reads only: no Python object until the list
            p = start
            while p < self.size and (limit == 0 or nruns < <uint64_t>limit):
                if fc_space_next_run(&self.space, p, &s, &e) and s < self.size:
                    end = s
                else:
                    end = self.size
                    e = self.size - 1
                if end > p:
                    if nruns == cap:
                        cap = cap * 2 if cap else 16
                        grown = <uint64_t *>realloc(runs, <size_t>cap * 2 * sizeof(uint64_t))
                        if grown == NULL:
                            nomem = True
                            break
                        runs = grown
                    runs[2 * nruns] = p
                    runs[2 * nruns + 1] = end - 1
                    nruns += 1
                if e >= self.size - 1:
                    break
                p = e + 1
        try:
            if nomem:
                raise MemoryError()
            return [(self.family, base + runs[2 * i], base + runs[2 * i + 1]) for i in range(<Py_ssize_t>nruns)]
        finally:
            free(runs)

    def free_ranges(self, cidr=None, *, limit=None):
        """Maximal runs of free usable addresses, ``(first, last)`` canonical text, in address
        order; at most ``limit`` runs. O(runs), not O(addresses). ``cidr``: this allocator's CIDR
        or None (anything else: ``KeyError``)."""
        return _freespace.free_ranges(self, cidr, limit, self._formatter)

    def iter_free(self, cidr=None):
        """The free usable addresses, lazily, in address order."""
        return _freespace.iter_free(self, cidr, self._formatter)

    def first_free(self, n, cidr=None):
        """The first ``n`` free usable addresses in address order (fewer if fewer are free); O(n)."""
        return _freespace.first_free(self, n, cidr, self._formatter)

    def stats(self):
        """``{"size", "used", "free", "utilisation"}`` (utilisation = used / size, 0.0 if size is 0)."""
        cdef uint64_t used
        with cython.critical_section(self):
            used = fc_space_count(&self.space)
        return _freespace.utilisation(self.size, used)

    def __iter__(self):
        return _AllocatorIterator(self)

    @cython.final
    cdef int _next_used(self, uint64_t pos, uint64_t *off) noexcept:
        if pos >= self.size:
            return 0
        off[0] = fc_space_first_used(&self.space, pos, self.size)
        return off[0] != FC_NONE

    # -------------------------------------------------------------- snapshots and copies

    def snapshot(self):
        """A versioned, checksummed bytes image (docs/ALGORITHMS.md "Snapshot format", version 2:
        per 64 Ki-address block a bitmap, a run list or a one-byte tag); ``restore`` reads it."""
        cdef size_t cap
        cdef int64_t body = -1
        cdef unsigned char *p
        cdef PyObject *buf = NULL
        # The bytes object is made outside the critical section (making it may run Python code);
        # if the state grew past the bound meanwhile, measure again.
        while body < 0:
            with cython.critical_section(self):
                cap = fc_snap_bound(&self.space)
            buf = fc_bytes_new(<Py_ssize_t>(SNAP_HEADER + cap + SNAP_CRC))
            p = <unsigned char *>PyBytes_AS_STRING(<object>buf)
            with cython.critical_section(self):
                body = fc_snap_encode(&self.space, p + SNAP_HEADER, cap)
                if body >= 0:
                    self._put_header(p, 2, <uint64_t>body)
            if body < 0:
                fc_bytes_drop(buf)
                if body == -2:
                    raise MemoryError()
        buf = fc_bytes_finish(buf, SNAP_HEADER + <Py_ssize_t>body + SNAP_CRC)
        result = <object>buf  # a reference of its own; the raw one is dropped
        fc_bytes_drop(buf)
        return result

    @cython.final
    cdef void _put_header(self, unsigned char *p, uint16_t version, uint64_t last) noexcept:
        cdef int i
        memcpy(p, b"FCAL", 4)
        _put_u16(p + 4, version)
        p[6] = <unsigned char>self.family
        p[7] = <unsigned char>self.prefix
        fc_addr_to_be16(self.net, p + 8)
        p[24] = <unsigned char>self.strategy
        for i in range(4):
            _put_u64(p + 25 + 8 * i, self.rng.s[i])
        _put_u64(p + 57, fc_space_count(&self.space))
        _put_u64(p + 65, last)

    @classmethod
    def restore(cls, data, *, output="str"):
        """A ``CIDRAllocator`` from ``snapshot()`` bytes (bytes, bytearray or memoryview) of
        format version 2 or 1. Everything is validated before use; any defect raises
        ``SnapshotError`` (a ValueError). A snapshot holds state only: ``output`` is chosen here
        (pickle and ``copy()`` keep the allocator's own)."""
        cdef const unsigned char *p
        cdef Py_ssize_t n
        cdef int family, prefix, strategy, i, version, r
        cdef fc_addr net
        cdef uint64_t used, last, size, counted = 0
        cdef CIDRAllocator self
        cdef int out = _output_code(output)
        if isinstance(data, (str, int)) or data is None:
            raise TypeError(f"a snapshot is bytes-like, not {type(data).__name__}")
        if type(data) is bytes:
            raw = data
        else:
            try:
                mv = memoryview(data)
            except TypeError:
                raise TypeError(f"a snapshot is bytes-like, not {type(data).__name__}") from None
            with mv:
                raw = mv.tobytes()
        n = len(raw)
        p = <const unsigned char *>PyBytes_AS_STRING(raw)
        if n >= 4 and p[0] == b'F' and p[1] == b'C' and p[2] == b'M' and p[3] == b'A':
            raise SnapshotError("not a CIDRAllocator snapshot (it is a MultiCIDRAllocator one)")
        if n < 4 or p[0] != b'F' or p[1] != b'C' or p[2] != b'A' or p[3] != b'L':
            if n < 4 and b"FCAL".startswith(raw):
                raise SnapshotError(f"snapshot truncated: {n} bytes")
            raise SnapshotError("not a fastcidr CIDRAllocator snapshot (bad magic)")
        if n < SNAP_HEADER + SNAP_CRC:
            raise SnapshotError(f"snapshot truncated: {n} bytes")
        version = _get_u16(p + 4)
        if version != 1 and version != 2:
            raise SnapshotError(f"snapshot: unsupported version {version}")
        last = _get_u64(p + 65)  # version 1: the run count; version 2: the body length
        if version == 1 and (last > <uint64_t>((n - SNAP_HEADER - SNAP_CRC) // SNAP_RUN) or
                             <uint64_t>n != SNAP_HEADER + last * SNAP_RUN + SNAP_CRC):
            raise SnapshotError("snapshot: length does not match its run count")
        if version == 2 and last != <uint64_t>(n - SNAP_HEADER - SNAP_CRC):
            raise SnapshotError("snapshot: length does not match its body length")
        if fc_crc32(p, <size_t>(n - SNAP_CRC)) != _get_u32(p + n - SNAP_CRC):
            raise SnapshotError("snapshot: checksum mismatch")
        family = p[6]
        prefix = p[7]
        if family != 4 and family != 6:
            raise SnapshotError(f"snapshot: bad family {family}")
        if prefix > (32 if family == 4 else 128):
            raise SnapshotError(f"snapshot: bad prefix length {prefix}")
        if family == 6 and prefix < 64:
            raise SnapshotError(f"snapshot: IPv6 prefix length {prefix} is shorter than 64")
        for i in range(12 if family == 4 else 0):
            if p[8 + i] != 0:
                raise SnapshotError("snapshot: IPv4 network with high bytes set")
        net = fc_addr_from_be16(p + 8)
        if fc_has_host_bits(family, net, prefix):
            raise SnapshotError("snapshot: network has host bits set")
        if family == 6 and fc_overlaps_v4mapped(net, prefix):
            raise SnapshotError("snapshot: network overlaps the IPv4-mapped range")
        strategy = p[24]
        if strategy != STRATEGY_RANDOM and strategy != STRATEGY_SEQUENTIAL:
            raise SnapshotError(f"snapshot: bad strategy {strategy}")
        if (_get_u64(p + 25) | _get_u64(p + 33) | _get_u64(p + 41) | _get_u64(p + 49)) == 0:
            raise SnapshotError("snapshot has an all-zero random generator state")
        used = _get_u64(p + 57)
        size = fc_size(family, prefix)
        if used > size:
            raise SnapshotError("snapshot: more addresses used than the range holds")
        if version == 1:
            r = fc_snap_check_v1(p + SNAP_HEADER, last, size, &counted)
            if r != 0:
                raise SnapshotError(f"snapshot: {(<bytes>fc_snap_error_text(r)).decode('ascii')}")
        self = cls.__new__(cls)
        self._setup(family, net, prefix, strategy)
        self._set_output(out)
        for i in range(4):
            self.rng.s[i] = _get_u64(p + 25 + 8 * i)
        # version 2 is checked while it is read into the new allocator, which is dropped on error
        if version == 1:
            r = fc_snap_load_v1(&self.space, p + SNAP_HEADER, last)
        else:
            r = fc_snap_read(&self.space, p + SNAP_HEADER, <size_t>last, &counted)
        if r < 0:
            raise MemoryError()
        if r > 0:
            raise SnapshotError(f"snapshot: {(<bytes>fc_snap_error_text(r)).decode('ascii')}")
        if counted != used:
            raise SnapshotError("snapshot: used count does not match the runs")
        if self.band:
            self.used_static = fc_space_count_range(&self.space, 0, self.band)
        return self

    def __reduce__(self):
        return (type(self).restore, (self.snapshot(),), _OUTPUTS[self.out])

    def __setstate__(self, state):
        self._set_output(_output_code(state))

    def copy(self):
        """An independent copy (same addresses, same random sequence ahead)."""
        cdef CIDRAllocator other = type(self).__new__(type(self))
        self._check()
        with cython.critical_section(self):
            if fc_space_copy(&other.space, &self.space) != 0:
                memset(&other.space, 0, sizeof(fc_space))
                raise MemoryError()
            other.ready = True
            other.rng = self.rng
            other.net = self.net
            other.size = self.size
            other.band = self.band
            other.used_static = self.used_static
            other.first_v4 = self.first_v4
            other.family = self.family
            other.prefix = self.prefix
            other.strategy = self.strategy
            other._cidr_text = self._cidr_text
            other.out = self.out
            other._maker = self._maker
            other._formatter = self._formatter
        return other

    def __copy__(self):
        return self.copy()

    def __deepcopy__(self, memo):
        return self.copy()

    def __repr__(self):
        name = "random" if self.strategy == STRATEGY_RANDOM else "sequential"
        shown = f", output={_OUTPUTS[self.out]!r}" if self.out else ""
        return (
            f"CIDRAllocator({self._cidr_text!r}, strategy={name!r}{shown}, "
            f"used={fc_space_count(&self.space)}, size={self.size})"
        )

    def __sizeof__(self):
        return object.__sizeof__(self) + fc_space_memory(&self.space)


@cython.final
cdef class _AllocatorIterator:
    """Allocated addresses ascending; survives changes (continues after the last one yielded)."""

    cdef CIDRAllocator owner
    cdef uint64_t pos
    cdef bint done

    def __cinit__(self, CIDRAllocator owner):
        self.owner = owner
        self.pos = 0
        self.done = False

    def __iter__(self):
        return self

    def __next__(self):
        cdef uint64_t off = 0
        cdef int found
        if self.done:
            raise StopIteration
        with cython.critical_section(self.owner):
            found = self.owner._next_used(self.pos, &off)
        if not found:
            self.done = True
            raise StopIteration
        if off == self.owner.size - 1:
            self.done = True
        else:
            self.pos = off + 1
        return self.owner._out_at(off)


cdef int _strategy_code(object strategy) except -1:
    if strategy == "random" and isinstance(strategy, str):
        return STRATEGY_RANDOM
    if strategy == "sequential" and isinstance(strategy, str):
        return STRATEGY_SEQUENTIAL
    raise ValueError(f"strategy must be 'random' or 'sequential', got {strategy!r}")


cdef uint64_t _seed_value(object seed) except? 0:
    if seed is None:
        return PyLong_AsUnsignedLongLong(int.from_bytes(_os.urandom(8), "little"))
    if not isinstance(seed, int):
        raise TypeError(f"seed must be an int or None, not {type(seed).__name__}")
    return PyLong_AsUnsignedLongLong(int(seed) & 0xFFFFFFFFFFFFFFFF)
