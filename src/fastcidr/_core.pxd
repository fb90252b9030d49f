# cython: language_level=3
"""What the compiled single-CIDR core shares with the other compiled modules: its address parsers
for every input that the C fast paths leave (non-ASCII text, ``ipaddress`` and netaddr objects),
so that all compiled classes accept the same inputs and word their errors the same way."""
from fastcidr._fc cimport fc_addr

cdef int _parse_any_ip(object obj, int *family, fc_addr *out) except -1
cdef int _parse_any_cidr(object obj, int *family, fc_addr *net, int *prefix) except -1
