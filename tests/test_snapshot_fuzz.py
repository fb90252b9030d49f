"""Damaged snapshots: always ``SnapshotError`` (a ``ValueError``), never a crash, on both backends.

pytest runs with ``-p faulthandler``, so a crash in the compiled core would dump a traceback
instead of passing silently. The format is docs/ALGORITHMS.md "Snapshot format"; the encoders
below (version 1: one run list; version 2: block records) are written from that text,
independently of both backends, so they also guard compatibility.
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


def varint(value: int) -> bytes:
    out = bytearray()
    while True:
        out.append((value & 0x7F) | (0x80 if value >= 0x80 else 0))
        value >>= 7
        if not value:
            return bytes(out)


def encode_v2(*, family=4, prefix=24, network=0x0A000000, strategy=0, rng=RNG, body=b"\x03\x01\x00\x00",
              used=None, length=None, version=2) -> bytes:
    """A version-2 snapshot around a block body given as bytes, with a correct CRC. ``used``
    defaults to 1 (the default body: one run of one address)."""
    head = HEADER.pack(b"FCAL", version, family, prefix, network.to_bytes(16, "big"), strategy, *rng,
                       1 if used is None else used, len(body) if length is None else length)
    return head + body + struct.pack("<I", zlib.crc32(head + body))


def expect_refused(cls, data) -> None:
    with pytest.raises(SnapshotError) as info:
        cls.restore(data)
    assert isinstance(info.value, ValueError)
    assert (info.value.reason, info.value.code) == ("Invalid", 422)


def test_hand_encoded_snapshot_restores_and_round_trips(fc):
    """Version 1 still restores; snapshot() writes version 2, byte for byte as the text says."""
    data = encode()
    a = fc.CIDRAllocator.restore(data)
    assert a.cidr == "10.0.0.0/24" and a.strategy == "random"
    assert list(a) == ["10.0.0.1", "10.0.0.6", "10.0.0.7", "10.0.0.8", "10.0.0.101", "10.0.0.102"]
    # one block of 254 offsets, three runs: (gap 0, len-1 0), (gap 5-2, 2), (gap 100-9, 1)
    v2 = encode_v2(body=b"\x03\x03" + b"\x00\x00" + b"\x03\x02" + b"\x5b\x01", used=6)
    assert a.snapshot() == v2  # byte-for-byte: the format is the contract
    assert list(fc.CIDRAllocator.restore(v2)) == list(a)
    six = encode(family=6, prefix=64, network=0xFD00 << 112, strategy=1, runs=((2**64 - 3, 2),))
    b = fc.CIDRAllocator.restore(six)
    assert list(b) == ["fd00::ffff:ffff:ffff:fffe", "fd00::ffff:ffff:ffff:ffff"]
    # 2^48 blocks: all but the last free (one repeat); the last holds 65535 offsets, the run is its last two
    last_block = b"\x03\x01" + varint(0xFFFD) + b"\x01"
    six_v2 = encode_v2(family=6, prefix=64, network=0xFD00 << 112, strategy=1, used=2,
                       body=b"\x04" + varint(2**48 - 1) + last_block)
    assert b.strategy == "sequential" and b.snapshot() == six_v2
    assert list(fc.CIDRAllocator.restore(six_v2)) == list(b)


@pytest.fixture(params=[2, 1], ids=["v2", "v1"])
def small_snapshot(request, fc) -> bytes:
    a = fc.CIDRAllocator("10.0.0.0/24", seed=3)
    for ip in ("10.0.0.1", "10.0.0.2", "10.0.0.64", "10.0.0.200"):
        a.allocate(ip)
    a.allocate_many(5)
    if request.param == 2:
        return a.snapshot()
    runs: list = []
    for offset in (int(ip.rsplit(".", 1)[1]) - 1 for ip in a):
        if runs and runs[-1][0] + runs[-1][1] == offset:
            runs[-1][1] += 1
        else:
            runs.append([offset, 1])
    return encode(runs=[tuple(r) for r in runs], rng=struct.unpack_from("<4Q", a.snapshot(), 25))


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
@given(data=st.binary(max_size=200), version=st.sampled_from([b"\x01\x00", b"\x02\x00"]))
def test_random_bytes_after_a_valid_header_are_refused(fc, data, version):
    expect_refused(fc.CIDRAllocator, b"FCAL" + version + data)


def _restored_or_refused(fc, data) -> None:
    try:
        a = fc.CIDRAllocator.restore(data)
    except SnapshotError:
        return
    again = fc.CIDRAllocator.restore(a.snapshot())
    assert again.snapshot() == a.snapshot() and again.used == a.used and again.cidr == a.cidr


@FUZZ_SETTINGS
@given(body=st.binary(min_size=HEADER.size - 6, max_size=HEADER.size + 64))
def test_random_content_with_a_forged_crc_never_crashes(fc, body):
    """Random fields behind a valid magic and version, checksum recomputed: either a valid
    allocator (if the fields happen to be consistent) or SnapshotError, nothing else."""
    raw = b"FCAL\x01\x00" + body
    _restored_or_refused(fc, raw + struct.pack("<I", zlib.crc32(raw)))


@FUZZ_SETTINGS
@given(prefix=st.integers(0, 32), used=st.integers(0, 2**17),
       records=st.lists(st.one_of(st.sampled_from([b"\x00", b"\x01", b"\x02", b"\x03", b"\x04", b"\x05"]),
                                  st.binary(max_size=12), st.integers(0, 2**20).map(varint)), max_size=12))
def test_random_block_records_with_a_forged_crc_never_crash(fc, prefix, used, records):
    """Version 2 bodies built from tags, varints and junk behind a consistent header: a valid
    allocator that snapshots stably, or SnapshotError."""
    network = 0x0A000000 & ~((1 << (32 - prefix)) - 1) if prefix else 0
    _restored_or_refused(fc, encode_v2(prefix=prefix, network=network, used=used, body=b"".join(records)))


FORGED = {
    "wrong magic": dict(magic=b"XXXX"),
    "lowercase magic": dict(magic=b"fcal"),
    "multi magic": dict(magic=b"FCMA"),
    "version 0": dict(version=0),
    "version 3": dict(version=3),
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


SIX = dict(family=6, prefix=64, network=0xFD00 << 112)
FORGED_V2 = {
    # a /24 is one block of 254 offsets: 4 words of bitmap, bits 254 and 255 are padding
    "unknown tag 6": dict(body=b"\x06"),
    "unknown tag 255": dict(body=b"\xff"),
    "no records": dict(body=b"", used=0),
    "two records for one block": dict(body=b"\x00\x00", used=0),
    "full block, used 0": dict(body=b"\x01", used=0),
    "full block, used 255": dict(body=b"\x01", used=255),
    "free repeat of 1": dict(body=b"\x04\x01", used=0),
    "free repeat of 0": dict(body=b"\x04\x00", used=0),
    "free repeat past the end": dict(body=b"\x04\x02", used=0),
    "full repeat past the end": dict(body=b"\x05\x02", used=254),
    "repeat without its count": dict(body=b"\x04", used=0),
    "bitmap truncated": dict(body=b"\x02" + bytes(31), used=0),
    "bitmap with padding bit 254": dict(body=b"\x02" + bytes(24) + (1 << 62).to_bytes(8, "little"), used=1),
    "bitmap with padding bit 255": dict(body=b"\x02" + bytes(24) + (1 << 63).to_bytes(8, "little"), used=1),
    "bitmap count off by one": dict(body=b"\x02" + b"\x07" + bytes(31), used=4),
    "runs, none": dict(body=b"\x03\x00", used=0),
    "runs, more than fit": dict(body=b"\x03" + varint(128) + b"\x00\x00" * 128, used=128),
    "runs, count without runs": dict(body=b"\x03\x02\x00\x00", used=2),
    "run starting at the end": dict(body=b"\x03\x01" + varint(254) + b"\x00"),
    "run past the end": dict(body=b"\x03\x01" + varint(250) + b"\x04", used=5),
    "second run past the end": dict(body=b"\x03\x02\x00\x00" + varint(252) + b"\x00", used=2),
    "run length wraps": dict(body=b"\x03\x01\x00" + varint(2**64 - 1)),
    "varint of 11 bytes": dict(body=b"\x03\x01\x00" + b"\x80" * 10 + b"\x00"),
    "varint above 2^64": dict(body=b"\x03\x01\x00" + b"\xff" * 9 + b"\x02"),
    "varint cut short": dict(body=b"\x03\x01\x00\x80"),
    "record after the last block": dict(body=b"\x03\x01\x00\x00\x00"),
    "body length too long": dict(length=5),
    "body length too short": dict(length=3),
    "body length huge": dict(length=2**64 - 1),
    "ipv6 blocks short": dict(SIX, body=b"\x04" + varint(2**48 - 1), used=0),
    "ipv6 blocks beyond": dict(SIX, body=b"\x04" + varint(2**48) + b"\x00", used=0),
    "ipv6 full repeat beyond": dict(SIX, body=b"\x05" + varint(2**48 + 1), used=2**64 - 1),
    "ipv6 repeat count huge": dict(SIX, body=b"\x04" + varint(2**64 - 1), used=0),
    "empty range with a record": dict(prefix=31, body=b"\x00", used=0),
}


@pytest.mark.parametrize("case", sorted(FORGED_V2))
def test_forged_version_2_snapshots_with_a_valid_crc_are_refused(fc, case):
    expect_refused(fc.CIDRAllocator, encode_v2(**FORGED_V2[case]))


def test_valid_version_2_edge_snapshots_are_accepted(fc):
    """Non-canonical but well-formed bodies restore too (a bitmap where runs were shorter, a full
    block as a bitmap), and every record kind is read as the text says."""
    bitmap = fc.CIDRAllocator.restore(encode_v2(body=b"\x02" + b"\x05" + bytes(31), used=2))
    assert list(bitmap) == ["10.0.0.1", "10.0.0.3"]
    full_bits = fc.CIDRAllocator.restore(encode_v2(body=b"\x02" + b"\xff" * 31 + b"\x3f", used=254))
    assert full_bits.free == 0 and full_bits.snapshot() == encode_v2(body=b"\x01", used=254)
    assert fc.CIDRAllocator.restore(encode_v2(body=b"\x00", used=0)).used == 0
    assert fc.CIDRAllocator.restore(encode_v2(prefix=32, network=0x0A000001, body=b"", used=0)).size == 0
    full_six = fc.CIDRAllocator.restore(encode_v2(**SIX, body=b"\x05" + varint(2**48), used=2**64 - 1))
    assert full_six.free == 0
    runs = fc.CIDRAllocator.restore(encode_v2(body=b"\x03\x02" + varint(10) + b"\x02" + b"\x00\x00", used=4))
    assert list(runs) == ["10.0.0.11", "10.0.0.12", "10.0.0.13", "10.0.0.15"]


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
