"""The pure-Python twin of the compiled storage (``include/fc_space.h``: ``fc_bitmap.h`` and
``fc_runs.h``): the allocated offsets of one address space, as a hierarchical lazily paged bitmap
(``DenseBitmap``, up to 2**32 offsets) or as maximal runs (``RunSet``, above).

Both classes share one interface (offsets are ints, ``limit`` is exclusive):
``set(p) -> bool`` (True if it was clear), ``clear(p) -> bool`` (True if it was set),
``test(p) -> bool``, ``first_free(p, limit) -> int`` and ``first_set(p, limit) -> int`` (the
first clear / set offset in ``[p, limit)``, or ``-1``), ``count`` (number of set offsets),
``set_run(start, length)`` (bulk load of a run into clear offsets), ``runs()`` (an iterator of
``(start, length)`` maximal runs, ascending) and ``nbytes()`` (memory owned, for ``__sizeof__``).
"""
from __future__ import annotations

import struct
import sys
from bisect import bisect_right
from typing import Any, Iterator, List, Tuple

__all__ = ["DenseBitmap", "RunSet", "new_storage"]

_MASK64 = (1 << 64) - 1
_ALL_ONES_WORD = _MASK64

# --------------------------------------------------------------------------------------------
# Dense storage: hierarchical, lazily paged bitmap
# --------------------------------------------------------------------------------------------

_PAGE_SHIFT = 8  # 256 words (16384 offsets) per page; a page is a list of ints
_PAGE_WORDS = 1 << _PAGE_SHIFT
_PAGE_MASK = _PAGE_WORDS - 1
_PAGE_STRUCT = struct.Struct(f"<{_PAGE_WORDS}Q")


def _ctz(x: int) -> int:
    return (x & -x).bit_length() - 1


class _PagedWords:
    """An array of 64-bit words, all zero until written, stored in lazily created pages."""

    __slots__ = ("pages",)

    def __init__(self) -> None:
        self.pages: dict = {}

    def get(self, w: int) -> int:
        page = self.pages.get(w >> _PAGE_SHIFT)
        return 0 if page is None else page[w & _PAGE_MASK]

    def put(self, w: int, value: int) -> None:
        page = self.pages.get(w >> _PAGE_SHIFT)
        if page is None:
            if not value:
                return
            page = self.pages[w >> _PAGE_SHIFT] = [0] * _PAGE_WORDS
        page[w & _PAGE_MASK] = value

    def nbytes(self) -> int:
        return sys.getsizeof(self.pages) + len(self.pages) * (
            sys.getsizeof([0] * _PAGE_WORDS) + 32 * _PAGE_WORDS
        )


