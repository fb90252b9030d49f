# cython: language_level=3
"""The C headers of ``include/``, declared once for every Cython module of the core.

A ``.pxd`` without a ``.pyx``: it only declares, so ``cimport`` costs nothing at run time. Keep
each declaration exactly as the header defines it (the headers document the semantics).
"""
from cpython.object cimport PyObject
from libc.stdint cimport int64_t, uint32_t, uint64_t

cdef extern from "fc_platform.h" nogil:
    ctypedef unsigned long long fc_u128  # really unsigned __int128: Cython only needs a name
    int fc_ctz64(uint64_t x)
    int fc_clz64(uint64_t x)
    int fc_popcount64(uint64_t x)
    uint64_t fc_u128_hi(fc_u128 x)
    uint64_t fc_u128_lo(fc_u128 x)
    void fc_prefetch(const void *p)
    size_t FC_HUGE
    void *fc_big_calloc(size_t nbytes)
    void fc_big_free(void *p, size_t nbytes)
    void fc_platform_init()
    uint32_t fc_crc32(const void *p, size_t n)

cdef extern from "fc_addr.h" nogil:
    ctypedef struct fc_addr:
        uint64_t hi
        uint64_t lo
    enum:
        FC_OK
        FC_ERR_NON_ASCII
        FC_ERR_ZONE
        FC_ERR_NOT_ADDRESS
        FC_ERR_MAPPED
        FC_ADDR_BUFSIZE
        FC_CIDR_BUFSIZE
    const char *fc_reason_text(int reason)
    int fc_parse_ip(const char *s, size_t n, int *family, fc_addr *out)
    int fc_parse_cidr(const char *s, size_t n, int *family, fc_addr *net, int *prefix)
    int fc_fast_ipv4(const char *s, Py_ssize_t n, uint32_t *out)
    int fc_fast_cidr4(const char *s, Py_ssize_t n, uint32_t *net, int *prefix)
    size_t fc_format_ipv4(uint32_t v, char *buf)
    size_t fc_format_ip(int family, fc_addr a, char *buf)
    size_t fc_format_cidr(int family, fc_addr net, int prefix, char *buf)
    fc_addr fc_addr_make(uint64_t hi, uint64_t lo)
    int fc_has_host_bits(int family, fc_addr a, int prefix)
    int fc_holds_host(int family, fc_addr net, int prefix, fc_addr a)
    fc_addr fc_last_of(int family, fc_addr net, int prefix)
    uint64_t fc_size(int family, int prefix)
    uint64_t fc_band_offset(int family, int prefix)
    uint64_t fc_offset_of(fc_addr net, fc_addr a)
    fc_addr fc_addr_at(fc_addr net, uint64_t offset)
    int fc_is_v4mapped(fc_addr a)
    int fc_overlaps_v4mapped(fc_addr net, int prefix)
    void fc_addr_to_be16(fc_addr a, unsigned char *out)
    fc_addr fc_addr_from_be16(const unsigned char *inp)

cdef extern from "fc_rng.h" nogil:
    ctypedef struct fc_rng:
        uint64_t s[4]
    void fc_rng_seed(fc_rng *r, uint64_t seed)
    uint64_t fc_rng_next(fc_rng *r)
    uint64_t fc_rng_bounded(fc_rng *r, uint64_t n)

cdef extern from "fc_space.h" nogil:
    uint64_t FC_NONE
    ctypedef struct fc_space:
        int sparse
    int fc_space_init(fc_space *sp, uint64_t size)
    void fc_space_free(fc_space *sp)
    int fc_space_copy(fc_space *dst, const fc_space *src)
    int fc_space_test(const fc_space *sp, uint64_t p)
    int fc_space_set(fc_space *sp, uint64_t p)
    int fc_space_take_first_free(fc_space *sp, uint64_t p, uint64_t limit, uint64_t *out)
    int fc_space_clear(fc_space *sp, uint64_t p)
    uint64_t fc_space_first_free(const fc_space *sp, uint64_t p, uint64_t limit)
    uint64_t fc_space_first_used(const fc_space *sp, uint64_t p, uint64_t limit)
    int fc_space_next_run(const fc_space *sp, uint64_t p, uint64_t *start, uint64_t *end)
    int64_t fc_space_set_range(fc_space *sp, uint64_t start, uint64_t length)
    uint64_t fc_space_count(const fc_space *sp)
    uint64_t fc_space_count_range(const fc_space *sp, uint64_t a, uint64_t b)
    size_t fc_space_memory(const fc_space *sp)
    void fc_space_prefetch(const fc_space *sp, uint64_t i)

cdef extern from "fc_snapshot.h" nogil:
    size_t fc_snap_bound(const fc_space *sp)
    int64_t fc_snap_encode(const fc_space *sp, unsigned char *out, size_t cap)
    int fc_snap_read(fc_space *sp, const unsigned char *b, size_t n, uint64_t *used)
    size_t fc_snap_bound_window(const fc_space *sp, uint64_t base, uint64_t size)
    int64_t fc_snap_encode_window(const fc_space *sp, uint64_t base, uint64_t size, unsigned char *out,
                                  size_t cap)
    int fc_snap_read_window(fc_space *sp, uint64_t base, uint64_t size, const unsigned char *b, size_t n,
                            uint64_t *used)
    int fc_snap_check_v1(const unsigned char *b, uint64_t nruns, uint64_t size, uint64_t *used)
    int fc_snap_load_v1(fc_space *sp, const unsigned char *b, uint64_t nruns)
    const char *fc_snap_error_text(int code)

cdef extern from "fc_pyapi.h":
    PyObject *fc_py_ascii(const char *buf, Py_ssize_t n) except NULL
    const char *fc_py_ascii_data(object s, Py_ssize_t *n)
    void fc_list_set_new(object lst, Py_ssize_t i, PyObject *item)
    PyObject *fc_bytes_new(Py_ssize_t n) except NULL
    void fc_bytes_drop(PyObject *b)
    PyObject *fc_bytes_finish(PyObject *b, Py_ssize_t n) except NULL
