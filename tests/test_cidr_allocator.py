"""``CIDRAllocator`` behaviour (issue 2, items 4, 5 and 7), on both backends.

The scenario tables of docs/behaviour.md §1-§2 and the Kubernetes scenarios S-001...S-036 that apply to one
CIDR; exact error classes and texts; accepted input types; the random strategy checked against an
independent reference of docs/ALGORITHMS.md; cross-backend determinism and snapshots; a
hypothesis state machine against a ``set`` of offsets.
"""
from __future__ import annotations

import copy
import ipaddress
import pickle
import random
import sys
from typing import Any

import netaddr
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from fastcidr import (
    AlreadyAllocatedError,
    FastCIDRError,
    InvalidAddressError,
    NotInRangeError,
    RangeFullError,
    _backend,
    _core_twin,
)

M64 = (1 << 64) - 1


def both_backends():
    """(compiled, pure) core modules, for the tests that compare the two directly."""
    if _backend.compiled is None:
        pytest.fail(f"the compiled core is not importable: {_backend.compile_error}")
    return _backend.compiled, _backend.pure


# -------------------------------------------------------------------------------------------
# An independent reference of docs/ALGORITHMS.md (naive scans; only for small ranges)
# -------------------------------------------------------------------------------------------


def splitmix64_outputs(seed: int, count: int) -> list:
    x, out = seed & M64, []
    for _ in range(count):
        x = (x + 0x9E3779B97F4A7C15) & M64
        z = x
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
        out.append(z ^ (z >> 31))
    return out


class ReferenceRng:
    def __init__(self, seed: int) -> None:
        self.s = splitmix64_outputs(seed, 4)

    def next(self) -> int:
        s = self.s

        def rotl(v: int, k: int) -> int:
            return ((v << k) | (v >> (64 - k))) & M64

        result = (rotl((s[1] * 5) & M64, 7) * 9) & M64
        t = (s[1] << 17) & M64
        s[2] ^= s[0]
        s[3] ^= s[1]
        s[1] ^= s[2]
        s[0] ^= s[3]
        s[2] ^= t
        s[3] = rotl(s[3], 45)
        return result

    def bounded(self, n: int) -> int:
        return (self.next() * n) >> 64


class ReferenceAllocator:
    """The band rule of ALGORITHMS.md with linear scans over a set of taken offsets."""

    def __init__(self, size: int, band: int, seed: int, strategy: str) -> None:
        self.size, self.band, self.strategy = size, band, strategy
        self.rng = ReferenceRng(seed)
        self.taken: set = set()

    def _first_free(self, lo: int, hi: int) -> int:
        return next((o for o in range(lo, hi) if o not in self.taken), -1)

    def next(self) -> int:
        size, band = self.size, self.band
        dynamic_free = any(o not in self.taken for o in range(band, size))
        static_free = any(o not in self.taken for o in range(0, band))
        if self.strategy == "sequential":
            offset = self._first_free(band, size) if dynamic_free else self._first_free(0, band)
        elif dynamic_free:
            start = band + self.rng.bounded(size - band)
            offset = self._first_free(start, size)
            if offset < 0:
                offset = self._first_free(band, start)
        elif static_free:
            start = self.rng.bounded(band)
            offset = self._first_free(start, band)
            if offset < 0:
                offset = self._first_free(0, start)
        else:
            offset = -1
        if offset >= 0:
            self.taken.add(offset)
        return offset


def test_reference_rng_known_answer():
    """splitmix64 from 0 starts with 0xE220A8397B1DCDAF (the published test vector)."""
    assert splitmix64_outputs(0, 1) == [0xE220A8397B1DCDAF]


# -------------------------------------------------------------------------------------------
# Sizes, bands, first/last (docs/behaviour.md §1, §2.1; scenarios §0.3, §0.4, S-007, S-008, S-030)
# -------------------------------------------------------------------------------------------

SIZES = [
    ("0.0.0.0/0", 4294967294, 0, "0.0.0.1", "255.255.255.254"),
    ("0.0.0.0/1", 2147483646, 0, "0.0.0.1", "127.255.255.254"),
    ("128.0.0.0/1", 2147483646, 0, "128.0.0.1", "255.255.255.254"),
    ("10.0.0.0/8", 16777214, 256, "10.0.0.1", "10.255.255.254"),
    ("10.96.0.0/12", 1048574, 256, "10.96.0.1", "10.111.255.254"),
    ("10.0.0.0/15", 131070, 256, "10.0.0.1", "10.1.255.254"),
    ("10.0.0.0/16", 65534, 256, "10.0.0.1", "10.0.255.254"),
    ("10.0.0.0/20", 4094, 256, "10.0.0.1", "10.0.15.254"),
    ("10.0.0.0/22", 1022, 64, "10.0.0.1", "10.0.3.254"),
    ("192.168.1.0/24", 254, 16, "192.168.1.1", "192.168.1.254"),
    ("192.168.1.0/25", 126, 16, "192.168.1.1", "192.168.1.126"),
    ("192.168.1.0/27", 30, 16, "192.168.1.1", "192.168.1.30"),
    ("192.168.1.0/28", 14, 0, "192.168.1.1", "192.168.1.14"),
    ("192.168.1.240/29", 6, 0, "192.168.1.241", "192.168.1.246"),
    ("192.168.1.240/30", 2, 0, "192.168.1.241", "192.168.1.242"),
    ("192.168.1.0/31", 0, 0, None, None),
    ("192.168.1.1/32", 0, 0, None, None),
    ("fd00:1:2:3::/64", M64, 256, "fd00:1:2:3::1", "fd00:1:2:3:ffff:ffff:ffff:ffff"),
    ("fd00::/65", (1 << 63) - 1, 256, "fd00::1", "fd00::7fff:ffff:ffff:ffff"),
    ("2001:db2::/112", 65535, 256, "2001:db2::1", "2001:db2::ffff"),
    ("2001:db8:1::/116", 4095, 256, "2001:db8:1::1", "2001:db8:1::fff"),
    ("fd00::/118", 1023, 64, "fd00::1", "fd00::3ff"),
    ("fd00::/120", 255, 16, "fd00::1", "fd00::ff"),
    ("fd00::/122", 63, 16, "fd00::1", "fd00::3f"),
    ("fd00::/124", 15, 0, "fd00::1", "fd00::f"),
    ("fd00::/126", 3, 0, "fd00::1", "fd00::3"),
    ("fd00::/127", 1, 0, "fd00::1", "fd00::1"),
    ("fd00::/128", 0, 0, None, None),
    ("00fc::/112", 65535, 256, "fc::1", "fc::ffff"),
]


