"""The snapshot formats as a contract: golden files of every version restore on both backends,
both backends write byte-identical snapshots, and the compact format meets its size target.

The golden files (tests/data/snapshots/, written by scripts/make_golden_snapshots.py) must never
change: they stand for snapshots that earlier releases wrote and users keep.
"""
from __future__ import annotations

import hashlib
import json
import pickle
import random
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fastcidr import _backend

GOLDEN = Path(__file__).resolve().parent / "data" / "snapshots"
MANIFEST = json.loads((GOLDEN / "manifest.json").read_text())


def test_every_format_version_has_golden_files():
    assert {name.split("-")[0] + "-" + name.split("-")[1] for name in MANIFEST} >= {
        "fcal-v1", "fcal-v2", "fcma-v2", "fcma-v3"}
    assert sorted(p.name for p in GOLDEN.glob("*.bin")) == sorted(MANIFEST)


@pytest.mark.parametrize("name", sorted(MANIFEST))
def test_golden_snapshot_restores_with_its_contents(fc, name):
    expected = MANIFEST[name]
    data = (GOLDEN / name).read_bytes()
    cls = getattr(fc, expected["kind"])
    a = cls.restore(data)
    addresses = list(a)
    assert len(a) == expected["used"] == len(addresses)
    assert addresses[:5] == expected["first"]
    assert hashlib.sha256("\n".join(addresses).encode()).hexdigest() == expected["sha256"]
    if expected["kind"] == "CIDRAllocator":
        assert [a.cidr] == expected["cidrs"] and a.strategy == expected["strategy"]
    else:
        assert sorted(a.cidrs) == expected["cidrs"] and a.policy == expected["strategy"]
    again = cls.restore(a.snapshot())  # the current version carries the same state
    assert list(again) == addresses
    assert a.allocate_next() == expected["next"] == again.allocate_next()


def test_current_snapshots_of_the_golden_states_are_byte_stable(fc):
    """Restoring a golden file of the current versions and snapshotting again gives the very same
    bytes."""
    for name in MANIFEST:
        if name.startswith("fcal-v2") or name.startswith("fcma-v3"):
            data = (GOLDEN / name).read_bytes()
            assert getattr(fc, MANIFEST[name]["kind"]).restore(data).snapshot() == data, name


def _twins(cidr, strategy, seed):
    compiled = _backend.compiled.CIDRAllocator(cidr, seed=seed, strategy=strategy)
    pure = _backend.pure.CIDRAllocator(cidr, seed=seed, strategy=strategy)
    return compiled, pure