class DenseBitmap:
    """A bitmap over ``nbits`` offsets (1 = allocated) with two summary hierarchies.

    Level 0 holds one bit per offset in 64-bit words. In the *full* hierarchy a bit of level k+1
    is set when word k of the level below is all ones (``first_free`` climbs those); in the *any*
    hierarchy it is set when that word is non-zero (``first_set`` climbs those, for iteration
    and snapshots). Each query costs at most ``2 * log64(nbits)`` word steps. Pages are created
    on first write, so an empty bitmap of ``2**31`` bits costs a few hundred bytes.

    >>> b = DenseBitmap(200)
    >>> b.set(0), b.set(1), b.first_free(0, 200), b.first_set(2, 200)
    (True, True, 2, -1)
    """

    __slots__ = ("nbits", "count", "_full", "_any")

    def __init__(self, nbits: int) -> None:
        if not 0 <= nbits <= 1 << 32:
            raise ValueError("DenseBitmap holds at most 2**32 bits")
        self.nbits = nbits
        self.count = 0
        level0 = _PagedWords()
        self._full: List[_PagedWords] = [level0]
        self._any: List[_PagedWords] = [level0]
        width = nbits
        while width > 64:
            width = (width + 63) >> 6
            self._full.append(_PagedWords())
            self._any.append(_PagedWords())

    def test(self, p: int) -> bool:
        return bool(self._full[0].get(p >> 6) >> (p & 63) & 1)

    def set(self, p: int) -> bool:
        level0 = self._full[0]
        w = p >> 6
        old = level0.get(w)
        bit = 1 << (p & 63)
        if old & bit:
            return False
        new = old | bit
        if new == _ALL_ONES_WORD:
            new = _ALL_ONES_WORD  # share one int object among all full words (memory)
        level0.put(w, new)
        self.count += 1
        if new == _ALL_ONES_WORD:  # propagate "full" while words become full
            pos, k = w, 1
            while k < len(self._full):
                words = self._full[k]
                word = words.get(pos >> 6) | (1 << (pos & 63))
                words.put(pos >> 6, word)
                if word != _ALL_ONES_WORD:
                    break
                pos >>= 6
                k += 1
        if not old:  # propagate "any" while words become non-zero
            pos, k = w, 1
            while k < len(self._any):
                words = self._any[k]
                before = words.get(pos >> 6)
                words.put(pos >> 6, before | (1 << (pos & 63)))
                if before:
                    break
                pos >>= 6
                k += 1
        return True

    def clear(self, p: int) -> bool:
        level0 = self._full[0]
        w = p >> 6
        old = level0.get(w)
        bit = 1 << (p & 63)
        if not old & bit:
            return False
        new = old & ~bit
        level0.put(w, new)
        self.count -= 1
        if old == _ALL_ONES_WORD:  # propagate "not full" while words stop being full
            pos, k = w, 1
            while k < len(self._full):
                words = self._full[k]
                before = words.get(pos >> 6)
                words.put(pos >> 6, before & ~(1 << (pos & 63)))
                if before != _ALL_ONES_WORD:
                    break
                pos >>= 6
                k += 1
        if not new:  # propagate "empty" while words become zero
            pos, k = w, 1
            while k < len(self._any):
                words = self._any[k]
                word = words.get(pos >> 6) & ~(1 << (pos & 63))
                words.put(pos >> 6, word)
                if word:
                    break
                pos >>= 6
                k += 1
        return True

    @staticmethod
    def _search(levels: List[_PagedWords], invert: bool, p: int, limit: int) -> int:
        """First offset in [p, limit) whose level-0 bit is 0 (invert) or 1, else -1."""
        if p >= limit:
            return -1
        k, pos = 0, p
        top = len(levels)
        while True:
            w = pos >> 6
            word = levels[k].get(w)
            if invert:
                word ^= _ALL_ONES_WORD
            word &= _ALL_ONES_WORD << (pos & 63)
            if word:
                break
            pos = w + 1
            k += 1
            if k == top:
                return -1
        pos = (w << 6) | _ctz(word & _ALL_ONES_WORD)
        while k:
            k -= 1
            word = levels[k].get(pos)
            if invert:
                word ^= _ALL_ONES_WORD
            pos = (pos << 6) | _ctz(word)
        return pos if pos < limit else -1

    def first_free(self, p: int, limit: int) -> int:
        return self._search(self._full, True, p, min(limit, self.nbits))

    def first_set(self, p: int, limit: int) -> int:
        return self._search(self._any, False, p, min(limit, self.nbits))

    def set_run(self, start: int, length: int) -> None:
        """Set ``[start, start+length)``, all currently clear (bulk load for restore)."""
        if length <= 0:
            return
        end = start + length  # exclusive
        level0 = self._full[0]
        first_word, last_word = start >> 6, (end - 1) >> 6
        w = first_word
        while w <= last_word:
            lo = max(start, w << 6) - (w << 6)
            hi = min(end, (w + 1) << 6) - (w << 6)
            if lo == 0 and (w & _PAGE_MASK) == 0 and (w + _PAGE_WORDS) << 6 <= end:
                # a whole page of full words at once
                page = level0.pages.get(w >> _PAGE_SHIFT)
                if page is None:
                    level0.pages[w >> _PAGE_SHIFT] = [_ALL_ONES_WORD] * _PAGE_WORDS
                else:
                    page[:] = [_ALL_ONES_WORD] * _PAGE_WORDS
                w += _PAGE_WORDS
                continue
            mask = (_ALL_ONES_WORD >> (64 - (hi - lo))) << lo
            level0.put(w, level0.get(w) | mask)
            w += 1
        self.count += length
        self._refresh(first_word, last_word)

    def _refresh(self, first_word: int, last_word: int) -> None:
        """Recompute both summaries above level-0 words [first_word, last_word]."""
        lo, hi = first_word, last_word
        for k in range(1, len(self._full)):
            below_full, below_any = self._full[k - 1], self._any[k - 1]
            full_words, any_words = self._full[k], self._any[k]
            for parent in range(lo >> 6, (hi >> 6) + 1):
                base = parent << 6
                page_full = below_full.pages.get(base >> _PAGE_SHIFT)
                page_any = below_any.pages.get(base >> _PAGE_SHIFT)
                full_bits = any_bits = 0
                if page_full is not None:
                    chunk = page_full[base & _PAGE_MASK:(base & _PAGE_MASK) + 64]
                    if chunk.count(_ALL_ONES_WORD) == 64:
                        full_bits = _ALL_ONES_WORD
                    else:
                        for i, word in enumerate(chunk):
                            if word == _ALL_ONES_WORD:
                                full_bits |= 1 << i
                if page_any is not None:
                    chunk = page_any[base & _PAGE_MASK:(base & _PAGE_MASK) + 64]
                    zeros = chunk.count(0)
                    if zeros == 0:
                        any_bits = _ALL_ONES_WORD
                    elif zeros < 64:
                        for i, word in enumerate(chunk):
                            if word:
                                any_bits |= 1 << i
                full_words.put(parent, full_bits)
                any_words.put(parent, any_bits)
            lo, hi = lo >> 6, hi >> 6

    def block_bits(self, first_word: int, nwords: int) -> int:
        """Level-0 words ``[first_word, first_word + nwords)`` as one int (bit i = offset
        ``64 * first_word + i``), for the snapshot's bitmap blocks; page-aligned."""
        pages = self._full[0].pages
        parts = []
        for w in range(first_word, first_word + nwords, _PAGE_WORDS):
            page = pages.get(w >> _PAGE_SHIFT)
            count = min(_PAGE_WORDS, first_word + nwords - w)
            parts.append(bytes(8 * count) if page is None else _PAGE_STRUCT.pack(*page)[:8 * count])
        return int.from_bytes(b"".join(parts), "little")

    def load_bits(self, first_word: int, nwords: int, value: int) -> None:
        """Set the bits of ``value`` into clear words from ``first_word`` on (restore)."""
        if not value:
            return
        data = value.to_bytes(8 * nwords, "little")
        pages = self._full[0].pages
        for w in range(first_word, first_word + nwords, _PAGE_WORDS):
            count = min(_PAGE_WORDS, first_word + nwords - w)
            chunk = data[8 * (w - first_word):8 * (w - first_word + count)]
            if not any(chunk):
                continue
            words = list(struct.unpack(f"<{count}Q", chunk))
            page = pages.get(w >> _PAGE_SHIFT)
            if page is None:
                page = pages[w >> _PAGE_SHIFT] = [0] * _PAGE_WORDS
            page[(w & _PAGE_MASK):(w & _PAGE_MASK) + count] = words
        self.count += value.bit_count()
        self._refresh(first_word, first_word + nwords - 1)

    def runs(self) -> Iterator[Tuple[int, int]]:
        p = 0
        while True:
            start = self.first_set(p, self.nbits)
            if start < 0:
                return
            end = self.first_free(start, self.nbits)
            if end < 0:
                end = self.nbits
            yield start, end - start
            p = end

    def nbytes(self) -> int:
        seen = {id(self._full[0])}
        total = self._full[0].nbytes()
        for words in self._full[1:] + self._any[1:]:
            if id(words) not in seen:
                seen.add(id(words))
                total += words.nbytes()
        return total