@pytest.mark.parametrize("cidr, size, band, first, last", SIZES)
def test_size_band_first_last(fc, cidr, size, band, first, last):
    a = fc.CIDRAllocator(cidr)
    assert (a.size, a.band_offset, a.first, a.last) == (size, band, first, last)
    assert a.cidr == str(ipaddress.ip_network(cidr))
    assert a.family == ("IPv4" if "." in cidr else "IPv6")
    assert (a.used, a.free, len(a), list(a)) == (0, size, 0, [])
    if size == 0:
        for _ in range(3):
            with pytest.raises(RangeFullError, match="^range is full$"):
                a.allocate_next()
        with pytest.raises(RangeFullError):
            a.allocate_many(1)
        assert a.allocate_many(0) == []
    else:
        assert a.allocate(last) == last
        if first != last:
            assert a.allocate(first) == first
        assert a.has(last) and a.has(first) and a.used == min(size, 2)


def test_empty_huge_ranges_cost_kilobytes(fc):
    for cidr in ("0.0.0.0/0", "0.0.0.0/1", "10.0.0.0/8", "fd00::/64"):
        assert sys.getsizeof(fc.CIDRAllocator(cidr)) < 32 * 1024, cidr


def test_sizeof_grows_with_storage(fc):
    a = fc.CIDRAllocator("10.0.0.0/12", strategy="sequential")
    empty = sys.getsizeof(a)
    a.allocate_many(200_000)
    assert sys.getsizeof(a) > empty + 200_000 // 8


@pytest.mark.parametrize("prefix", [0, 1, 32, 48, 63])
def test_ipv6_shorter_than_64_is_refused(fc, prefix):
    network = {0: "::", 1: "::"}.get(prefix, "2001:db8::")
    with pytest.raises(InvalidAddressError) as info:
        fc.CIDRAllocator(f"{network}/{prefix}")
    assert str(info.value) == f"shortest allowed prefix length for service CIDR is 64, got {prefix}"
    assert (info.value.reason, info.value.code) == ("Invalid", 422)


@pytest.mark.parametrize("cidr", ["::ffff:0:0/96", "::ffff:0:0/112", "::/64", "::ffff:a00:0/120"])
def test_cidrs_overlapping_ipv4_mapped_are_refused(fc, cidr):
    with pytest.raises(InvalidAddressError, match=r"::ffff:0:0/96"):
        fc.CIDRAllocator(cidr)


@pytest.mark.parametrize("bad", ["10.0.0.1/24", "10.0.0.0/33", "bogus", "", "10.0.0.0", 24, None])
def test_bad_cidr_is_refused(fc, bad):
    with pytest.raises(InvalidAddressError):
        fc.CIDRAllocator(bad)


def test_bad_strategy_is_refused(fc):
    with pytest.raises(ValueError):
        fc.CIDRAllocator("10.0.0.0/24", strategy="lowest")


def test_cidr_input_types(fc):
    for cidr in (
        "10.96.0.0/12",
        ipaddress.IPv4Network("10.96.0.0/12"),
        netaddr.IPNetwork("10.96.0.0/12"),
    ):
        assert fc.CIDRAllocator(cidr).cidr == "10.96.0.0/12"
    assert fc.CIDRAllocator(ipaddress.IPv6Network("FD00::/112")).cidr == "fd00::/112"
    assert fc.CIDRAllocator("FD00:0::/112").cidr == "fd00::/112"


# -------------------------------------------------------------------------------------------
# Bands and the random strategy (S-031, S-032, S-033, S-036)
# -------------------------------------------------------------------------------------------


def last_octet(ip: str) -> int:
    return int(ip.rsplit(".", 1)[1])


@pytest.mark.parametrize("seed", [0, 1, 12345])
def test_s031_slash25_fills_dynamic_band_before_static(fc, seed):
    a = fc.CIDRAllocator("192.168.1.0/25", seed=seed)
    got = [a.allocate_next() for _ in range(110)]
    assert sorted(map(last_octet, got)) == list(range(17, 127))
    assert a.free == 16
    for host in range(1, 17):
        assert a.allocate(f"192.168.1.{host}") == f"192.168.1.{host}"
    assert a.free == 0
    a.release("192.168.1.10")
    assert a.allocate_next() == "192.168.1.10"
    assert a.free == 0
    with pytest.raises(RangeFullError):
        a.allocate_next()


def test_s036_slash24_dynamic_then_static(fc):
    a = fc.CIDRAllocator("192.168.1.0/24", seed=99)
    got = [a.allocate_next() for _ in range(238)]
    assert sorted(map(last_octet, got)) == list(range(17, 255))
    assert 1 <= last_octet(a.allocate_next()) <= 16
    rest = a.allocate_many(15)
    assert len(set(got) | set(rest)) == 253 and a.free == 0


def test_s032_static_band_used_after_dynamic_is_full(fc):
    a = fc.CIDRAllocator("192.168.1.0/25", seed=5)
    a.allocate_many(110)
    assert all(not a.has(f"192.168.1.{h}") for h in range(1, 17))
    assert 1 <= last_octet(a.allocate_next()) <= 16
    assert (a.used, a.free) == (111, 15)


def test_s033_last_free_address_in_static_band(fc):
    a = fc.CIDRAllocator("192.168.1.0/25", seed=5)
    for host in list(range(17, 127)) + list(range(1, 16)):
        a.allocate(f"192.168.1.{host}")
    assert a.free == 1
    assert a.allocate_next() == "192.168.1.16"
    with pytest.raises(RangeFullError):
        a.allocate_next()


