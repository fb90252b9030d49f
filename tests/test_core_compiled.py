"""Checks that only make sense for the compiled core (``fastcidr._core``): memory accounting of the
C storage, huge ranges at the limits of the C integer types, the page / chunk boundaries of the
hierarchical bitmap and the run index, and a differential run against the pure twin where the
C structures have their edge cases. Behaviour shared by both backends lives in
``test_cidr_allocator.py``.
"""
from __future__ import annotations

import ipaddress
import random
import struct
import sys
import zlib

import pytest

from fastcidr import AlreadyAllocatedError, InvalidAddressError, RangeFullError, SnapshotError, _backend

M64 = (1 << 64) - 1


@pytest.fixture(scope="module")
def core():
    if _backend.compiled is None:
        pytest.fail(f"the compiled core is not importable: {_backend.compile_error}")
    from fastcidr import _core

    return _core


def offset_ip(alloc, offset: int) -> str:
    return str(ipaddress.ip_address(int(ipaddress.ip_address(alloc.first)) + offset))


def snapshot_bytes(family, prefix, network, runs, used=None, strategy=0, rng=(1, 2, 3, 4)):
    """A version-1 FCAL snapshot built by hand (docs/ALGORITHMS.md)."""
    body = struct.pack(
        "<4sHBB16sB4QQQ",
        b"FCAL",
        1,
        family,
        prefix,
        network.to_bytes(16, "big"),
        strategy,
        *rng,
        sum(length for _, length in runs) if used is None else used,
        len(runs),
    )
    body += b"".join(struct.pack("<QQ", start, length) for start, length in runs)
    return body + struct.pack("<I", zlib.crc32(body))


# -------------------------------------------------------------------------------------------
# Memory accounting (docs/performance.md target 8)
# -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("cidr", ["0.0.0.0/0", "0.0.0.0/1", "10.0.0.0/8", "10.96.0.0/12", "fd00::/64", "fd00::/96"])
def test_empty_range_of_any_size_costs_at_most_4_kib(core, cidr):
    assert sys.getsizeof(core.CIDRAllocator(cidr)) <= 4096


def test_full_dense_range_costs_about_one_bit_per_address(core):
    a = core.CIDRAllocator("10.96.0.0/12", strategy="sequential")
    a.allocate_many_int(a.size)
    assert a.free == 0
    assert sys.getsizeof(a) * 8 / a.size <= 1.1


def test_small_range_pays_for_what_it_holds(core):
    a = core.CIDRAllocator("192.168.1.0/24")
    a.allocate_many(10)
    assert sys.getsizeof(a) < 1024


def test_dense_storage_is_allocated_lazily_per_page(core):
    a = core.CIDRAllocator("0.0.0.0/1")
    empty = sys.getsizeof(a)
    a.allocate("64.0.0.1")
    one_page = sys.getsizeof(a)
    assert 8 * 1024 <= one_page - empty <= 12 * 1024  # one 2^16-bit page and its chunk header
    a.allocate("64.0.0.2")
    assert sys.getsizeof(a) == one_page


def test_sparse_memory_per_run(core):
    scattered = core.CIDRAllocator("fd00::/64", seed=3)
    scattered.allocate_many_int(20_000)
    assert sys.getsizeof(scattered) / 20_000 <= 26  # B+tree leaves of 64 runs, ~70% full
    sequential = core.CIDRAllocator("fd00::/64", strategy="sequential")
    sequential.allocate_many_int(100_000)
    assert sys.getsizeof(sequential) / 100_000 <= 1


# -------------------------------------------------------------------------------------------
# Huge ranges: the limits of uint64 offsets and of the 2^32-bit dense bitmap
# -------------------------------------------------------------------------------------------


def test_full_slash64_restored_from_one_run(core):
    """2^64-1 used addresses in one run: counts beyond Py_ssize_t, never an OverflowError."""
    data = snapshot_bytes(6, 64, 0xFD00 << 112, [(0, M64)])
    a = core.CIDRAllocator.restore(data)
    assert (a.used, a.free, a.size) == (M64, 0, M64)
    with pytest.raises(RangeFullError):
        a.allocate_next()
    with pytest.raises(RangeFullError):
        a.allocate_many(1)
    assert a.has("fd00::ffff:ffff:ffff:ffff") and a.has("fd00::1")
    with pytest.raises(AlreadyAllocatedError):
        a.allocate("fd00::1234")
    it = iter(a)
    assert [next(it), next(it)] == ["fd00::1", "fd00::2"]
    again = a.snapshot()  # version 2: one repeat record for all 2^48 full blocks
    assert len(again) == 73 + 1 + 7 + 4 and core.CIDRAllocator.restore(again).used == M64
    a.release("fd00::ffff:ffff:ffff:fffe")
    assert a.allocate_next() == "fd00::ffff:ffff:ffff:fffe"
    with pytest.raises(OverflowError):
        len(a)  # Python's own limit for __len__; `used` is the exact count


