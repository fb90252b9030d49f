"""Pure-Python twin of ``include/fc_snapshot.h``: the block body of a ``CIDRAllocator`` snapshot,
format version 2 (docs/ALGORITHMS.md "Snapshot format").

The offsets ``[0, size)`` are cut into blocks of 2**16 (the last may be shorter); each block is
one record: a one-byte tag for a block with nothing or everything allocated (a tag and a count
for several in a row), the block's bitmap, or its runs, whichever is strictly shorter. The
choice depends only on the set, so this writer and the compiled one write the same bytes.

>>> body = encode_body(300, [(0, 2), (63, 1)])
>>> body.hex()
'030200013c00'
>>> decode_body(body, 300)
[(0, 2), (63, 1)]
"""
from __future__ import annotations

import re
from typing import Callable, Iterable, List, Tuple

from .errors import SnapshotError

__all__ = ["encode_body", "encode_body_dense", "decode_body", "decode_body_parts"]

BLOCK_SHIFT = 16
BLOCK_BITS = 1 << BLOCK_SHIFT
FREE, FULL, BITMAP, RUNS, FREE_N, FULL_N = range(6)
_ONES = re.compile("1+")


def _varint(value: int) -> bytes:
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _block_record(runs: List[Tuple[int, int]], bits: int) -> bytes:
    """The record of a partly used block from its runs ``(first, last)``, block-relative."""
    words = (bits + 63) >> 6
    bitmap_len = 1 + 8 * words
    parts = [bytes([RUNS]), _varint(len(runs))]
    following = 0  # the first offset the next run may start at, plus the one free offset
    for first, last in runs:
        parts.append(_varint(first - following))
        parts.append(_varint(last - first))
        following = last + 2
    record = b"".join(parts)
    if len(record) < bitmap_len:
        return record
    text = []  # bit i of the block is character i: built as text, read as one integer
    position = 0
    for first, last in runs:
        text.append("0" * (first - position))
        text.append("1" * (last - first + 1))
        position = last + 1
    value = int("".join(text)[::-1] or "0", 2)
    return bytes([BITMAP]) + value.to_bytes(8 * words, "little")


class _Records:
    """The records being written, with the pending repeat of free or full blocks."""

    def __init__(self) -> None:
        self.out: List[bytes] = []
        self.kind, self.count = FREE, 0

    def repeat(self, kind: int, count: int) -> None:
        if self.count and self.kind != kind:
            self.flush()
        self.kind = kind
        self.count += count

    def flush(self) -> None:
        if self.count == 1:
            self.out.append(bytes([self.kind]))
        elif self.count > 1:
            self.out.append(bytes([self.kind + 4]) + _varint(self.count))
        self.count = 0

    def block(self, record: bytes) -> None:
        self.flush()
        self.out.append(record)

    def body(self) -> bytes:
        self.flush()
        return b"".join(self.out)


def encode_body(size: int, runs: Iterable[Tuple[int, int]]) -> bytes:
    """The body for ``size`` offsets of which the maximal ascending runs ``(start, length)`` are
    allocated."""
    spans = [(start, start + length - 1) for start, length in runs]
    nblocks = (size + BLOCK_BITS - 1) >> BLOCK_SHIFT
    out = _Records()
    index, block = 0, 0
    while block < nblocks:
        block_start = block << BLOCK_SHIFT
        while index < len(spans) and spans[index][1] < block_start:
            index += 1
        if index == len(spans):
            out.repeat(FREE, nblocks - block)
            break
        first, last = spans[index]
        first = max(first, block_start)
        if first >> BLOCK_SHIFT > block:
            out.repeat(FREE, (first >> BLOCK_SHIFT) - block)
            block = first >> BLOCK_SHIFT
            block_start = block << BLOCK_SHIFT
        bits = min(BLOCK_BITS, size - block_start)
        block_last = block_start + bits - 1
        if first == block_start and last >= block_last:
            full = nblocks - block if last == size - 1 else ((last + 1) >> BLOCK_SHIFT) - block
            out.repeat(FULL, full)
            block += full
            continue
        inside = []
        while index < len(spans) and spans[index][0] <= block_last:
            first, last = spans[index]
            inside.append((max(first, block_start) - block_start, min(last, block_last) - block_start))
            if last > block_last:
                break  # it goes on in the next block
            index += 1
        out.block(_block_record(inside, bits))
        block += 1
    return out.body()


def _runs_of(value: int) -> List[Tuple[int, int]]:
    """The runs ``(first, last)`` of the one bits of ``value``, ascending."""
    return [(m.start(), m.end() - 1) for m in _ONES.finditer(format(value, "b")[::-1])]