def test_small_range_without_band_can_start_anywhere(fc):
    seen = set()
    for seed in range(60):
        seen.add(fc.CIDRAllocator("192.168.1.0/28", seed=seed).allocate_next())
    assert len(seen) >= 8 and all(1 <= last_octet(ip) <= 14 for ip in seen)


def test_sequential_strategy_order(fc):
    a = fc.CIDRAllocator("192.168.1.0/27", strategy="sequential")
    assert a.strategy == "sequential"
    got = a.allocate_many(30)
    assert list(map(last_octet, got)) == list(range(17, 31)) + list(range(1, 17))
    a.release("192.168.1.20")
    a.release("192.168.1.3")
    assert a.allocate_next() == "192.168.1.20"
    assert a.allocate_next() == "192.168.1.3"


def test_ipv6_all_ones_is_usable(fc):
    a = fc.CIDRAllocator("fd00::/120", strategy="sequential")
    assert a.allocate("fd00::ff") == "fd00::ff"
    a = fc.CIDRAllocator("fd00::/124")
    got = a.allocate_many(15)
    assert sorted(got, key=lambda ip: int(ipaddress.ip_address(ip)))[-1] == "fd00::f"
    big = fc.CIDRAllocator("fd00:1:2:3::/64")
    assert big.allocate("fd00:1:2:3:ffff:ffff:ffff:ffff") == "fd00:1:2:3:ffff:ffff:ffff:ffff"
    assert list(big) == ["fd00:1:2:3:ffff:ffff:ffff:ffff"]


@pytest.mark.parametrize(
    "cidr, strategy",
    [
        ("192.168.1.0/25", "random"),
        ("192.168.1.0/24", "random"),
        ("192.168.1.0/28", "random"),
        ("10.0.0.0/22", "random"),
        ("fd00::/120", "random"),
        ("192.168.1.0/24", "sequential"),
    ],
)
def test_strategy_follows_the_reference_algorithm(fc, cidr, strategy):
    """Same seed → exactly the offsets of docs/ALGORITHMS.md, with releases and specific
    allocations interleaved (both bands, fill to full and beyond)."""
    for seed in (0, 7, 2**64 - 1, 2**70 + 3, -5):
        a = fc.CIDRAllocator(cidr, seed=seed, strategy=strategy)
        ref = ReferenceAllocator(a.size, a.band_offset, seed, strategy)
        family, network, _ = _backend.pure.parse_cidr(cidr)
        base = network + 1
        rnd = random.Random(seed)
        for step in range(a.size + 40):
            if step % 7 == 3 and ref.taken:
                victim = rnd.choice(sorted(ref.taken))
                ref.taken.discard(victim)
                a.release(_backend.pure.format_ip(family, base + victim))
                continue
            if step % 11 == 5:
                offset = rnd.randrange(a.size)
                text = _backend.pure.format_ip(family, base + offset)
                if offset in ref.taken:
                    with pytest.raises(AlreadyAllocatedError):
                        a.allocate(text)
                else:
                    assert a.allocate(text) == text
                    ref.taken.add(offset)
                continue
            expected = ref.next()
            if expected < 0:
                with pytest.raises(RangeFullError):
                    a.allocate_next()
            else:
                assert a.allocate_next() == _backend.pure.format_ip(family, base + expected)
        assert len(a) == len(ref.taken)


def test_snapshot_carries_the_seeded_generator_state(fc):
    """The rng words of a fresh allocator are the four splitmix64 outputs of the seed."""
    for seed in (0, 1, 2**64 + 1):
        data = fc.CIDRAllocator("10.0.0.0/24", seed=seed).snapshot()
        words = [int.from_bytes(data[25 + 8 * i:33 + 8 * i], "little") for i in range(4)]
        assert words == splitmix64_outputs(seed, 4)


def test_same_seed_same_sequence_and_seed_none_is_random(fc):
    a = fc.CIDRAllocator("10.0.0.0/16", seed=42)
    b = fc.CIDRAllocator("10.0.0.0/16", seed=42)
    assert a.allocate_many(50) == [b.allocate_next() for _ in range(50)]
    c = fc.CIDRAllocator("10.0.0.0/16", seed=43)
    assert c.allocate_many(50) != fc.CIDRAllocator("10.0.0.0/16", seed=42).allocate_many(50)
    unseeded = {fc.CIDRAllocator("10.0.0.0/16").allocate_next() for _ in range(10)}
    assert len(unseeded) > 1


# -------------------------------------------------------------------------------------------
# Specific addresses, errors and input types (S-001, S-002, S-004, S-005, S-006, S-012)
# -------------------------------------------------------------------------------------------


def test_s001_ipv4_flow(fc):
    a = fc.CIDRAllocator("192.168.1.0/24", seed=1)
    assert (a.free, a.used) == (254, 0)
    got = [a.allocate_next() for _ in range(254)]
    assert len(set(got)) == 254
    assert all(ipaddress.ip_address(ip) in ipaddress.ip_network("192.168.1.0/24") for ip in got)
    with pytest.raises(RangeFullError):
        a.allocate_next()
    a.release("192.168.1.5")
    assert (a.free, a.used) == (1, 253)
    assert a.allocate_next() == "192.168.1.5"
    a.release("192.168.1.5")
    for ip in ("192.168.0.1", "192.168.1.0", "192.168.1.255", "192.168.2.2"):
        with pytest.raises(NotInRangeError) as info:
            a.allocate(ip)
        assert str(info.value) == (
            f"the provided IP ({ip}) is not in the valid range. "
            "The range of valid IPs is 192.168.1.0/24"
        )
        assert (info.value.reason, info.value.code) == ("InternalError", 500)
    with pytest.raises(AlreadyAllocatedError) as info:
        a.allocate("192.168.1.1")
    assert str(info.value) == "provided IP is already allocated"
    assert (info.value.reason, info.value.code) == ("InternalError", 500)
    assert (a.free, a.used) == (1, 253)
    a.allocate("192.168.1.5")
    assert (a.free, a.used) == (0, 254)
    with pytest.raises(RangeFullError) as full:
        a.allocate_next()
    assert str(full.value) == "range is full" and isinstance(full.value, FastCIDRError)