def test_slash64_all_ones_and_huge_offsets(core):
    a = core.CIDRAllocator("fd00::/64", strategy="sequential")
    picks = [0, 1, 2, (1 << 32) - 1, 1 << 32, (1 << 32) + 1, 1 << 63, M64 - 2, M64 - 1]
    for offset in picks:
        assert a.allocate(offset_ip(a, offset)) == offset_ip(a, offset)
    assert list(a) == [offset_ip(a, o) for o in sorted(picks)]
    assert a.last == "fd00::ffff:ffff:ffff:ffff" and a.has(a.last)
    a.release(offset_ip(a, 1))  # split the run [0, 2]
    assert not a.has(offset_ip(a, 1)) and a.has(offset_ip(a, 0)) and a.has(offset_ip(a, 2))
    clone = core.CIDRAllocator.restore(a.snapshot())
    assert list(clone) == list(a) and clone.used == len(picks) - 1


def test_int_inputs_at_the_family_limits(core):
    six = core.CIDRAllocator("ffff:ffff:ffff:ffff::/64")
    top = (1 << 128) - 1
    assert six.allocate(top) == "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"
    assert six.has(top) and six.allocate_many_int(1)[0] <= top
    for bad in (1 << 128, -1, 1 << 300):
        with pytest.raises(InvalidAddressError):
            six.has(bad)
    four = core.CIDRAllocator("0.0.0.0/0")
    assert four.allocate(0xFFFFFFFE) == "255.255.255.254"
    with pytest.raises(InvalidAddressError):
        four.allocate(1 << 32)


def test_allocate_many_beyond_any_list_is_refused_cleanly(core):
    a = core.CIDRAllocator("fd00::/64")
    with pytest.raises(MemoryError):
        a.allocate_many(1 << 62)
    with pytest.raises(RangeFullError):
        a.allocate_many(1 << 70)
    assert a.used == 0


def test_slash0_ends(core):
    a = core.CIDRAllocator("0.0.0.0/0", strategy="sequential")
    assert a.allocate("255.255.255.254") == "255.255.255.254"
    assert a.allocate("0.0.0.1") == "0.0.0.1"
    assert a.allocate_next() == "0.0.0.2"  # /0 has no static band (Kubernetes quirk)
    assert list(a) == ["0.0.0.1", "0.0.0.2", "255.255.255.254"]
    assert a.has(0xFFFFFFFE) and not a.has("255.255.255.255")


# -------------------------------------------------------------------------------------------
# Bitmap page (2^16) and chunk (2^24) boundaries
# -------------------------------------------------------------------------------------------


def test_sequential_crosses_full_pages_and_chunks(core):
    a = core.CIDRAllocator("10.0.0.0/7", strategy="sequential")  # 2^25 offsets: two chunks
    band = a.band_offset
    boundary = (1 << 24) - 1
    # take everything from the band to just below the chunk boundary but one page
    for offset in (band, 65535, 65536, boundary - 1, boundary, boundary + 1):
        a.allocate(offset_ip(a, offset))
    got = a.allocate_many_int(3)
    first = int(ipaddress.ip_address(a.first))
    assert [g - first for g in got] == [band + 1, band + 2, band + 3]
    # fill the rest of the first page: the next one must come from the second page
    a.allocate_many_int(65535 - (band + 4))
    assert a.allocate_next_int() - first == 65537


def test_last_free_address_is_found_at_any_distance(core):
    a = core.CIDRAllocator("10.0.0.0/12", seed=5)
    rest = a.size - 1
    a.allocate_many_int(rest)
    assert a.free == 1
    last = a.allocate_next()
    assert a.free == 0 and a.has(last)
    with pytest.raises(RangeFullError):
        a.allocate_next()
    a.release(last)
    assert a.allocate_next() == last