CASES = [
    ("10.0.0.0/24", "random", lambda r, size: r.sample(range(size), 20)),
    ("10.0.0.0/16", "random", lambda r, size: r.sample(range(size), size // 2)),  # bitmap
    ("10.0.0.0/16", "random", lambda r, size: range(size)),  # one full block
    ("10.0.0.0/15", "random", lambda r, size: list(range(100, 5000)) + [70000]),  # runs, free
    ("10.0.0.0/14", "sequential", lambda r, size: range(0, 3 * 65536 + 7)),  # full repeat + runs
    ("10.0.0.0/16", "random", lambda r, size: range(0, size, 2)),  # a bitmap, alternating
    ("10.0.0.0/31", "random", lambda r, size: ()),  # no blocks at all
    ("10.0.0.0/30", "random", lambda r, size: (0, 1)),  # one short full block
    ("fd00::/64", "random", lambda r, size: [r.randrange(size) for _ in range(300)] + [size - 1]),
    ("fd00::/64", "sequential", lambda r, size: range(65000, 200000)),  # sparse, full blocks
    ("fd00::/64", "random", lambda r, size: range(5, 65536 + 5, 3)),  # sparse storage, bitmaps
    ("fd00::/112", "random", lambda r, size: r.sample(range(size), 10000)),
]


@pytest.mark.parametrize("case", range(len(CASES)))
def test_both_backends_write_byte_identical_snapshots(case):
    cidr, strategy, offsets = CASES[case]
    compiled, pure = _twins(cidr, strategy, seed=case)
    rng = random.Random(case)
    first = _backend.compiled.parse_cidr(cidr)[1] + 1
    for offset in sorted(set(offsets(rng, compiled.size))):
        compiled.allocate(first + offset)
        pure.allocate(first + offset)
    data = compiled.snapshot()
    assert data[4:6] == b"\x02\x00"
    assert pure.snapshot() == data
    for module in (_backend.compiled, _backend.pure):  # each reads what the other wrote
        restored = module.CIDRAllocator.restore(data)
        assert restored.snapshot() == data and restored.used == compiled.used
    assert pickle.loads(pickle.dumps(pure)).snapshot() == data


def test_half_full_random_slash12_snapshot_is_at_most_200_kb(fc):
    a = fc.CIDRAllocator("10.96.0.0/12", seed=1)
    a.allocate_many(a.size // 2)
    data = a.snapshot()
    assert len(data) <= 200_000, len(data)
    b = fc.CIDRAllocator.restore(data)
    assert b.used == a.used and b.snapshot() == data
    assert b.allocate_next() == a.allocate_next()  # the generator state travels


def test_sparse_snapshots_are_not_larger_than_version_1(fc):
    """A few scattered addresses: a run record and a repeat per address, < 16 bytes each."""
    a = fc.CIDRAllocator("fd00::/64", seed=2)
    a.allocate_many(1000)
    assert len(a.snapshot()) < 73 + 16 * 1000 + 4


@settings(max_examples=60, deadline=None)
@given(size=st.integers(0, 3 * 65536 + 100),
       spans=st.lists(st.tuples(st.integers(0, 3 * 65536 + 99), st.integers(1, 70000)), max_size=30),
       dense_block=st.booleans())
def test_the_twins_two_writers_agree_and_read_back(size, spans, dense_block):
    """_snapshot_twin writes the same body from runs and from bitmap words, and reads it back."""
    from fastcidr._snapshot_twin import decode_body, decode_body_parts, encode_body, encode_body_dense
    from fastcidr._space_twin import DenseBitmap

    bits = DenseBitmap(size)
    for start, length in spans:
        for offset in range(start, min(start + length, size, start + 300)):
            if not bits.test(offset):
                bits.set(offset)
    if dense_block and size > 65536:  # a block of many short runs: the bitmap record wins
        for offset in range(0, 65536, 3):
            if not bits.test(offset):
                bits.set(offset)
    runs = list(bits.runs())
    body = encode_body(size, runs)
    assert encode_body_dense(size, bits.block_bits) == body
    assert decode_body(body, size) == runs
    parts, bitmaps = decode_body_parts(body, size)
    restored = DenseBitmap(size)
    for start, length in parts:
        restored.set_run(start, length)
    for first_word, nwords, value in bitmaps:
        restored.load_bits(first_word, nwords, value)
    assert list(restored.runs()) == runs and restored.count == bits.count


MULTI_CASES = [
    (["10.0.0.0/24", "10.0.0.0/28", "fd00::/64", "10.1.0.0/16"], 100, 50),
    (["10.96.0.0/14"], 2**17, 0),  # bitmap blocks inside the one IPv4 storage
    (["10.0.0.0/24", "10.0.1.0/24", "fd00::/120", "fd01::/64"], 300, 200),  # tops sharing a page
    ([], 0, 0),
]


@pytest.mark.parametrize("case", range(len(MULTI_CASES)))
def test_both_backends_write_byte_identical_multi_snapshots(case):
    cidrs, n4, n6 = MULTI_CASES[case]
    made = [module.MultiCIDRAllocator(cidrs, seed=case) for module in (_backend.compiled, _backend.pure)]
    for m in made:
        if n4:
            m.allocate_many(n4, family=4)
        if n6:
            m.allocate_many(n6, family=6)
    data = made[0].snapshot()
    assert data[4:6] == b"\x03\x00" and made[1].snapshot() == data
    for module in (_backend.compiled, _backend.pure):
        restored = module.MultiCIDRAllocator.restore(data)
        assert restored.snapshot() == data and list(restored) == list(made[0])


def test_multi_snapshot_of_a_half_full_slash12_is_compact(fc):
    m = fc.MultiCIDRAllocator(["10.96.0.0/12"], seed=1)
    m.allocate_many(2**19)
    assert len(m.snapshot()) <= 200_000  # version 2 took 25 bytes a run: about 5 MB


def _fcma_v3(cidrs_records: bytes, ncidrs: int, tops: bytes, ntops: int) -> bytes:
    import struct
    import zlib

    # policy ordered: no candidate positions, so only the block bodies can be wrong
    head = b"FCMA" + struct.pack("<HB4QI", 3, 2, 1, 2, 3, 4, ncidrs) + cidrs_records
    body = head + struct.pack("<I", ntops) + tops
    return body + struct.pack("<I", zlib.crc32(body))


def _cidr_record(family: int, network: int, prefix: int) -> bytes:
    import struct

    return bytes([family, prefix]) + network.to_bytes(16, "big") + b"\x01" + struct.pack("<I", 0xFFFFFFFF)


def _top(family: int, network: int, prefix: int, body: bytes) -> bytes:
    import struct

    return bytes([family]) + network.to_bytes(16, "big") + struct.pack("<BQ", prefix, len(body)) + body


NET24, NET28 = 0x0A000000, 0x0A000000
FORGED_FCMA_V3 = {
    "top not listed": ([(4, NET24, 24)], [(4, 0x0B000000, 24, b"\x00")]),
    "nested CIDR as a top": ([(4, NET24, 24), (4, NET28, 28)], [(4, NET28, 28, b"\x00")]),
    "tops out of order": ([(4, NET24, 24), (4, 0x0B000000, 24)],
                          [(4, 0x0B000000, 24, b"\x00"), (4, NET24, 24, b"\x00")]),
    "top twice": ([(4, NET24, 24)], [(4, NET24, 24, b"\x00"), (4, NET24, 24, b"\x00")]),
    "body with an unknown tag": ([(4, NET24, 24)], [(4, NET24, 24, b"\x09")]),
    "body too short": ([(4, NET24, 24)], [(4, NET24, 24, b"")]),
    "body too long": ([(4, NET24, 24)], [(4, NET24, 24, b"\x00\x00")]),
    "run past the CIDR": ([(4, NET24, 24)], [(4, NET24, 24, b"\x03\x01\xfd\x01\x01")]),
    "empty CIDR with a body": ([(4, 0x0A000001, 32)], [(4, 0x0A000001, 32, b"\x00")]),
}


@pytest.mark.parametrize("case", sorted(FORGED_FCMA_V3))
def test_forged_fcma_version_3_is_refused(fc, case):
    from fastcidr import SnapshotError

    cidrs, tops = FORGED_FCMA_V3[case]
    good_records = b"".join(_cidr_record(*c) for c in cidrs)
    data = _fcma_v3(good_records, len(cidrs), b"".join(_top(*t) for t in tops), len(tops))
    with pytest.raises(SnapshotError):
        fc.MultiCIDRAllocator.restore(data)


def test_hand_encoded_fcma_version_3_restores(fc):
    cidrs = [(4, NET24, 24), (4, NET28, 28)]
    records = b"".join(_cidr_record(*c) for c in cidrs)
    data = _fcma_v3(records, 2, _top(4, NET24, 24, b"\x03\x02\x00\x00\x03\x01"), 1)
    m = fc.MultiCIDRAllocator.restore(data)
    assert list(m) == ["10.0.0.1", "10.0.0.6", "10.0.0.7"] and m.policy == "ordered"  # gaps 0, 3
    assert m.stats("10.0.0.0/28")["used"] == 3
