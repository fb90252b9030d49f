"""Damaged snapshots: always ``SnapshotError`` (a ``ValueError``), never a crash, on both backends.

pytest runs with ``-p faulthandler``, so a crash in the compiled core would dump a traceback
instead of passing silently. The format is docs/ALGORITHMS.md "Snapshot format"; the encoder below
is written from that text, independently of both backends, so it also guards compatibility.
"""
from __future__ import annotations

import struct
import zlib

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from fastcidr import SnapshotError

HEADER = struct.Struct("<4sHBB16sB4QQQ")
RNG = (0x0123456789ABCDEF, 0xFEDCBA9876543210, 1, 2)
FUZZ_SETTINGS = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def encode(
    *,
    family=4,
    prefix=24,
    network=0x0A000000,
    strategy=0,
    rng=RNG,
    runs=((0, 1), (5, 3), (100, 2)),
    used=None,
    nruns=None,
    magic=b"FCAL",
    version=1,
    network_bytes=None,
    tail=b"",
) -> bytes:
    """A CIDRAllocator snapshot per ALGORITHMS.md, with a correct CRC over whatever is given."""
    if used is None:
        used = sum(length for _, length in runs)
    if nruns is None:
        nruns = len(runs)
    if network_bytes is None:
        network_bytes = network.to_bytes(16, "big")
    body = HEADER.pack(magic, version, family, prefix, network_bytes, strategy, *rng, used, nruns)
    body += b"".join(struct.pack("<QQ", start, length) for start, length in runs) + tail
    return body + struct.pack("<I", zlib.crc32(body))


def expect_refused(cls, data) -> None:
    with pytest.raises(SnapshotError) as info:
        cls.restore(data)
    assert isinstance(info.value, ValueError)
    assert (info.value.reason, info.value.code) == ("Invalid", 422)


def test_hand_encoded_snapshot_restores_and_round_trips(fc):
    data = encode()
    a = fc.CIDRAllocator.restore(data)
    assert a.cidr == "10.0.0.0/24" and a.strategy == "random"
    assert list(a) == ["10.0.0.1", "10.0.0.6", "10.0.0.7", "10.0.0.8", "10.0.0.101", "10.0.0.102"]
    assert a.snapshot() == data  # byte-for-byte: the format is the contract
    six = encode(family=6, prefix=64, network=0xFD00 << 112, strategy=1, runs=((2**64 - 3, 2),))
    b = fc.CIDRAllocator.restore(six)
    assert list(b) == ["fd00::ffff:ffff:ffff:fffe", "fd00::ffff:ffff:ffff:ffff"]
    assert b.strategy == "sequential" and b.snapshot() == six


@pytest.fixture
def small_snapshot(fc) -> bytes:
    a = fc.CIDRAllocator("10.0.0.0/24", seed=3)
    for ip in ("10.0.0.1", "10.0.0.2", "10.0.0.64", "10.0.0.200"):
        a.allocate(ip)
    a.allocate_many(5)
    return a.snapshot()


def test_every_truncation_is_refused(fc, small_snapshot):
    for length in range(len(small_snapshot)):
        expect_refused(fc.CIDRAllocator, small_snapshot[:length])


def test_every_single_bit_flip_is_refused(fc, small_snapshot):
    for index in range(len(small_snapshot)):
        for bit in range(8):
            damaged = bytearray(small_snapshot)
            damaged[index] ^= 1 << bit
            expect_refused(fc.CIDRAllocator, bytes(damaged))


def test_appended_junk_is_refused(fc, small_snapshot):
    for junk in (b"\x00", b"junk", small_snapshot, b"\xff" * 16):
        expect_refused(fc.CIDRAllocator, small_snapshot + junk)
    # junk inside the checksummed part is refused too
    expect_refused(fc.CIDRAllocator, encode(tail=b"\x00" * 16, nruns=3))


@FUZZ_SETTINGS
@given(data=st.binary(max_size=300))
@example(data=b"")
@example(data=b"FCAL")
@example(data=b"FCMA" + b"\x01\x00" + b"\x00" * 60)
def test_random_bytes_are_refused(fc, data):
    expect_refused(fc.CIDRAllocator, data)


@FUZZ_SETTINGS
@given(data=st.binary(max_size=200))
def test_random_bytes_after_a_valid_header_are_refused(fc, data):
    expect_refused(fc.CIDRAllocator, b"FCAL\x01\x00" + data)