def test_s002_ipv6_flow(fc):
    a = fc.CIDRAllocator("2001:db8:1::/116", seed=2)
    assert a.free == 4095
    got = a.allocate_many(4095)
    assert len(set(got)) == 4095 and "2001:db8:1::fff" in got
    with pytest.raises(RangeFullError):
        a.allocate_next()
    a.release("2001:db8:1::5")
    assert a.allocate_next() == "2001:db8:1::5"
    for ip in ("2001:db8::1", "2001:db8:1::", "2001:db8:2::2", "10.0.0.1"):
        with pytest.raises(NotInRangeError, match=r"The range of valid IPs is 2001:db8:1::/116$"):
            a.allocate(ip)
    with pytest.raises(AlreadyAllocatedError):
        a.allocate("2001:db8:1::1")


def test_s003_slash15_errors(fc):
    a = fc.CIDRAllocator("10.0.0.0/15", seed=3)
    assert a.free == 131070 and a.band_offset == 256
    for ip in ("10.0.0.0", "10.15.255.255", "10.255.255.2", "10.1.255.255"):
        with pytest.raises(NotInRangeError):
            a.allocate(ip)
    assert a.allocate("10.0.0.1") == "10.0.0.1"
    with pytest.raises(AlreadyAllocatedError):
        a.allocate("10.0.0.1")
    assert a.allocate("10.1.255.254") == "10.1.255.254"
    assert a.free == 131068


@pytest.mark.parametrize(
    "offset, expected",
    [
        ((1 << 63) - 1, "fd54:ceea:51ad:2f00:7fff:ffff:ffff:ffff"),
        (1 << 63, "fd54:ceea:51ad:2f00:8000::"),
        (M64, "fd54:ceea:51ad:2f00:ffff:ffff:ffff:ffff"),
        (M64 - 1, "fd54:ceea:51ad:2f00:ffff:ffff:ffff:fffe"),
        ((M64 >> 13) - 1, "fd54:ceea:51ad:2f00:7:ffff:ffff:fffe"),
        (M64 >> 59, "fd54:ceea:51ad:2f00::1f"),
    ],
)
def test_s009_addresses_at_64_bit_offsets(fc, offset, expected):
    """Kubernetes' address + offset table: the allocator reaches every address of a /64."""
    a = fc.CIDRAllocator("fd54:ceea:51ad:2f00::/64")
    base = int(ipaddress.ip_address("fd54:ceea:51ad:2f00::"))
    assert a.allocate(base + offset) == expected
    assert a.has(expected) and list(a) == [expected]
    a.release(expected)
    assert len(a) == 0


def test_s005_slash30(fc):
    a = fc.CIDRAllocator("192.168.1.240/30", seed=3)
    got = {a.allocate_next(), a.allocate_next()}
    assert got == {"192.168.1.241", "192.168.1.242"}
    for ip in got:
        assert a.has(ip)
        with pytest.raises(AlreadyAllocatedError):
            a.allocate(ip)
    for _ in range(100):
        with pytest.raises(RangeFullError):
            a.allocate_next()
    assert a.free == 0


@pytest.mark.parametrize(
    "hosts", [[], [1], [1, 254], [1, 128, 254], list(range(1, 255))]
)
def test_s006_iteration_visits_exactly_the_allocated_set(fc, hosts):
    a = fc.CIDRAllocator("192.168.1.0/24")
    for host in reversed(hosts):
        a.allocate(f"192.168.1.{host}")
    assert list(a) == [f"192.168.1.{h}" for h in hosts]
    assert len(a) == len(hosts)


def test_s012_fc_prefix(fc):
    a = fc.CIDRAllocator("fc::/112")
    assert ipaddress.ip_address(a.allocate_next()) in ipaddress.ip_network("fc::/112")
    assert fc.CIDRAllocator("00fc::/112").cidr == "fc::/112"


def test_address_input_types(fc):
    a = fc.CIDRAllocator("10.0.0.0/24")
    assert a.allocate(ipaddress.IPv4Address("10.0.0.2")) == "10.0.0.2"
    assert a.allocate(netaddr.IPAddress("10.0.0.3")) == "10.0.0.3"
    assert a.allocate(0x0A000004) == "10.0.0.4"
    for ip in ("10.0.0.2", ipaddress.IPv4Address("10.0.0.3"), netaddr.IPAddress("10.0.0.4"), 0x0A000004):
        assert a.has(ip) and ip in a
    a.release(0x0A000004)
    a.release(netaddr.IPAddress("10.0.0.3"))
    a.release(ipaddress.IPv4Address("10.0.0.2"))
    assert len(a) == 0
    six = fc.CIDRAllocator("fd00::/112")
    assert six.allocate("FD00:0:0::0:1") == "fd00::1"
    assert six.allocate(ipaddress.IPv6Address("fd00::2")) == "fd00::2"
    assert six.allocate((0xFD00 << 112) | 3) == "fd00::3"
    assert six.has("fd00:0000::0003")


def test_int_fast_paths(fc):
    a = fc.CIDRAllocator("10.0.0.0/24", strategy="sequential")
    assert a.allocate_next_int() == 0x0A000011
    assert a.allocate_many_int(3) == [0x0A000012, 0x0A000013, 0x0A000014]
    assert a.allocate_many_int(0) == []
    assert a.has(0x0A000011) and a.has("10.0.0.20")
    six = fc.CIDRAllocator("fd00::/120", seed=1)
    value = six.allocate_next_int()
    assert isinstance(value, int) and six.has(value)
    assert six.has(str(ipaddress.IPv6Address(value)))


@pytest.mark.parametrize("bad", [-1, 1 << 32, 1 << 200])
def test_int_out_of_family_range_is_invalid(fc, bad):
    a = fc.CIDRAllocator("10.0.0.0/24")
    for method in (a.allocate, a.release, a.has):
        with pytest.raises(InvalidAddressError):
            method(bad)


