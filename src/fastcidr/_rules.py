"""Rules both backends of the core share, written once: sizes, bands, what may be allocated,
canonical text, and the snapshot framing (docs/ALGORITHMS.md).

Neither backend owns this module: the compiled modules (``_core``, ``_tree``, ``_multi``) and the
pure-Python twins (``_core_twin``, ``_tree_twin``, ``_multi_twin``) both import it, so a rule
changed here changes in both at once. It imports nothing of either backend.

>>> usable_size(4, 24), band_offset(4, 24)
(254, 16)
>>> format_cidr(6, 0x20010DB8 << 96, 32)
'2001:db8::/32'
"""
from __future__ import annotations

import functools
import ipaddress
import struct
import zlib
from typing import Any, Callable, List, Optional, Tuple

from .errors import InvalidAddressError, MissingDependencyError, OutputDependencyError, SnapshotError

__all__ = [
    "usable_size",
    "band_offset",
    "check_allocatable",
    "format_ip",
    "format_cidr",
    "snapshot_bytes",
    "parse_fcma",
    "OUTPUTS",
    "OutputDependencyError",
    "output_code",
    "output_maker",
    "output_formatter",
]

MASK64 = (1 << 64) - 1
WIDTH = {4: 32, 6: 128}
MAPPED_NETWORK = 0xFFFF << 32  # ::ffff:0:0/96
MAPPED_TEXT = "overlaps the IPv4-mapped range ::ffff:0:0/96"


def usable_size(family: int, prefix: int) -> int:
    """Kubernetes' count of usable addresses: IPv4 ``2^h-2`` (>= 0), IPv6 ``2^h-1`` (<= 2^64-1)."""
    host_bits = WIDTH[family] - prefix
    if family == 4:
        return max((1 << host_bits) - 2, 0)
    return min((1 << host_bits) - 1, MASK64)


