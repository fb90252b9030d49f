"""Writes the golden snapshot files of tests/data/snapshots/ and their manifest.

Run it only when a new format version is added (the files of the old versions must never change:
they prove that snapshots written by earlier releases still restore)::

    PYTHONPATH=src .venv/bin/python scripts/make_golden_snapshots.py

Version 1 of the single-CIDR format is no longer written by ``snapshot()``; its files are encoded
here from the documented layout (docs/ALGORITHMS.md "Snapshot format") out of the same
allocators' addresses. Files of a version that nothing writes any more (FCMA version 2) are kept
as they are, with their manifest entries. Each manifest entry records what a restore must find: the CIDR, the
strategy, the count, a digest of every allocated address in order, the first few of them, and
the address the next ``allocate_next()`` returns (the random generator's state travels too).
"""
from __future__ import annotations

import hashlib
import json
import struct
import sys
import zlib
from pathlib import Path

from fastcidr import CIDRAllocator, MultiCIDRAllocator
from fastcidr._backend import impl

OUT = Path(__file__).resolve().parent.parent / "tests" / "data" / "snapshots"
HEADER_V1 = struct.Struct("<4sHBB16sB4QQQ")


def digest(addresses) -> str:
    return hashlib.sha256("\n".join(addresses).encode()).hexdigest()


def fcal_v1(a: CIDRAllocator) -> bytes:
    """The version-1 image of ``a``: header, one (start, length) pair per maximal run, CRC."""
    v2 = a.snapshot()
    family, network, prefix = impl.parse_cidr(a.cidr)
    runs: list = []
    for ip in a:
        offset = impl.parse_ip(ip)[1] - network - 1
        if runs and runs[-1][0] + runs[-1][1] == offset:
            runs[-1][1] += 1
        else:
            runs.append([offset, 1])
    rng = struct.unpack_from("<4Q", v2, 25)
    head = HEADER_V1.pack(b"FCAL", 1, family, prefix, network.to_bytes(16, "big"), v2[24], *rng,
                          a.used, len(runs))
    body = head + b"".join(struct.pack("<QQ", start, length) for start, length in runs)
    return body + struct.pack("<I", zlib.crc32(body))


def singles() -> dict:
    small = CIDRAllocator("10.96.0.0/24", seed=11)
    for ip in ("10.96.0.1", "10.96.0.2", "10.96.0.3", "10.96.0.200"):
        small.allocate(ip)
    small.allocate_many(20)
    six = CIDRAllocator("fd00:10::/64", seed=12)
    six.allocate("fd00:10::1")
    six.allocate("fd00:10::ffff:ffff:ffff:ffff")
    six.allocate_many(40)
    # four blocks of 2^16: full, a bitmap (every other address), runs, nothing
    mixed = CIDRAllocator("10.128.0.0/14", seed=13, strategy="sequential")
    base = impl.parse_cidr(mixed.cidr)[1] + 1
    for offset in range(0, 65536):
        mixed.allocate(base + offset)
    for offset in range(65536, 2 * 65536, 2):
        mixed.allocate(base + offset)
    for offset in list(range(2 * 65536 + 10, 2 * 65536 + 400)) + [3 * 65536 - 1]:
        mixed.allocate(base + offset)
    return {"ipv4-24": small, "ipv6-64": six, "ipv4-14-mixed": mixed}


def entry(kind: str, a, next_address: str) -> dict:
    addresses = list(a)
    return {"kind": kind, "cidrs": [a.cidr] if kind == "CIDRAllocator" else sorted(a.cidrs),
            "strategy": a.strategy if kind == "CIDRAllocator" else a.policy, "used": len(a),
            "sha256": digest(addresses), "first": addresses[:5], "next": next_address}


def main() -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    old = OUT / "manifest.json"
    manifest = json.loads(old.read_text()) if old.exists() else {}
    for name, a in singles().items():
        images = {"fcal-v2": a.snapshot()}
        if a.used < 1000:  # version 1 spends 16 bytes a run: the bitmap block would take 0.5 MB
            images["fcal-v1"] = fcal_v1(a)
        for version, data in images.items():
            file = f"{version}-{name}.bin"
            (OUT / file).write_bytes(data)
            manifest[file] = entry("CIDRAllocator", a, CIDRAllocator.restore(data).allocate_next())
    multi = MultiCIDRAllocator(["10.96.0.0/24", "fd00:20::/120"], seed=14)
    multi.allocate("10.96.0.7")
    multi.allocate_many(30)
    file = "fcma-v3-dual.bin"
    (OUT / file).write_bytes(multi.snapshot())
    manifest[file] = entry("MultiCIDRAllocator", multi,
                           MultiCIDRAllocator.restore(multi.snapshot()).allocate_next())
    (OUT / "manifest.json").write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