def test_int_outside_the_cidr_is_not_in_range(fc):
    a = fc.CIDRAllocator("10.0.0.0/24")
    with pytest.raises(NotInRangeError, match=r"^the provided IP \(10\.0\.1\.0\) is not in"):
        a.allocate(0x0A000100)
    assert a.has(0x0A000100) is False
    a.release(0x0A000100)
    six = fc.CIDRAllocator("fd00::/120")
    with pytest.raises(InvalidAddressError):
        six.allocate(-1)
    with pytest.raises(NotInRangeError):
        six.allocate(5)


@pytest.mark.parametrize(
    "bad", ["10.0.0.01", "bogus", "", " 10.0.0.1", "::ffff:10.0.0.1", "fe80::1%eth0", None, b"10.0.0.1", 1.0]
)
def test_unparseable_input_raises_everywhere_and_changes_nothing(fc, bad):
    a = fc.CIDRAllocator("10.0.0.0/24", seed=1)
    a.allocate("10.0.0.1")
    before = a.snapshot()
    for method in (a.allocate, a.release, a.has, a.__contains__):
        with pytest.raises(InvalidAddressError):
            method(bad)
    assert a.snapshot() == before


def test_other_family_and_out_of_range(fc):
    a = fc.CIDRAllocator("10.0.0.0/24")
    assert a.has("fd00::1") is False and "10.0.1.1" not in a
    a.release("fd00::1")
    a.release("10.0.0.0")
    a.release("10.0.0.255")
    a.release("10.0.0.7")  # free: no-op
    a.allocate("10.0.0.7")
    a.release("10.0.0.7")
    a.release("10.0.0.7")  # idempotent
    assert len(a) == 0
    with pytest.raises(NotInRangeError, match=r"^the provided IP \(fd00::1\) is not in the valid"):
        a.allocate("FD00::1")


def test_allocate_many_is_all_or_nothing(fc):
    a = fc.CIDRAllocator("192.168.1.0/28", seed=4)
    a.allocate_many(10)
    before = a.snapshot()
    with pytest.raises(RangeFullError):
        a.allocate_many(5)
    assert a.snapshot() == before  # nothing taken, no draw
    assert len(a.allocate_many(4)) == 4
    assert a.allocate_many(0) == []
    with pytest.raises(ValueError):
        a.allocate_many(-1)
    with pytest.raises(TypeError):
        a.allocate_many("3")


def test_allocate_many_equals_successive_allocate_next(fc):
    for cidr in ("10.0.0.0/22", "fd00::/64", "192.168.0.0/25"):
        a = fc.CIDRAllocator(cidr, seed=11)
        b = fc.CIDRAllocator(cidr, seed=11)
        n = min(a.size, 500)
        assert a.allocate_many(n) == [b.allocate_next() for _ in range(n)]
        assert a.snapshot() == b.snapshot()


def test_iteration_survives_changes(fc):
    a = fc.CIDRAllocator("192.168.1.0/24", seed=8)
    a.allocate_many(254)
    seen = []
    for ip in a:
        seen.append(ip)
        a.release(ip)
    assert seen == [f"192.168.1.{h}" for h in range(1, 255)] and len(a) == 0
    a.allocate_many(10)
    iterator = iter(a)
    first = next(iterator)
    a.allocate_many(100)
    rest = list(iterator)
    assert first not in rest and rest == sorted(rest, key=lambda ip: int(ipaddress.ip_address(ip)))


# -------------------------------------------------------------------------------------------
# Snapshots, pickle, copy (continue the sequence), across backends
# -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("cidr", ["10.0.0.0/22", "fd00::/64", "192.168.1.0/31", "0.0.0.0/0"])
def test_snapshot_pickle_copy_continue_the_sequence(fc, cidr):
    a = fc.CIDRAllocator(cidr, seed=21)
    if a.size:
        a.allocate_many(min(a.size, 100))
    clones = [
        fc.CIDRAllocator.restore(a.snapshot()),
        fc.CIDRAllocator.restore(bytearray(a.snapshot())),
        fc.CIDRAllocator.restore(memoryview(a.snapshot())),
        pickle.loads(pickle.dumps(a)),
        a.copy(),
        copy.copy(a),
        copy.deepcopy(a),
    ]
    expected_next = [a.allocate_next() for _ in range(5)] if a.size else []
    for clone in clones:
        assert type(clone) is type(a)
        assert (clone.cidr, clone.size, clone.strategy) == (a.cidr, a.size, a.strategy)
        if a.size:
            assert [clone.allocate_next() for _ in range(5)] == expected_next
        assert list(clone) == list(a) and clone.snapshot() == a.snapshot()


def test_copy_is_independent(fc):
    a = fc.CIDRAllocator("10.0.0.0/24", seed=1)
    b = a.copy()
    a.allocate("10.0.0.9")
    assert not b.has("10.0.0.9") and len(b) == 0


def test_cross_backend_same_seed_same_sequence_and_snapshots():
    compiled, pure = both_backends()
    for cidr, strategy in [
        ("10.96.0.0/12", "random"),
        ("192.168.1.0/25", "random"),
        ("fd00::/64", "random"),
        ("fd00::/120", "sequential"),
        ("0.0.0.0/1", "random"),
    ]:
        c = compiled.CIDRAllocator(cidr, seed=2024, strategy=strategy)
        p = pure.CIDRAllocator(cidr, seed=2024, strategy=strategy)
        n = min(c.size - 3, 300)
        assert c.allocate_many(n) == p.allocate_many(n)
        assert [c.allocate_next_int() for _ in range(3)] == [p.allocate_next_int() for _ in range(3)]
        assert c.snapshot() == p.snapshot()
        # a snapshot from one restores in the other and continues the same sequence
        from_c = pure.CIDRAllocator.restore(c.snapshot())
        from_p = compiled.CIDRAllocator.restore(p.snapshot())
        if c.size > len(c):
            k = min(20, c.size - len(c))
            expected = c.allocate_many(k)
            assert from_c.allocate_many(k) == expected
            assert from_p.allocate_many(k) == expected
        assert list(from_c) == list(c) == list(from_p)