def band_offset(family: int, prefix: int) -> int:
    """Size of the static band (KEP-3070); IPv4 /0 and /1 have none (Kubernetes' quirk)."""
    if family == 4 and prefix <= 1:
        return 0
    raw = 1 << (WIDTH[family] - prefix)
    if raw <= 16:
        return 0
    return min(max(raw // 16, 16), 256)


def check_allocatable(family: int, network: int, prefix: int) -> None:
    """Refuse IPv6 prefixes shorter than /64 and CIDRs overlapping ::ffff:0:0/96.

    >>> check_allocatable(6, 0, 48)
    Traceback (most recent call last):
    ...
    fastcidr.errors.InvalidAddressError: shortest allowed prefix length for service CIDR is 64, got 48
    """
    if family != 6:
        return
    if prefix < 64:
        raise InvalidAddressError(
            f"shortest allowed prefix length for service CIDR is 64, got {prefix}"
        )
    common = min(prefix, 96)
    if network >> (128 - common) == MAPPED_NETWORK >> (128 - common):
        raise InvalidAddressError(
            f"invalid CIDR {format_cidr(family, network, prefix)!r}: {MAPPED_TEXT}"
        )


def format_ip(family: int, value: int) -> str:
    """Canonical text: dotted quad, or RFC 5952 IPv6 (lowercase, longest zero run compressed).

    >>> format_ip(6, 0x20010DB8000000000000000000000001)
    '2001:db8::1'
    """
    if family == 4:
        return f"{value >> 24 & 255}.{value >> 16 & 255}.{value >> 8 & 255}.{value & 255}"
    groups = [(value >> shift) & 0xFFFF for shift in range(112, -16, -16)]
    best_start, best_len, run_start = -1, 1, -1
    for index in range(9):
        if index < 8 and groups[index] == 0:
            if run_start < 0:
                run_start = index
        elif run_start >= 0:
            if index - run_start > best_len:
                best_start, best_len = run_start, index - run_start
            run_start = -1
    if best_start < 0:
        return ":".join(f"{g:x}" for g in groups)
    head = ":".join(f"{g:x}" for g in groups[:best_start])
    tail = ":".join(f"{g:x}" for g in groups[best_start + best_len:])
    return f"{head}::{tail}"


def format_cidr(family: int, value: int, prefix: int) -> str:
    """``format_ip(family, value) + "/" + prefix``."""
    return f"{format_ip(family, value)}/{prefix}"


# --------------------------------------------------------------------------------------------
# Output types of the allocators (docs/api.md): what a call returns for an address
# --------------------------------------------------------------------------------------------

OUTPUTS = ("str", "int", "ipaddress", "netaddr")
OUT_STR, OUT_INT, OUT_IPADDRESS, OUT_NETADDR = range(4)


def output_code(output: Any) -> int:
    """0-3 for ``"str"``, ``"int"``, ``"ipaddress"``, ``"netaddr"``; ``ValueError`` otherwise.

    >>> output_code("int")
    1
    """
    if isinstance(output, str) and output in OUTPUTS:
        if output == "netaddr":
            _netaddr()
        return OUTPUTS.index(output)
    raise ValueError(f"output must be 'str', 'int', 'ipaddress' or 'netaddr', got {output!r}")


def _netaddr() -> Any:
    try:
        import netaddr  # type: ignore[import-untyped]
    except ImportError:
        raise OutputDependencyError('output="netaddr" needs netaddr: pip install netaddr') from None
    return netaddr


def output_maker(code: int, family: int) -> Optional[Callable[[int], Any]]:
    """The class that makes an address object of ``family`` from its int (ipaddress, netaddr);
    None for ``"str"`` and ``"int"``, which the allocators build themselves."""
    if code == OUT_IPADDRESS:
        return ipaddress.IPv4Address if family == 4 else ipaddress.IPv6Address
    if code == OUT_NETADDR:
        return functools.partial(_netaddr().IPAddress, version=family)
    return None


def _same_int(family: int, value: int) -> int:
    return value


def output_formatter(code: int) -> Callable[[int, int], Any]:
    """``(family, value) -> address`` in the output type (for the free-space calls).

    >>> output_formatter(2)(6, 1)
    IPv6Address('::1')
    """
    if code == OUT_STR:
        return format_ip
    if code == OUT_INT:
        return _same_int
    makers = {4: output_maker(code, 4), 6: output_maker(code, 6)}
    return lambda family, value: makers[family](value)  # type: ignore[misc]


# --------------------------------------------------------------------------------------------
# Snapshots (docs/ALGORITHMS.md "Snapshot format")
# --------------------------------------------------------------------------------------------

FCAL_MAGIC = b"FCAL"
FCMA_MAGIC = b"FCMA"
FCAL_VERSION = 2  # per-block bitmaps or runs (fc_snapshot.h, _snapshot_twin.py)
FCAL_VERSION_RUNS = 1  # one run list, still restorable
FCMA_VERSION = 3  # per top-level CIDR a block body (fc_snapshot.h); 2 (run list) still restorable
FCMA_VERSION_RUNS = 2
FCMA_TOP = struct.Struct("<B16sBQ")  # family, network, prefix, body length
FCAL_HEADER = struct.Struct("<4sHBB16sB4QQQ")  # ... used, run count (v1) / body length (v2)
FCAL_RUN = struct.Struct("<QQ")
CRC = struct.Struct("<I")
FCMA_CIDR_RECORD = 23  # family, prefix, network, ready, position
FCMA_RUN_RECORD = 25  # family, start address, length
NO_POSITION = 0xFFFFFFFF


def snapshot_bytes(data: Any) -> bytes:
    """The bytes of a bytes-like snapshot; ``TypeError`` for anything else (str, int, None ...)."""
    if isinstance(data, (str, int)) or data is None:
        raise TypeError(f"a snapshot is bytes-like, not {type(data).__name__}")
    try:
        view = memoryview(data)
    except TypeError:
        raise TypeError(f"a snapshot is bytes-like, not {type(data).__name__}") from None
    with view:
        return view.tobytes()


def parse_fcma(buf: bytes) -> Tuple[int, Tuple[int, int, int, int], List[Tuple[int, int, int, bool, int]],
                                    List[Tuple[int, int, int]], List[Tuple[int, int, int, bytes]]]:
    """Validate the frame of an FCMA snapshot; returns ``(policy, rng state, cidrs, runs, tops)``
    or raises SnapshotError. Version 2 has runs (checked here), version 3 tops, ``(family, network,
    prefix, body)`` per top-level CIDR, ascending: each body and whether its CIDR is top-level are
    checked by the allocator that reads it, as are the candidate positions."""
    def bad(why: str) -> SnapshotError:
        return SnapshotError(f"damaged MultiCIDRAllocator snapshot: {why}")

    header = 4 + 2 + 1 + 32 + 4
    if len(buf) < header + 4 + 4:
        raise bad("too short")
    if buf[:4] != FCMA_MAGIC:
        raise bad("not a MultiCIDRAllocator snapshot (bad magic)")
    (version,) = struct.unpack_from("<H", buf, 4)
    if version not in (FCMA_VERSION_RUNS, FCMA_VERSION):
        raise bad(f"unsupported version {version}")
    (crc,) = struct.unpack_from("<I", buf, len(buf) - 4)
    if zlib.crc32(buf[:-4]) != crc:
        raise bad("checksum mismatch")
    policy = buf[6]
    if policy > 2:
        raise bad(f"unknown policy {policy}")
    state = struct.unpack_from("<4Q", buf, 7)
    if not any(state):
        raise bad("random generator state is all zero")
    (ncidrs,) = struct.unpack_from("<I", buf, 39)
    pos = header
    if len(buf) < pos + FCMA_CIDR_RECORD * ncidrs + (4 if version == FCMA_VERSION else 8) + 4:
        raise bad("truncated CIDR list")
    cidrs = []
    seen = set()
    for _ in range(ncidrs):
        family, plen = buf[pos], buf[pos + 1]
        net = int.from_bytes(buf[pos + 2:pos + 18], "big")
        ready = buf[pos + 18]
        (position,) = struct.unpack_from("<I", buf, pos + 19)
        pos += FCMA_CIDR_RECORD
        if family not in (4, 6):
            raise bad(f"unknown family {family}")
        width = WIDTH[family]
        if plen > width or net >> width:
            raise bad("CIDR out of range")
        if net & ((1 << (width - plen)) - 1):
            raise bad("CIDR with host bits set")
        if ready > 1:
            raise bad("ready flag is not 0 or 1")
        try:
            check_allocatable(family, net, plen)
        except InvalidAddressError as exc:
            raise bad(str(exc)) from None
        if (family, net, plen) in seen:
            raise bad("duplicate CIDR")
        seen.add((family, net, plen))
        cidrs.append((family, net, plen, bool(ready), position))
    if version == FCMA_VERSION:
        return policy, state, cidrs, [], _parse_tops(buf, pos, seen, bad)
    (nruns,) = struct.unpack_from("<Q", buf, pos)
    pos += 8
    if len(buf) - pos - 4 != FCMA_RUN_RECORD * nruns:
        raise bad("run list length does not match the data")
    runs = []
    prev_family, prev_end = 0, -2
    for _ in range(nruns):
        family = buf[pos]
        start = int.from_bytes(buf[pos + 1:pos + 17], "big")
        (length,) = struct.unpack_from("<Q", buf, pos + 17)
        pos += FCMA_RUN_RECORD
        if family not in (4, 6):
            raise bad(f"unknown family {family}")
        if length < 1 or start + length > (1 << WIDTH[family]):
            raise bad("run out of range")
        if (family, start) <= (prev_family, prev_end + 1) or family < prev_family:
            raise bad("runs not sorted, overlapping or adjacent")
        prev_family, prev_end = family, start + length - 1
        runs.append((family, start, length))
    return policy, state, cidrs, runs, []


def _parse_tops(buf: bytes, pos: int, seen: set, bad: Any) -> List[Tuple[int, int, int, bytes]]:
    (ntops,) = struct.unpack_from("<I", buf, pos)  # room checked with the CIDR list
    pos += 4
    tops = []
    previous = (0, -1)
    for _ in range(ntops):
        if len(buf) - pos - 4 < FCMA_TOP.size:
            raise bad("truncated block body record")
        family, network_bytes, plen, length = FCMA_TOP.unpack_from(buf, pos)
        pos += FCMA_TOP.size
        network = int.from_bytes(network_bytes, "big")
        if (family, network, plen) not in seen:
            raise bad("a block body for a CIDR it does not list")
        if (family, network) <= previous:
            raise bad("block bodies not in ascending order")
        previous = (family, network)
        if length > len(buf) - pos - 4:
            raise bad("truncated block body")
        tops.append((family, network, plen, buf[pos:pos + length]))
        pos += length
    if pos != len(buf) - 4:
        raise bad("trailing bytes after the block bodies")
    return tops