# -------------------------------------------------------------------------------------------
# Differential run against the pure twin where the C structures have their edge cases
# -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "cidr, window",
    [
        ("10.0.0.0/7", ((1 << 24) - 300, (1 << 24) + 300)),  # chunk boundary
        ("10.0.0.0/15", (65536 - 300, 65536 + 300)),  # page boundary
        ("fd00::/64", ((1 << 32) - 300, (1 << 32) + 300)),  # sparse, dense limit
        ("fd00::/64", (M64 - 600, M64)),  # sparse, the very end
        ("fd00::/120", (0, 255)),
    ],
)
def test_matches_pure_twin_on_edges(core, cidr, window):
    pure = _backend.pure
    c = core.CIDRAllocator(cidr, seed=7)
    p = pure.CIDRAllocator(cidr, seed=7)
    rng = random.Random(cidr)
    lo, hi = window
    hi = min(hi, c.size)
    model = set()
    for step in range(3000):
        offset = rng.randrange(lo, hi)
        ip = offset_ip(c, offset)
        action = rng.random()
        if action < 0.45:
            if offset in model:
                with pytest.raises(AlreadyAllocatedError):
                    c.allocate(ip)
            else:
                assert c.allocate(ip) == p.allocate(ip) == ip
                model.add(offset)
        elif action < 0.8:
            c.release(ip)
            p.release(ip)
            model.discard(offset)
        else:
            assert c.has(ip) == p.has(ip) == (offset in model)
        if step % 500 == 0:
            assert c.snapshot() == p.snapshot()
    assert c.used == p.used == len(model)
    assert list(c) == list(p) == [offset_ip(c, o) for o in sorted(model)]
    assert c.snapshot() == p.snapshot()
    assert c.allocate_many(20) == p.allocate_many(20)


# -------------------------------------------------------------------------------------------
# Objects: subclasses, pickles, restore validation details of the C reader
# -------------------------------------------------------------------------------------------


def test_subclass_round_trips(core):
    class Mine(core.CIDRAllocator):
        pass

    m = Mine("10.0.0.0/24", seed=1)
    m.allocate_many(5)
    for clone in (Mine.restore(m.snapshot()), m.copy(), m.__reduce__()[0](*m.__reduce__()[1])):
        assert type(clone) is Mine and list(clone) == list(m)


def test_reinit_is_refused(core):
    a = core.CIDRAllocator("10.0.0.0/24")
    with pytest.raises(TypeError):
        a.__init__("10.1.0.0/24")
    assert a.cidr == "10.0.0.0/24"


@pytest.mark.parametrize(
    "runs, used",
    [
        ([(0, 2), (2, 1)], 3),  # adjacent
        ([(5, 1), (3, 1)], 2),  # descending
        ([(0, 0)], 0),  # empty run
        ([(250, 10)], 10),  # past the end of a /24
        ([(0, M64)], M64),  # longer than the range
        ([(0, 3)], 4),  # used mismatch
        ([(M64, 1)], 1),  # start at 2^64-1
    ],
)
def test_restore_refuses_bad_runs(core, runs, used):
    with pytest.raises(SnapshotError):
        core.CIDRAllocator.restore(snapshot_bytes(4, 24, 0x0A000000, runs, used=used))


def test_restore_refuses_bad_headers(core):
    good = snapshot_bytes(4, 24, 0x0A000000, [(3, 4)])
    core.CIDRAllocator.restore(good)
    for bad in (
        snapshot_bytes(4, 24, 0x0A000001, [(3, 4)]),  # host bits
        snapshot_bytes(4, 33, 0, []),
        snapshot_bytes(5, 24, 0, []),
        snapshot_bytes(6, 48, 0xFD00 << 112, []),
        snapshot_bytes(6, 96, 0xFFFF << 32, []),  # IPv4-mapped
        snapshot_bytes(4, 24, (1 << 40) | 0x0A000000, []),  # high bytes of an IPv4 network
        snapshot_bytes(4, 24, 0x0A000000, [], strategy=2),
        snapshot_bytes(4, 24, 0x0A000000, [], rng=(0, 0, 0, 0)),
        good[:-1],
        good + b"\0",
        b"",
        b"FCA",
    ):
        with pytest.raises(SnapshotError):
            core.CIDRAllocator.restore(bad)
    with pytest.raises(TypeError):
        core.CIDRAllocator.restore("FCAL")