# -------------------------------------------------------------------------------------------
# A state machine against a set of offsets
# -------------------------------------------------------------------------------------------


def interesting_offsets(size: int, band: int) -> list:
    """Word boundaries, band edges and range ends, clipped to the range (and a few just outside)."""
    points = {0, 1, band - 1, band, band + 1, size - 2, size - 1, size, size + 1, -1, -2}
    for word in (1, 2, 3, 64, 65, 4096):
        for delta in (-1, 0, 1):
            points.add(word * 64 + delta)
    return sorted(p for p in points if -2 <= p <= size + 1)


class AllocatorMachine(RuleBasedStateMachine):
    """Subclassed per test with ``module`` and ``cidr`` set."""

    module: Any = None
    cidr = ""
    strategy = "random"

    def __init__(self) -> None:
        super().__init__()
        self.alloc = self.module.CIDRAllocator(self.cidr, seed=17, strategy=self.strategy)
        family, network, _ = _backend.pure.parse_cidr(self.cidr)
        self.family, self.base = family, network + 1
        self.size, self.band = self.alloc.size, self.alloc.band_offset
        self.model: set = set()

    def text(self, offset: int) -> str:
        return _backend.pure.format_ip(self.family, self.base + offset)

    def offsets(self):  # noqa: D401 - a strategy factory
        size, band = self.size, self.band
        points = interesting_offsets(size, band)
        near = st.builds(
            lambda p, d: min(max(p + d, -2), size + 1), st.sampled_from(points), st.integers(-4, 4)
        )
        return st.one_of(
            st.sampled_from(points),
            near,
            st.integers(0, size - 1),
            st.integers(max(0, size - 70), size - 1),
        )

    @rule(data=st.data(), length=st.integers(2, 70))
    def allocate_block(self, data, length):
        """Consecutive specific addresses: runs (sparse storage) and full words (dense)."""
        start = data.draw(self.offsets())
        for offset in range(max(start, 0), min(start + length, self.size)):
            if offset not in self.model:
                assert self.alloc.allocate(self.text(offset)) == self.text(offset)
                self.model.add(offset)

    @rule(data=st.data())
    def allocate_specific(self, data):
        offset = data.draw(self.offsets())
        if not 0 <= offset < self.size:
            with pytest.raises(NotInRangeError):
                self.alloc.allocate(self.text(offset))
        elif offset in self.model:
            with pytest.raises(AlreadyAllocatedError):
                self.alloc.allocate(self.text(offset))
        else:
            assert self.alloc.allocate(self.text(offset)) == self.text(offset)
            self.model.add(offset)

    @rule()
    def allocate_next(self):
        if len(self.model) == self.size:
            with pytest.raises(RangeFullError):
                self.alloc.allocate_next()
            return
        ip = self.alloc.allocate_next()
        offset = int(ipaddress.ip_address(ip)) - self.base
        assert 0 <= offset < self.size and offset not in self.model
        if offset < self.band:
            # the static band is only used once the dynamic band is full
            assert sum(1 for o in self.model if o >= self.band) == self.size - self.band
        self.model.add(offset)

    @rule(n=st.integers(0, 6))
    def allocate_many(self, n):
        if self.size - len(self.model) < n:
            with pytest.raises(RangeFullError):
                self.alloc.allocate_many(n)
            return
        got = self.alloc.allocate_many(n)
        offsets = [int(ipaddress.ip_address(ip)) - self.base for ip in got]
        assert len(set(offsets)) == n and not set(offsets) & self.model
        self.model.update(offsets)

    @rule()
    def fill_all_but_one(self):
        """Leave exactly one free address; the next allocation must find it."""
        free = self.size - len(self.model)
        if free == 0 or free > 5000:
            return
        self.model.update(
            int(ipaddress.ip_address(ip)) - self.base for ip in self.alloc.allocate_many(free - 1)
        )
        ip = self.alloc.allocate_next()
        offset = int(ipaddress.ip_address(ip)) - self.base
        assert offset not in self.model
        self.model.add(offset)
        with pytest.raises(RangeFullError):
            self.alloc.allocate_next()

    @rule(data=st.data())
    def release(self, data):
        if self.model and data.draw(st.booleans()):
            offset = data.draw(st.sampled_from(sorted(self.model)))
        else:
            offset = data.draw(self.offsets())
        self.alloc.release(self.text(offset))
        self.model.discard(offset)

    @rule(data=st.data())
    def has(self, data):
        offset = data.draw(self.offsets())
        assert self.alloc.has(self.text(offset)) == (offset in self.model)

    @rule()
    def snapshot_restore(self):
        snapshot = self.alloc.snapshot()
        self.alloc = type(self.alloc).restore(snapshot)
        assert self.alloc.snapshot() == snapshot

    @rule()
    def iterate(self):
        assert list(self.alloc) == [self.text(o) for o in sorted(self.model)]

    @invariant()
    def counts(self):
        assert len(self.alloc) == self.alloc.used == len(self.model)
        assert self.alloc.free == self.size - len(self.model)