def encode_body_dense(size: int, block_bits: Callable[[int, int], int]) -> bytes:
    """The same body from a bitmap: ``block_bits(first_word, nwords)`` gives the bits of a block
    as an int (bit i = offset ``64 * first_word + i``). Byte for byte what ``encode_body`` writes
    for the same set, in a fraction of the time when runs are many."""
    nblocks = (size + BLOCK_BITS - 1) >> BLOCK_SHIFT
    out = _Records()
    for block in range(nblocks):
        bits = min(BLOCK_BITS, size - (block << BLOCK_SHIFT))
        words = (bits + 63) >> 6
        value = block_bits(block << (BLOCK_SHIFT - 6), words)
        ones = value.bit_count()
        if ones == 0:
            out.repeat(FREE, 1)
        elif ones == bits:
            out.repeat(FULL, 1)
        else:
            starts = (value & ~(value << 1)).bit_count()
            bitmap_len = 1 + 8 * words
            if 1 + len(_varint(starts)) + 2 * starts >= bitmap_len:  # runs cannot be shorter
                out.block(bytes([BITMAP]) + value.to_bytes(8 * words, "little"))
            else:
                out.block(_block_record(_runs_of(value), bits))
    return out.body()


def _bad(why: str) -> SnapshotError:
    return SnapshotError(f"snapshot: {why}")


def _read_varint(body: bytes, pos: int) -> Tuple[int, int]:
    value, shift = 0, 0
    while True:
        if pos >= len(body) or shift > 63:
            raise _bad("malformed variable-length integer")
        byte = body[pos]
        pos += 1
        if shift == 63 and byte > 1:
            raise _bad("malformed variable-length integer")
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7


def decode_body(body: bytes, size: int) -> List[Tuple[int, int]]:
    """The maximal ascending runs ``(start, length)`` of a body, validated completely:
    ``SnapshotError`` unless the records cover ``[0, size)`` exactly and each is well formed."""
    return decode_body_parts(body, size, keep_bitmaps=False)[0]


def decode_body_parts(body: bytes, size: int, keep_bitmaps: bool = True
                      ) -> Tuple[List[Tuple[int, int]], List[Tuple[int, int, int]]]:
    """``(runs, bitmaps)`` of a body, validated as by ``decode_body``: the bitmap records as
    ``(first_word, nwords, bits)`` for a bitmap store to take whole, the rest as ascending runs
    (with ``keep_bitmaps=False`` the bitmaps become runs too and every run is maximal)."""
    nblocks = (size + BLOCK_BITS - 1) >> BLOCK_SHIFT
    runs: List[List[int]] = []
    bitmaps: List[Tuple[int, int, int]] = []

    def add(start: int, length: int) -> None:
        if runs and runs[-1][0] + runs[-1][1] == start:
            runs[-1][1] += length
        else:
            runs.append([start, length])

    pos, block = 0, 0
    while pos < len(body):
        tag = body[pos]
        pos += 1
        if block >= nblocks:
            raise _bad("block records run past the end of the range")
        block_start = block << BLOCK_SHIFT
        bits = min(BLOCK_BITS, size - block_start)
        if tag == FREE:
            block += 1
        elif tag == FULL:
            add(block_start, bits)
            block += 1
        elif tag in (FREE_N, FULL_N):
            count, pos = _read_varint(body, pos)
            if count < 2:
                raise _bad("a repeat count or run count is out of range")
            if count > nblocks - block:
                raise _bad("block records run past the end of the range")
            if tag == FULL_N:
                add(block_start, size - block_start if block + count == nblocks else count << BLOCK_SHIFT)
            block += count
        elif tag == BITMAP:
            nbytes = 8 * ((bits + 63) >> 6)
            if len(body) - pos < nbytes:
                raise _bad("a block record is truncated")
            value = int.from_bytes(body[pos:pos + nbytes], "little")
            if value >> bits:
                raise _bad("bits set beyond the end of the range")
            pos += nbytes
            if keep_bitmaps:
                bitmaps.append((block_start >> 6, nbytes >> 3, value))
            else:
                for first, last in _runs_of(value):
                    add(block_start + first, last - first + 1)
            block += 1
        elif tag == RUNS:
            count, pos = _read_varint(body, pos)
            if count < 1 or count > (bits + 1) // 2:
                raise _bad("a repeat count or run count is out of range")
            following = 0
            for _ in range(count):
                gap, pos = _read_varint(body, pos)
                length_less_one, pos = _read_varint(body, pos)
                if gap >= bits or following + gap >= bits:
                    raise _bad("a run lies outside its block")
                following += gap
                if length_less_one >= bits - following:
                    raise _bad("a run lies outside its block")
                add(block_start + following, length_less_one + 1)
                following += length_less_one + 2
            block += 1
        else:
            raise _bad("unknown block record tag")
    if block != nblocks:
        raise _bad("block records do not cover the range")
    return [(start, length) for start, length in runs], bitmaps