# --------------------------------------------------------------------------------------------
# Sparse storage: maximal runs in a chunked sorted list
# --------------------------------------------------------------------------------------------

_CHUNK = 256  # runs per chunk before it splits; inserts cost O(_CHUNK + runs/_CHUNK)


class RunSet:
    """Allocated offsets as maximal runs ``[start, end]`` (inclusive), ordered by start.

    The runs live in chunks of at most ``2 * _CHUNK`` (parallel lists of starts and ends) with an
    index of each chunk's first start, so a lookup is two bisections and an update touches one
    chunk: O(log runs) search, O(sqrt-ish) update, memory O(runs).

    >>> r = RunSet()
    >>> r.set(5), r.set(6), r.set(8), list(r.runs())
    (True, True, True, [(5, 2), (8, 1)])
    >>> r.first_free(5, 100), r.first_set(7, 100)
    (7, 8)
    """

    __slots__ = ("count", "_starts", "_ends", "_firsts")

    def __init__(self) -> None:
        self.count = 0
        self._starts: List[List[int]] = []
        self._ends: List[List[int]] = []
        self._firsts: List[int] = []

    def _pred(self, p: int) -> Tuple[int, int]:
        """(chunk, index) of the run with the largest start <= p, or (-1, -1)."""
        ci = bisect_right(self._firsts, p) - 1
        if ci < 0:
            return -1, -1
        return ci, bisect_right(self._starts[ci], p) - 1

    def _next(self, ci: int, i: int) -> Tuple[int, int]:
        """The position after (ci, i) (ci == -1: the first run), or (-1, -1) past the end."""
        if ci < 0:
            return (0, 0) if self._starts else (-1, -1)
        if i + 1 < len(self._starts[ci]):
            return ci, i + 1
        if ci + 1 < len(self._starts):
            return ci + 1, 0
        return -1, -1

    def _insert(self, ci: int, i: int, start: int, end: int) -> None:
        """Insert a run at position i of chunk ci (ci == len: a new last chunk)."""
        if not self._starts:
            self._starts.append([start])
            self._ends.append([end])
            self._firsts.append(start)
            return
        if ci >= len(self._starts):
            ci, i = len(self._starts) - 1, len(self._starts[-1])
        starts, ends = self._starts[ci], self._ends[ci]
        starts.insert(i, start)
        ends.insert(i, end)
        if i == 0:
            self._firsts[ci] = start
        if len(starts) > 2 * _CHUNK:
            self._starts.insert(ci + 1, starts[_CHUNK:])
            self._ends.insert(ci + 1, ends[_CHUNK:])
            self._firsts.insert(ci + 1, starts[_CHUNK])
            del starts[_CHUNK:]
            del ends[_CHUNK:]

    def _delete(self, ci: int, i: int) -> None:
        starts, ends = self._starts[ci], self._ends[ci]
        del starts[i]
        del ends[i]
        if not starts:
            del self._starts[ci]
            del self._ends[ci]
            del self._firsts[ci]
        elif i == 0:
            self._firsts[ci] = starts[0]

    def test(self, p: int) -> bool:
        ci, i = self._pred(p)
        return ci >= 0 and self._ends[ci][i] >= p

    def set(self, p: int) -> bool:
        ci, i = self._pred(p)
        if ci >= 0 and self._ends[ci][i] >= p:
            return False
        self.count += 1
        joins_left = ci >= 0 and self._ends[ci][i] == p - 1
        ni, nj = self._next(ci, i)
        joins_right = ni >= 0 and self._starts[ni][nj] == p + 1
        if joins_left and joins_right:
            self._ends[ci][i] = self._ends[ni][nj]
            self._delete(ni, nj)
        elif joins_left:
            self._ends[ci][i] = p
        elif joins_right:
            self._starts[ni][nj] = p
            if nj == 0:
                self._firsts[ni] = p
        elif ci < 0:
            self._insert(0, 0, p, p)
        else:
            self._insert(ci, i + 1, p, p)
        return True

    def clear(self, p: int) -> bool:
        ci, i = self._pred(p)
        if ci < 0 or self._ends[ci][i] < p:
            return False
        self.count -= 1
        start, end = self._starts[ci][i], self._ends[ci][i]
        if start == end:
            self._delete(ci, i)
        elif p == start:
            self._starts[ci][i] = p + 1
            if i == 0:
                self._firsts[ci] = p + 1
        elif p == end:
            self._ends[ci][i] = p - 1
        else:
            self._ends[ci][i] = p - 1
            self._insert(ci, i + 1, p + 1, end)
        return True

    def first_free(self, p: int, limit: int) -> int:
        if p >= limit:
            return -1
        ci, i = self._pred(p)
        if ci >= 0 and self._ends[ci][i] >= p:
            p = self._ends[ci][i] + 1  # runs are maximal: the offset after one is free
        return p if p < limit else -1

    def first_set(self, p: int, limit: int) -> int:
        if p >= limit:
            return -1
        ci, i = self._pred(p)
        if ci >= 0 and self._ends[ci][i] >= p:
            return p
        ni, nj = self._next(ci, i)
        if ni < 0:
            return -1
        start = self._starts[ni][nj]
        return start if start < limit else -1

    def set_run(self, start: int, length: int) -> None:
        """Append a run after every stored one, not adjacent to the last (bulk load, ascending)."""
        if length <= 0:
            return
        if self._starts and start <= self._ends[-1][-1] + 1:
            raise ValueError("RunSet.set_run needs ascending, non-adjacent runs")
        end = start + length - 1
        if not self._starts or len(self._starts[-1]) >= _CHUNK:
            self._starts.append([start])
            self._ends.append([end])
            self._firsts.append(start)
        else:
            self._starts[-1].append(start)
            self._ends[-1].append(end)
        self.count += length

    def runs(self) -> Iterator[Tuple[int, int]]:
        for starts, ends in zip(self._starts, self._ends):
            for start, end in zip(starts, ends):
                yield start, end - start + 1

    def nruns(self) -> int:
        return sum(len(s) for s in self._starts)

    def nbytes(self) -> int:
        total = sys.getsizeof(self._firsts) + sys.getsizeof(self._starts) + sys.getsizeof(self._ends)
        for starts, ends in zip(self._starts, self._ends):
            total += sys.getsizeof(starts) + sys.getsizeof(ends) + 64 * len(starts)
        return total


def new_storage(size: int) -> Any:
    """Dense bitmap for ``size <= 2**32`` offsets, run index above (ALGORITHMS.md "Storage")."""
    return DenseBitmap(size) if size <= 1 << 32 else RunSet()
