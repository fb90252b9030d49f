"""Damaged FCMA snapshots: always SnapshotError (a ValueError), never a crash, on both backends."""
from __future__ import annotations

import random
import struct
import zlib
from typing import Any

import pytest

from fastcidr import SnapshotError


def sample(fc: Any) -> bytes:
    m = fc.MultiCIDRAllocator(["10.0.0.0/24", "10.0.0.0/28", "fd00::/120"], seed=3)
    m.add("10.0.1.0/30", ready=False)
    for ip in ("10.0.0.1", "10.0.0.2", "10.0.0.9", "10.0.0.200", "fd00::5", "fd00::ff"):
        m.allocate(ip)
    return m.snapshot()


def recrc(body: bytes) -> bytes:
    return body + struct.pack("<I", zlib.crc32(body))


def test_sample_roundtrips(fc: Any) -> None:
    data = sample(fc)
    assert fc.MultiCIDRAllocator.restore(data).snapshot() == data


def test_truncations_and_bit_flips(fc: Any) -> None:
    data = sample(fc)
    for n in range(len(data)):
        with pytest.raises(SnapshotError):
            fc.MultiCIDRAllocator.restore(data[:n])
    for i in range(len(data)):
        for bit in range(8):
            damaged = bytearray(data)
            damaged[i] ^= 1 << bit
            with pytest.raises(SnapshotError):
                fc.MultiCIDRAllocator.restore(bytes(damaged))
    with pytest.raises(SnapshotError):
        fc.MultiCIDRAllocator.restore(data + b"\0")