@pytest.mark.parametrize(
    "cidr, strategy",
    [
        ("10.0.0.0/26", "random"),
        ("192.168.0.0/25", "random"),
        ("fd00::/120", "random"),
        ("10.0.0.0/20", "random"),
        ("10.0.0.0/20", "sequential"),
        ("fd00:1::/64", "random"),
        ("fd00:1::/64", "sequential"),
        ("10.0.0.0/8", "random"),
    ],
)
def test_state_machine(backend, cidr, strategy):
    machine = type(
        "Machine", (AllocatorMachine,), {"module": backend, "cidr": cidr, "strategy": strategy}
    )
    run_state_machine_as_test(
        machine,
        settings=settings(
            max_examples=20,
            stateful_step_count=30,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )


# -------------------------------------------------------------------------------------------
# Nearly full large ranges: holes at word and summary-level boundaries
# -------------------------------------------------------------------------------------------


def encode_snapshot(family, prefix, network, strategy, seed, runs) -> bytes:
    """A CIDRAllocator snapshot per docs/ALGORITHMS.md (see also test_snapshot_fuzz.py)."""
    import struct
    import zlib

    body = struct.pack(
        "<4sHBB16sB4QQQ",
        b"FCAL",
        1,
        family,
        prefix,
        network.to_bytes(16, "big"),
        strategy,
        *splitmix64_outputs(seed, 4),
        sum(length for _, length in runs),
        len(runs),
    )
    body += b"".join(struct.pack("<QQ", start, length) for start, length in runs)
    return body + struct.pack("<I", zlib.crc32(body))


class HoleReference:
    """ALGORITHMS.md's band rule over a sorted list of the few free offsets."""

    def __init__(self, size, band, seed, strategy, holes):
        self.size, self.band, self.strategy = size, band, strategy
        self.rng = ReferenceRng(seed)
        self.free = sorted(holes)

    def _first_free(self, lo, hi):
        import bisect

        i = bisect.bisect_left(self.free, lo)
        return self.free[i] if i < len(self.free) and self.free[i] < hi else -1

    def next(self):
        size, band = self.size, self.band
        dynamic = self._first_free(band, size) >= 0
        static = self._first_free(0, band) >= 0
        if self.strategy == 1:
            offset = self._first_free(band, size) if dynamic else self._first_free(0, band)
        elif dynamic:
            start = band + self.rng.bounded(size - band)
            offset = self._first_free(start, size)
            offset = offset if offset >= 0 else self._first_free(band, start)
        elif static:
            start = self.rng.bounded(band)
            offset = self._first_free(start, band)
            offset = offset if offset >= 0 else self._first_free(0, start)
        else:
            return -1
        self.free.remove(offset)
        return offset


def complement_runs(size, holes):
    runs, position = [], 0
    for hole in sorted(holes):
        if hole > position:
            runs.append((position, hole - position))
        position = hole + 1
    if position < size:
        runs.append((position, size - position))
    return runs


@pytest.mark.parametrize("strategy", [0, 1])
@pytest.mark.parametrize(
    "cidr, holes",
    [
        (
            "10.96.0.0/12",
            [0, 1, 62, 63, 64, 255, 256, 257, 4095, 4096, 4097, 262143, 262144, 500_000, 1048572, 1048573],
        ),
        ("10.0.0.0/16", [0, 255, 256, 4031, 4032, 4095, 4096, 65471, 65533]),
        ("10.0.0.0/8", [0, 2**18 - 1, 2**18, 2**20, 2**24 - 3]),
        ("fd00::/64", [0, 255, 256, 257, 2**32, 2**63 - 1, 2**63, 2**64 - 3, 2**64 - 2]),
        ("fd00::/112", [0, 1, 256, 65534]),
    ],
)
def test_nearly_full_ranges_follow_the_reference(fc, cidr, holes, strategy):
    """Only a few holes left, next to word / summary / band boundaries: every allocation finds
    exactly the hole that docs/ALGORITHMS.md picks, then the range is full."""
    family, network, prefix = _backend.pure.parse_cidr(cidr)
    probe = fc.CIDRAllocator(cidr)
    size, band = probe.size, probe.band_offset
    data = encode_snapshot(family, prefix, network, strategy, 99, complement_runs(size, holes))
    a = fc.CIDRAllocator.restore(data)
    assert a.free == len(holes)
    ref = HoleReference(size, band, 99, strategy, holes)
    for _ in holes:
        expected = ref.next()
        assert a.allocate_next() == _backend.pure.format_ip(family, network + 1 + expected)
    with pytest.raises(RangeFullError):
        a.allocate_next()
    # release them again and take them back through allocate_many
    for hole in holes:
        a.release(_backend.pure.format_ip(family, network + 1 + hole))
    ref = HoleReference(size, band, 0, strategy, holes)
    ref.rng.s = list(_rng_words(a))
    expected = [ref.next() for _ in holes]
    got = a.allocate_many(len(holes))
    assert got == [_backend.pure.format_ip(family, network + 1 + o) for o in expected]


def _rng_words(alloc) -> tuple:
    data = alloc.snapshot()
    return tuple(int.from_bytes(data[25 + 8 * i:33 + 8 * i], "little") for i in range(4))


# -------------------------------------------------------------------------------------------
# The twin's storage classes (also used by _multi_twin): bulk loads against per-offset sets
# -------------------------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(
    nbits=st.sampled_from([1, 64, 65, 4096, 16384 * 3 + 5, 1 << 20]),
    data=st.data(),
)
def test_pure_storage_bulk_load_matches_single_sets(nbits, data):
    """``set_run`` (restore's bulk path, whole pages at once) builds the same structure as
    setting offsets one by one: same runs, same answers to every query."""
    pure = _core_twin
    cuts = sorted(set(data.draw(st.lists(st.integers(0, nbits), max_size=8))) | {0, nbits})
    runs = [(a, b - a) for i, (a, b) in enumerate(zip(cuts, cuts[1:])) if i % 2 == 0 and b > a]
    for storage_class in (lambda: pure.DenseBitmap(nbits), pure.RunSet):
        bulk = storage_class()
        for start, length in runs:
            bulk.set_run(start, length)
        assert list(bulk.runs()) == runs
        assert bulk.count == sum(length for _, length in runs)
        probes = data.draw(st.lists(st.integers(0, nbits - 1), max_size=20))
        for start, length in runs:
            probes += [start - 1, start, start + length - 1, start + length]
        for p in probes:
            if not 0 <= p < nbits:
                continue
            inside = any(s <= p < s + n for s, n in runs)
            assert bulk.test(p) == inside
            run_end = next((s + n for s, n in runs if s <= p < s + n), p)
            expected_free = run_end if run_end < nbits else -1
            assert bulk.first_free(p, nbits) == expected_free
            expected_set = min((max(s, p) for s, n in runs if s + n > p), default=-1)
            assert bulk.first_set(p, nbits) == expected_set
        # and the structure keeps working after single changes
        for p in probes:
            if 0 <= p < nbits:
                was_set = bulk.test(p)
                assert bulk.clear(p) == was_set
                assert not bulk.test(p) and bulk.first_free(p, nbits) == p
                if was_set:
                    assert bulk.set(p) and bulk.test(p)
        assert list(bulk.runs()) == runs


