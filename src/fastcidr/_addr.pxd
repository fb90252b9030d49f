# cython: language_level=3
"""What the compiled address module (``_addr.pyx``) gives the other compiled modules: its parsers
for every input the C fast paths leave (non-ASCII text, ``ipaddress`` and netaddr objects), its
formatters and its error wording, so that all compiled classes accept the same inputs and word
their errors the same way."""
from fastcidr._fc cimport fc_addr

cdef object _addr_to_int(fc_addr a)
cdef int _int_to_addr(object value, int family, fc_addr *out) except -1
cdef object _ip_error(object obj, str reason)
cdef object _cidr_error(object obj, str reason)
cdef str _reason(int r)
cdef int _parse_object_ip(object obj, int *family, fc_addr *out) except -1
cdef int _parse_any_ip(object obj, int *family, fc_addr *out) except -1
cdef int _parse_any_cidr(object obj, int *family, fc_addr *net, int *prefix) except -1
cdef object _format(int family, fc_addr a)
cdef object _format_cidr(int family, fc_addr net, int prefix)
