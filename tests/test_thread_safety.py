"""Every public operation is atomic with respect to other threads (issue 2, item 6).

Eight threads start together on a ``threading.Barrier`` and hammer one allocator; afterwards no
address was handed out twice and every count is exact. The switch interval is made tiny for the
duration so that the interpreter changes threads as often as it can.
"""
from __future__ import annotations

import ipaddress
import sys
import threading
from typing import Callable, List

import pytest

from fastcidr import AlreadyAllocatedError, RangeFullError

THREADS = 8


@pytest.fixture
def busy_switching():
    previous = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        yield
    finally:
        sys.setswitchinterval(previous)


def run_together(work: Callable[[int], object]) -> List[object]:
    """Run ``work(index)`` in THREADS threads released by one barrier; re-raise any failure."""
    barrier = threading.Barrier(THREADS)
    results: List[object] = [None] * THREADS
    errors: List[BaseException] = []

    def body(index: int) -> None:
        try:
            barrier.wait()
            results[index] = work(index)
        except BaseException as exc:  # noqa: BLE001 - reported to the main thread below
            errors.append(exc)

    threads = [threading.Thread(target=body, args=(i,)) for i in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return results


@pytest.mark.parametrize("cidr", ["10.0.0.0/20", "fd00::/116"])
def test_filling_from_eight_threads_hands_out_each_address_once(fc, busy_switching, cidr):
    alloc = fc.CIDRAllocator(cidr, seed=1)

    def work(index: int) -> list:
        mine = []
        for _ in range(2 * alloc.size):  # bounded: a broken allocator fails instead of hanging
            try:
                if index % 2:
                    mine.extend(alloc.allocate_many(3))
                else:
                    mine.append(alloc.allocate_next())
            except RangeFullError:
                if alloc.free >= 3:
                    continue  # another thread emptied the range between two of our calls
                try:
                    mine.append(alloc.allocate_next())
                    continue
                except RangeFullError:
                    return mine
        raise AssertionError("the allocator never reported the range as full")

    results = run_together(work)
    handed_out = [ip for mine in results for ip in mine]
    assert len(handed_out) == len(set(handed_out)) == alloc.size
    assert alloc.used == len(alloc) == alloc.size and alloc.free == 0
    assert set(alloc) == set(handed_out)


def test_mixed_operations_keep_exact_counts(fc, busy_switching):
    alloc = fc.CIDRAllocator("10.0.0.0/16", seed=2)
    network = int(ipaddress.ip_address("10.0.0.0"))

    def work(index: int) -> set:
        held = set()
        # each thread also owns a disjoint block of specific addresses in the static band's
        # neighbourhood, so specific allocations race with dynamic ones
        specific = [network + 1 + index * 600 + k for k in range(600)]
        for round_ in range(600):
            ip = alloc.allocate_next()
            assert ip not in held
            held.add(ip)
            try:
                held.add(alloc.allocate(specific[round_]))
            except AlreadyAllocatedError:
                pass  # a dynamic allocation of another thread got there first
            if round_ % 3 == 0:
                victim = held.pop()
                alloc.release(victim)
            if round_ % 50 == 0:
                held.update(alloc.allocate_many(4))
        return held

    results = run_together(work)
    everything = set()
    for held in results:
        assert not everything & held, "an address is held by two threads"
        everything |= held
    assert len(alloc) == alloc.used == len(everything)
    assert set(alloc) == everything
    assert alloc.free == alloc.size - len(everything)


def test_snapshots_taken_during_churn_are_consistent(fc, busy_switching):
    alloc = fc.CIDRAllocator("fd00::/64", seed=3)

    def work(index: int) -> int:
        checked = 0
        for round_ in range(300):
            if index == 0 and round_ % 10 == 0:
                copy = fc.CIDRAllocator.restore(alloc.snapshot())
                assert copy.used == len(list(copy))
                checked += 1
            else:
                ip = alloc.allocate_next()
                if round_ % 2:
                    alloc.release(ip)
        return checked

    run_together(work)
    # threads 1-7 keep their 150 even rounds; thread 0 the 120 even rounds that took no snapshot
    assert len(alloc) == alloc.used == len(list(alloc)) == 7 * 150 + 120