@pytest.mark.parametrize(
    "runs",
    [
        [(0, 16383)],  # a whole page but the last bit
        [(0, 16384 - 64 + 1)],  # the page's last word only just touched
        [(16384, 16384 - 5), (40000, 2)],
        [(1, 16384 * 2 - 2)],
        [(0, 16384 * 4 - 1)],
        [(5, 100), (16384 - 1, 16384 + 2)],
    ],
)
def test_pure_storage_bulk_load_page_edges(runs):
    """Runs that cover whole pages up to a partial last word (the bulk path's edge)."""
    nbits = 1 << 17
    bulk = _core_twin.DenseBitmap(nbits)
    for start, length in runs:
        bulk.set_run(start, length)
    assert list(bulk.runs()) == runs
    for start, length in runs:
        assert bulk.first_free(start, nbits) == start + length
        assert not bulk.test(start + length) and bulk.test(start + length - 1)


# -------------------------------------------------------------------------------------------
# Output types: output="str" (default), "int", "ipaddress", "netaddr"
# -------------------------------------------------------------------------------------------

OUTPUT_TYPES = {
    "str": (str, str),
    "int": (int, int),
    "ipaddress": (ipaddress.IPv4Address, ipaddress.IPv6Address),
    "netaddr": (netaddr.IPAddress, netaddr.IPAddress),
}


def _as_text(value: Any) -> str:
    return str(ipaddress.ip_address(value)) if isinstance(value, int) else str(value)


@pytest.mark.parametrize("cidr", ["10.0.0.0/24", "fd00::/120", "fd00::/64"])
@pytest.mark.parametrize("output", sorted(OUTPUT_TYPES))
def test_output_type_applies_to_every_address_returned(fc, cidr, output):
    """The same seed gives the same addresses in every output type; only the type differs."""
    kind = OUTPUT_TYPES[output][0 if ":" not in cidr else 1]
    plain = fc.CIDRAllocator(cidr, seed=5)
    typed = fc.CIDRAllocator(cidr, seed=5, output=output)
    assert typed.output == output and plain.output == "str"
    specific = plain.first if ":" not in cidr else plain.last
    results = {
        "allocate_next": (plain.allocate_next(), typed.allocate_next()),
        "allocate": (plain.allocate(specific), typed.allocate(specific)),
        "first": (plain.first, typed.first),
        "last": (plain.last, typed.last),
    }
    many = (plain.allocate_many(3), typed.allocate_many(3))
    listed = (list(plain), list(typed))
    ranges = (plain.free_ranges(limit=3), typed.free_ranges(limit=3))
    first_free = (plain.first_free(2), typed.first_free(2))
    lazily = ([next(plain.iter_free())], [next(typed.iter_free())])
    for name, (text, value) in results.items():
        assert type(value) is kind and _as_text(value) == text, name
    for texts, values in (many, listed, first_free, lazily):
        assert all(type(v) is kind for v in values) and [_as_text(v) for v in values] == texts
    assert [(_as_text(a), _as_text(b)) for a, b in ranges[1]] == ranges[0]
    assert all(type(a) is kind and type(b) is kind for a, b in ranges[1])
    # the int-returning calls stay ints whatever the output
    assert isinstance(typed.allocate_next_int(), int)
    assert plain.snapshot()[:4] == typed.snapshot()[:4]


@pytest.mark.parametrize("output", sorted(OUTPUT_TYPES))
def test_output_type_survives_pickle_and_copy_but_not_a_snapshot(fc, output):
    a = fc.CIDRAllocator("10.0.0.0/28", seed=2, output=output)
    a.allocate_next()
    for other in (pickle.loads(pickle.dumps(a)), a.copy(), copy.copy(a), copy.deepcopy(a)):
        assert other.output == output and list(other) == list(a)
        assert type(other.allocate_next()) is type(a.first)
    # a snapshot is state only: restore picks the output (str unless told)
    assert fc.CIDRAllocator.restore(a.snapshot()).output == "str"
    again = fc.CIDRAllocator.restore(a.snapshot(), output=output)
    assert again.output == output and list(again) == list(a)
    assert ("output=" in repr(a)) == (output != "str")


def test_inputs_of_any_kind_are_accepted_whatever_the_output(fc):
    a = fc.CIDRAllocator("10.0.0.0/24", output="int")
    assert a.allocate("10.0.0.5") == 0x0A000005
    assert a.allocate(ipaddress.IPv4Address("10.0.0.6")) == 0x0A000006
    assert a.allocate(netaddr.IPAddress("10.0.0.7")) == 0x0A000007
    assert a.allocate(0x0A000008) == 0x0A000008
    assert a.has("10.0.0.5") and 0x0A000006 in a
    a.release(ipaddress.IPv4Address("10.0.0.5"))
    assert not a.has(0x0A000005)


@pytest.mark.parametrize("bad", ["STR", "bytes", "", None, 1, str])
def test_unknown_output_is_refused(fc, bad):
    with pytest.raises(ValueError, match="output must be"):
        fc.CIDRAllocator("10.0.0.0/24", output=bad)
    with pytest.raises(ValueError, match="output must be"):
        fc.CIDRAllocator.restore(fc.CIDRAllocator("10.0.0.0/24").snapshot(), output=bad)


def test_netaddr_output_without_netaddr_is_a_clear_import_error(fc, monkeypatch):
    from fastcidr.errors import MissingDependencyError

    monkeypatch.setitem(sys.modules, "netaddr", None)  # `import netaddr` now fails
    with pytest.raises(ImportError, match="pip install netaddr") as info:
        fc.CIDRAllocator("10.0.0.0/24", output="netaddr")
    assert isinstance(info.value, MissingDependencyError)
    assert "\n" not in str(info.value)
    assert fc.CIDRAllocator("10.0.0.0/24", output="ipaddress").allocate_next()