@FUZZ_SETTINGS
@given(body=st.binary(min_size=HEADER.size - 6, max_size=HEADER.size + 64))
def test_random_content_with_a_forged_crc_never_crashes(fc, body):
    """Random fields behind a valid magic and version, checksum recomputed: either a valid
    allocator (if the fields happen to be consistent) or SnapshotError, nothing else."""
    raw = b"FCAL\x01\x00" + body
    data = raw + struct.pack("<I", zlib.crc32(raw))
    try:
        a = fc.CIDRAllocator.restore(data)
    except SnapshotError:
        return
    assert a.snapshot() == data


FORGED = {
    "wrong magic": dict(magic=b"XXXX"),
    "lowercase magic": dict(magic=b"fcal"),
    "multi magic": dict(magic=b"FCMA"),
    "version 0": dict(version=0),
    "version 2": dict(version=2),
    "version 0xffff": dict(version=0xFFFF),
    "family 0": dict(family=0),
    "family 5": dict(family=5),
    "family 255": dict(family=255),
    "ipv4 prefix 33": dict(prefix=33),
    "ipv6 prefix 129": dict(family=6, prefix=129, network=0, runs=()),
    "ipv4 network high bytes": dict(network_bytes=b"\x01" + bytes(11) + bytes([10, 0, 0, 0])),
    "host bits": dict(network=0x0A000001),
    "ipv6 prefix 48": dict(family=6, prefix=48, network=0x20010DB8 << 96, runs=()),
    "ipv6 overlapping mapped": dict(family=6, prefix=96, network=0xFFFF << 32, runs=()),
    "ipv6 host bits": dict(family=6, prefix=64, network=(0xFD00 << 112) | 1, runs=()),
    "strategy 2": dict(strategy=2),
    "strategy 255": dict(strategy=255),
    "used too high": dict(used=7),
    "used too low": dict(used=5),
    "used huge": dict(used=2**64 - 1),
    "nruns too high": dict(nruns=4),
    "nruns too low": dict(nruns=2),
    "nruns huge": dict(nruns=2**63),
    "nruns max": dict(nruns=2**64 - 1),
    "zero-length run": dict(runs=((0, 1), (5, 0), (100, 2))),
    "adjacent runs": dict(runs=((0, 1), (1, 3))),
    "overlapping runs": dict(runs=((0, 5), (3, 3))),
    "unsorted runs": dict(runs=((100, 2), (5, 3))),
    "duplicate runs": dict(runs=((5, 3), (5, 3))),
    "run past the end": dict(runs=((250, 5),)),
    "run starting at size": dict(runs=((254, 1),)),
    "run length wraps": dict(runs=((5, 2**64 - 1),)),
    "run start huge": dict(runs=((2**64 - 1, 1),)),
    "empty range with a run": dict(prefix=31, runs=((0, 1),)),
    "ipv6 run past the end": dict(family=6, prefix=64, network=0xFD00 << 112, runs=((2**64 - 2, 2),)),
}


@pytest.mark.parametrize("case", sorted(FORGED))
def test_forged_snapshots_with_a_valid_crc_are_refused(fc, case):
    expect_refused(fc.CIDRAllocator, encode(**FORGED[case]))


def test_valid_edge_snapshots_are_accepted(fc):
    """The validation is not over-eager: largest runs, empty ranges, both strategies."""
    full = fc.CIDRAllocator.restore(encode(runs=((0, 254),)))
    assert full.free == 0 and len(full) == 254
    empty = fc.CIDRAllocator.restore(encode(prefix=32, network=0x0A000001, runs=()))
    assert empty.size == 0
    six = fc.CIDRAllocator.restore(
        encode(family=6, prefix=64, network=0xFD00 << 112, runs=((0, 3), (2**63, 2**63 - 1)))
    )
    assert six.used == 3 + 2**63 - 1 and six.free == 2**64 - 1 - six.used
    assert six.has("fd00::8000:0:0:1") and not six.has("fd00::4")


@pytest.mark.parametrize("bad", ["snapshot", 12, None, 1.5, ["FCAL"], object()])
def test_non_bytes_input_is_a_type_error(fc, bad):
    with pytest.raises(TypeError):
        fc.CIDRAllocator.restore(bad)


def test_multi_snapshot_is_refused_by_the_single_allocator(fc):
    multi = fc.MultiCIDRAllocator(["10.0.0.0/24"], seed=1)
    expect_refused(fc.CIDRAllocator, multi.snapshot())


def test_restored_snapshot_of_a_full_range_keeps_working(fc):
    a = fc.CIDRAllocator("10.0.0.0/20", seed=9)
    a.allocate_many(a.size)
    b = fc.CIDRAllocator.restore(a.snapshot())
    assert b.free == 0 and b.snapshot() == a.snapshot()
    b.release("10.0.7.7")
    assert b.allocate_next() == "10.0.7.7"