def test_forged_crc_with_bad_content(fc: Any) -> None:
    """Content errors behind a valid checksum: each is caught by validation."""
    data = sample(fc)
    body = data[:-4]
    rng = random.Random(5)
    caught = 0
    for _ in range(1500):
        damaged = bytearray(body)
        for _ in range(rng.randint(1, 3)):
            damaged[rng.randrange(4, len(damaged))] = rng.randrange(256)
        try:
            m = fc.MultiCIDRAllocator.restore(recrc(bytes(damaged)))
        except SnapshotError:
            caught += 1
            continue
        # Whatever was accepted must be self-consistent.
        assert fc.MultiCIDRAllocator.restore(m.snapshot()).snapshot() == m.snapshot()
        assert len(m) == len(list(m)) == m.used()
    assert caught > 500
    header = struct.pack("<4sHB4QI", b"FCMA", 2, 0, 1, 2, 3, 4, 1)
    no_position = struct.pack("<I", 0xFFFFFFFF)
    cidr = struct.pack("<BB", 4, 24) + (0x0A000000).to_bytes(16, "big") + b"\x01" + struct.pack("<I", 0)

    def run(fam: int, start: int, length: int) -> bytes:
        return struct.pack("<B", fam) + start.to_bytes(16, "big") + struct.pack("<Q", length)

    full = cidr[:-4] + no_position  # no candidate once every address is taken
    good = recrc(header + full + struct.pack("<Q", 1) + run(4, 0x0A000001, 254))
    assert len(fc.MultiCIDRAllocator.restore(good)) == 254
    second = struct.pack("<BB", 4, 24) + (0x0A000100).to_bytes(16, "big") + b"\x01"
    two = struct.pack("<4sHB4QI", b"FCMA", 2, 1, 1, 2, 3, 4, 2)  # policy random: one class
    swapped = fc.MultiCIDRAllocator.restore(recrc(two + cidr[:-4] + struct.pack("<I", 1) + second
                                                  + struct.pack("<I", 0) + struct.pack("<Q", 0)))
    assert fc.MultiCIDRAllocator.restore(swapped.snapshot()).snapshot() == swapped.snapshot()
    cases = [
        header.replace(b"FCMA", b"FCAL") + cidr + struct.pack("<Q", 0),  # foreign magic
        header[:4] + b"\x01\x00" + header[6:] + cidr[:-4] + struct.pack("<Q", 0),  # version 1
        header[:4] + b"\x03\x00" + header[6:] + cidr + struct.pack("<Q", 0),  # version 3
        header[:6] + b"\x03" + header[7:] + cidr + struct.pack("<Q", 0),  # policy 3
        struct.pack("<4sHB4QI", b"FCMA", 2, 0, 0, 0, 0, 0, 1) + cidr + struct.pack("<Q", 0),  # rng 0
        header + cidr[:1] + b"\x21" + cidr[2:] + struct.pack("<Q", 0),  # /33
        header + b"\x05" + cidr[1:] + struct.pack("<Q", 0),  # family 5
        header + cidr[:-5] + b"\x02" + cidr[-4:] + struct.pack("<Q", 0),  # ready 2
        header + struct.pack("<BB", 4, 24) + (0x0A000001).to_bytes(16, "big") + b"\x01"
        + no_position + struct.pack("<Q", 0),  # host bits
        header + struct.pack("<BB", 4, 24) + (1 << 40).to_bytes(16, "big") + b"\x01"
        + no_position + struct.pack("<Q", 0),  # IPv4 beyond 32 bits
        struct.pack("<4sHB4QI", b"FCMA", 2, 0, 1, 2, 3, 4, 1) + struct.pack("<BB", 6, 48)
        + (0x20010DB8 << 96).to_bytes(16, "big") + b"\x01" + no_position
        + struct.pack("<Q", 0),  # IPv6 /48
        header + cidr[:-4] + no_position + struct.pack("<Q", 0),  # a candidate without position
        header + cidr[:-4] + struct.pack("<I", 1) + struct.pack("<Q", 0),  # position out of range
        header + cidr + struct.pack("<Q", 1) + run(4, 0x0A000001, 254),  # full CIDR with a position
        header[:6] + b"\x02" + header[7:] + cidr + struct.pack("<Q", 0),  # ordered with a position
        two + cidr + second + struct.pack("<I", 0) + struct.pack("<Q", 0),  # position used twice
        struct.pack("<4sHB4QI", b"FCMA", 2, 0, 1, 2, 3, 4, 2) + cidr + cidr + struct.pack("<Q", 0),  # dup
        header + cidr + struct.pack("<Q", 1) + run(4, 0x0A000001, 255),  # reaches the broadcast
        header + cidr + struct.pack("<Q", 1) + run(4, 0x0A000000, 2),  # network address
        header + cidr + struct.pack("<Q", 1) + run(4, 0x0B000001, 1),  # outside every CIDR
        header + cidr + struct.pack("<Q", 1) + run(4, 0x0A000001, 0),  # empty run
        header + cidr + struct.pack("<Q", 2) + run(4, 0x0A000001, 2) + run(4, 0x0A000003, 1),  # adjacent
        header + cidr + struct.pack("<Q", 2) + run(4, 0x0A000005, 2) + run(4, 0x0A000001, 1),  # unsorted
        header + cidr + struct.pack("<Q", 2) + run(4, 0x0A000001, 5) + run(4, 0x0A000003, 1),  # overlap
        header + cidr + struct.pack("<Q", 1) + run(6, 0x0A000001, 1),  # IPv6 run, no IPv6 CIDR
        header + cidr + struct.pack("<Q", 1) + run(4, 0x0A000001, 2**64 - 1),  # huge
        header + cidr + struct.pack("<Q", 2**63) + run(4, 0x0A000001, 1),  # nruns lies
        header + cidr + struct.pack("<Q", 1) + run(9, 0x0A000001, 1),  # family 9
        header[:-4] + struct.pack("<I", 2**32 - 1) + cidr + struct.pack("<Q", 0),  # ncidrs lies
    ]
    for body in cases:
        with pytest.raises(SnapshotError):
            fc.MultiCIDRAllocator.restore(recrc(body))


def test_random_bytes_and_types(fc: Any) -> None:
    rng = random.Random(9)
    for n in range(0, 300, 7):
        junk = bytes(rng.randrange(256) for _ in range(n))
        with pytest.raises(SnapshotError):
            fc.MultiCIDRAllocator.restore(junk)
        with pytest.raises(SnapshotError):
            fc.MultiCIDRAllocator.restore(recrc(b"FCMA\x01\x00" + junk))
    for bad in ("FCMA", 5, None, [1, 2]):
        with pytest.raises(TypeError):
            fc.MultiCIDRAllocator.restore(bad)
