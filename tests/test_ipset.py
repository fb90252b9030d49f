"""fastcidr.IPSet against netaddr.IPSet itself: random operation sequences compared step by step
(CIDR list, size, membership), plus the documented edges. Every test runs on both backends (the
set reads and writes text through the core of the current backend)."""
from __future__ import annotations

import copy
import doctest
import ipaddress
import pickle
import sys
from pathlib import Path
from typing import Any, List

import netaddr
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fastcidr import ipset as ipset_module
from fastcidr.errors import InvalidAddressError
from fastcidr.ipset import Address, IPSet, Network, Range

pytestmark = pytest.mark.usefixtures("backend")

FUZZ = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

# Small universes so that random blocks overlap, touch and merge: a /22 of IPv4, a /118 of IPv6
# and the IPv4-mapped IPv6 range (written differently by inet_ntop and the core's formatter).
V4_BASE, V4_BITS = int(ipaddress.IPv4Address("10.0.0.0")), 10
V6_BASE, V6_BITS = int(ipaddress.IPv6Address("2001:db8::")), 10
MAPPED_BASE = 0xFFFF_0000_0000


@pytest.fixture(params=[2, ipset_module._LOAD], ids=["chunks-of-2", "chunks-default"])
def chunk_load(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> int:
    """Runs are kept in chunks; tiny chunks make every change cross, split and drop chunks."""
    monkeypatch.setattr(ipset_module, "_LOAD", request.param)
    return int(request.param)


def _block(version: int, base: int, bits: int, width: int) -> Any:
    def build(offset: int, size_bits: int) -> str:
        first = (base + offset) & ~((1 << size_bits) - 1)
        return str(netaddr.IPNetwork((first, width - size_bits), version=version))

    return st.builds(build, st.integers(0, (1 << bits) - 1), st.integers(0, bits))


cidrs = st.one_of(
    _block(4, V4_BASE, V4_BITS, 32),
    _block(6, V6_BASE, V6_BITS, 128),
    _block(6, MAPPED_BASE, 8, 128),
)
probes = st.one_of(
    st.integers(0, (1 << V4_BITS) - 1).map(lambda o: str(netaddr.IPAddress(V4_BASE + o, 4))),
    st.integers(0, (1 << V6_BITS) - 1).map(lambda o: str(netaddr.IPAddress(V6_BASE + o, 6))),
    cidrs,
)


def _same(ours: IPSet, theirs: netaddr.IPSet, probe_list: List[str]) -> None:
    assert [str(c) for c in ours.iter_cidrs()] == [str(c) for c in theirs.iter_cidrs()]
    assert ours.size == theirs.size
    if ours.size <= sys.maxsize:
        assert len(ours) == len(theirs)
    else:
        for either in (ours, theirs):
            with pytest.raises(IndexError):
                len(either)
    assert bool(ours) == bool(theirs)
    assert repr(ours) == repr(theirs)
    assert [str(r) for r in ours.iter_ipranges()] == [str(r) for r in theirs.iter_ipranges()]
    for probe in probe_list:
        assert (probe in ours) == (probe in theirs), probe


@FUZZ
@given(data=st.data())
def test_random_operation_sequences_match_netaddr(chunk_load: int, data: st.DataObject) -> None:
    ours, theirs = IPSet(), netaddr.IPSet()
    for _ in range(data.draw(st.integers(1, 25))):
        op = data.draw(st.sampled_from(["add", "remove", "update", "union", "intersection",
                                        "difference", "symmetric_difference", "clear", "copy"]))
        touched: List[str] = []
        if op in ("add", "remove"):
            cidr = data.draw(cidrs)
            getattr(ours, op)(cidr)
            getattr(theirs, op)(cidr)
            touched = [cidr]
        elif op == "clear":
            ours.clear()
            theirs.clear()
        elif op == "copy":
            ours, theirs = ours.copy(), theirs.copy()
        else:
            other = data.draw(st.lists(cidrs, max_size=6))
            touched = other
            if op == "update":
                ours.update(other)
                theirs.update(other)
            else:
                ours = getattr(ours, op)(IPSet(other))
                theirs = getattr(theirs, op)(netaddr.IPSet(other))
        _same(ours, theirs, touched + data.draw(st.lists(probes, max_size=8)))


def _netaddr_element(version: int, base: int, bits: int) -> Any:
    """netaddr objects and ints as a netaddr user passes them: networks with host bits set,
    arbitrary (unaligned) ranges, addresses, bare integers (IPv4 only: netaddr reads an int that
    fits in 32 bits as IPv4)."""
    width = 32 if version == 4 else 128
    offsets = st.integers(0, (1 << bits) - 1)
    forms = [
        st.builds(lambda o, p: netaddr.IPNetwork((base + o, p), version=version), offsets,
                  st.integers(width - bits, width)),
        st.builds(lambda a, b: netaddr.IPRange(netaddr.IPAddress(base + min(a, b), version),
                                               netaddr.IPAddress(base + max(a, b), version)), offsets, offsets),
        st.builds(lambda o: netaddr.IPAddress(base + o, version), offsets),
    ]
    if version == 4:
        forms.append(offsets.map(lambda o: base + o))
    return st.one_of(forms)


netaddr_elements = st.one_of(_netaddr_element(4, V4_BASE, V4_BITS), _netaddr_element(6, V6_BASE, V6_BITS))


@FUZZ
@given(data=st.data())
def test_netaddr_objects_ints_and_ranges_match_netaddr(chunk_load: int, data: st.DataObject) -> None:
    ours, theirs = IPSet(), netaddr.IPSet()
    for _ in range(data.draw(st.integers(1, 20))):
        op = data.draw(st.sampled_from(["add", "remove"]))
        element = data.draw(netaddr_elements)
        getattr(ours, op)(element)
        getattr(theirs, op)(element)
        probe_list = data.draw(st.lists(probes, max_size=6))
        _same(ours, theirs, probe_list)
        other_cidrs = data.draw(st.lists(cidrs, max_size=3))
        ours_other, theirs_other = IPSet(other_cidrs), netaddr.IPSet(other_cidrs)
        assert ours.issubset(ours_other) == theirs.issubset(theirs_other)
        assert ours.issuperset(ours_other) == theirs.issuperset(theirs_other)
        assert ours.isdisjoint(ours_other) == theirs.isdisjoint(theirs_other)
        assert ours.iscontiguous() == theirs.iscontiguous()
        if ours.iscontiguous():
            assert ours.iprange() == theirs.iprange()
        else:
            for either in (ours, theirs):
                with pytest.raises(ValueError):
                    either.iprange()
        if not isinstance(element, int) and not isinstance(element, netaddr.IPRange):
            assert (element in ours) == (element in theirs)


@FUZZ
@given(a=st.lists(cidrs, max_size=8), b=st.lists(cidrs, max_size=8))
def test_operators_and_comparisons_match_netaddr(chunk_load: int, a: List[str], b: List[str]) -> None:
    ours_a, ours_b = IPSet(a), IPSet(b)
    theirs_a, theirs_b = netaddr.IPSet(a), netaddr.IPSet(b)
    for ours, theirs in ((ours_a | ours_b, theirs_a | theirs_b), (ours_a & ours_b, theirs_a & theirs_b),
                         (ours_a - ours_b, theirs_a - theirs_b), (ours_a ^ ours_b, theirs_a ^ theirs_b)):
        _same(ours, theirs, [])
    assert (ours_a == ours_b) == (theirs_a == theirs_b)
    assert (ours_a != ours_b) == (theirs_a != theirs_b)
    assert (ours_a <= ours_b) == (theirs_a <= theirs_b) == ours_a.issubset(ours_b)
    assert (ours_a >= ours_b) == (theirs_a >= theirs_b) == ours_a.issuperset(ours_b)
    assert (ours_a < ours_b) == (theirs_a < theirs_b)
    assert (ours_a > ours_b) == (theirs_a > theirs_b)
    assert ours_a.isdisjoint(ours_b) == theirs_a.isdisjoint(theirs_b)
    assert ours_a.iscontiguous() == theirs_a.iscontiguous()
    # a netaddr set on the right, and as the input of the named methods
    assert ours_a == theirs_a
    assert [str(c) for c in (ours_a | theirs_b).iter_cidrs()] == [str(c) for c in (theirs_a | theirs_b).iter_cidrs()]
    assert ours_a.intersection(theirs_b) == theirs_a & theirs_b


@FUZZ
@given(cidr_list=st.lists(cidrs, max_size=3))
def test_iteration_is_every_address_in_order(cidr_list: List[str]) -> None:
    ours, theirs = IPSet(cidr_list), netaddr.IPSet(cidr_list)
    if theirs.size > 5000:
        return
    assert [str(a) for a in ours] == [str(a) for a in theirs]


def test_a_slash_8_and_an_ipv6_slash_32_are_one_run_each() -> None:
    s = IPSet()
    s.add("10.0.0.0/8")
    s.add("2001:db8::/32")
    assert s.runs() == [(4, 0x0A000000, 0x0AFFFFFF), (6, V6_BASE, V6_BASE + (1 << 96) - 1)]
    assert s.size == (1 << 24) + (1 << 96)
    s.remove("10.1.2.3")
    assert s.iter_cidrs()[:3] == ["10.0.0.0/16", "10.1.0.0/23", "10.1.2.0/31"]
    assert "10.1.2.3" not in s and "10.1.2.4" in s and "10.0.0.0/8" not in s and "10.2.0.0/15" in s and "10.0.0.0/16" in s


def test_len_raises_index_error_beyond_sys_maxsize_as_netaddr_does() -> None:
    s = IPSet(["::/1"])
    with pytest.raises(IndexError):
        len(s)
    with pytest.raises(IndexError):
        len(netaddr.IPSet(["::/1"]))
    assert s.size == 1 << 127


def test_host_bits_and_ints_are_read_as_netaddr_reads_them() -> None:
    assert IPSet(["10.0.0.1/24"]).iter_cidrs() == ["10.0.0.0/24"]
    s = IPSet()
    s.add("10.0.0.77/30")
    assert s.iter_cidrs() == ["10.0.0.76/30"]
    assert "10.0.0.1/24" not in s and "10.0.0.77/31" in s
    assert repr(IPSet([5, 2**32])) == repr(netaddr.IPSet([5, 2**32])) == "IPSet(['0.0.0.5/32', '::1:0:0/128'])"
    # a netmask, a hostmask and a leading zero in the prefix length, as netaddr takes them
    assert IPSet(["10.0.0.0/255.255.255.0", "10.0.1.0/0.0.0.255"]).iter_cidrs() == ["10.0.0.0/23"]
    assert IPSet(["10.0.0.0/08"]).iter_cidrs() == ["10.0.0.0/8"]


def test_ipv4_mapped_ipv6_is_written_as_netaddr_writes_it() -> None:
    s = IPSet(["::ffff:10.0.0.0/120", "::ffff:a00:100", "::1.2.3.4"])
    assert [str(c) for c in s.iter_cidrs()] == ["::1.2.3.4/128", "::ffff:10.0.0.0/120", "::ffff:10.0.1.0/128"]
    assert "::ffff:a00:5" in s and "10.0.0.5" not in s


@pytest.mark.parametrize("bad", ["10.0.0.256", "010.0.0.1", "10.0.0.0/33", "::/129", "10.0.0.0/", "fe80::1%eth0",
                                 " 10.0.0.1", "10.0.0.0/255.0.255.0", "::/255.0.0.0", "", "10.0.0.0/24/1", -1, 2**128])
def test_bad_input_raises_invalid_address_error_and_changes_nothing(bad: Any) -> None:
    s = IPSet(["10.0.0.0/24"])
    for call in (s.add, s.remove, s.__contains__, lambda x: s.update([x]), lambda x: IPSet([x]), lambda x: s.union([x])):
        with pytest.raises(InvalidAddressError):
            call(bad)
    assert s.iter_cidrs() == ["10.0.0.0/24"] and s.size == 256


@pytest.mark.parametrize("bad", [None, 1.5, b"10.0.0.1", True, object()])
def test_wrong_types_raise_type_error(bad: Any) -> None:
    s = IPSet(["10.0.0.0/24"])
    for call in (s.add, s.remove, s.__contains__):
        with pytest.raises(TypeError):
            call(bad)
    assert s.size == 256


def test_objects_of_ipaddress_netaddr_and_fastcidr_are_accepted() -> None:
    s = IPSet([ipaddress.ip_network("10.0.0.0/30"), ipaddress.ip_address("10.0.0.4"),
               ipaddress.ip_interface("10.0.0.9/31"), netaddr.IPNetwork("10.0.1.7/31"),
               netaddr.IPAddress("::1"), netaddr.IPRange("10.0.2.1", "10.0.2.3"),
               Range("10.0.3.0-10.0.3.1"), Network("10.0.4.0/31"), Address("10.0.5.5")])
    assert s.iter_cidrs() == ["10.0.0.0/30", "10.0.0.4/32", "10.0.0.8/31", "10.0.1.6/31", "10.0.2.1/32",
                              "10.0.2.2/31", "10.0.3.0/31", "10.0.4.0/31", "10.0.5.5/32", "::1/128"]
    assert netaddr.IPNetwork("10.0.0.0/30") in s and ipaddress.ip_address("10.0.0.3") in s
    assert IPSet(netaddr.IPSet(["10.0.0.0/24"])) == IPSet(["10.0.0.0/24"]) == netaddr.IPSet(["10.0.0.0/24"])
    assert IPSet(netaddr.IPNetwork("10.0.0.0/24")).size == 256
    assert IPSet("10.0.0.0/24").size == 256  # one network as text, as one element
    s.remove(netaddr.IPRange("10.0.0.0", "10.0.0.255"))
    assert "10.0.0.1" not in s


def test_value_objects_carry_netaddrs_numbers_and_stay_strings() -> None:
    net = IPSet(["10.0.0.0/24"]).iter_cidrs()[0]
    assert isinstance(net, str) and net == "10.0.0.0/24" and net == netaddr.IPNetwork("10.0.0.0/24")
    assert (net.first, net.last, net.prefixlen, net.version, net.size) == (0x0A000000, 0x0A0000FF, 24, 4, 256)
    assert net.network == "10.0.0.0" and net.netmask == "255.255.255.0" and net.cidr is net
    table: dict = {net: 1}
    assert table["10.0.0.0/24"] == 1  # hashes as its text
    first = next(iter(IPSet(["2001:db8::/126"])))
    assert first == "2001:db8::" and first == ipaddress.ip_address("2001:db8::") and int(first) == V6_BASE
    assert first.version == 6 and first.value == V6_BASE and first != netaddr.IPAddress("2001:db8::1")
    rng = IPSet(["10.0.0.0/31", "10.0.0.2"]).iprange()
    assert rng == "10.0.0.0-10.0.0.2" == str(netaddr.IPSet(["10.0.0.0/31", "10.0.0.2"]).iprange())
    assert rng is not None and (rng.first, rng.last, rng.size, rng.version) == (0x0A000000, 0x0A000002, 3, 4)
    assert rng.cidrs() == ["10.0.0.0/31", "10.0.0.2/32"]
    assert sorted([Address("10.0.0.10"), Address("9.0.0.1"), Address("::1")]) == ["9.0.0.1", "10.0.0.10", "::1"]


def test_iprange_pop_and_hash() -> None:
    assert IPSet().iprange() is None and netaddr.IPSet().iprange() is None
    with pytest.raises(ValueError, match="not contiguous"):
        IPSet(["10.0.0.0", "10.0.0.2"]).iprange()
    s = IPSet(["10.0.0.0/31", "::/127"])
    popped = [s.pop(), s.pop()]
    assert popped == ["::/127", "10.0.0.0/31"] and not s
    with pytest.raises(KeyError):
        s.pop()
    with pytest.raises(TypeError, match="unhashable"):
        hash(IPSet())


def test_pickle_copy_and_independence() -> None:
    s = IPSet(["10.0.0.0/24", "2001:db8::/64"])
    for clone in (pickle.loads(pickle.dumps(s)), s.copy(), copy.copy(s), copy.deepcopy(s)):
        assert clone == s and clone is not s and clone.size == s.size
        clone.add("10.0.1.0")
        assert "10.0.1.0" not in s
    empty = pickle.loads(pickle.dumps(IPSet()))
    assert not empty and empty.size == 0


@pytest.mark.parametrize("state", [((2, 1), (3, 0), (), ()), ((1,), (2, 3), (), ()), ((1, 3), (2, 4), (), ()),
                                   ((0,), (2**32,), (), ()), "junk", ((1,), ("x",), (), ())])
def test_a_damaged_pickle_is_refused(state: Any) -> None:
    s = IPSet.__new__(IPSet)
    with pytest.raises(ValueError, match="not a pickled fastcidr IPSet"):
        s.__setstate__(state)


def test_operators_refuse_other_types() -> None:
    s = IPSet(["10.0.0.0/24"])
    for op in ("__or__", "__and__", "__sub__", "__xor__", "__le__", "__lt__", "__ge__", "__gt__"):
        assert getattr(s, op)(["10.0.0.0"]) is NotImplemented
    assert (s == ["10.0.0.0/24"]) is False
    with pytest.raises(TypeError):
        s | 5  # type: ignore[operator]


def test_update_of_many_addresses_is_one_merge(chunk_load: int) -> None:
    s = IPSet(["10.0.0.0/24"])
    s.update(f"10.0.{i // 256}.{i % 256}" for i in range(256, 4096))
    assert s.iter_cidrs() == ["10.0.0.0/20"] and s.runs() == [(4, 0x0A000000, 0x0A000FFF)]


def test_many_runs_in_many_chunks_stay_one_sorted_set(chunk_load: int) -> None:
    # every other address of a /20, then the gaps filled from both ends, then holes punched
    s = IPSet()
    for i in range(0, 4096, 2):
        s.add(f"10.0.{i // 256}.{i % 256}")
    assert len(s.runs()) == 2048 and s.size == 2048
    if chunk_load == 2:
        assert len(s._v4.starts) > 500  # the chunking is exercised
    for i in list(range(1, 2048, 2)) + list(range(4095, 2047, -2)):
        s.add(f"10.0.{i // 256}.{i % 256}")
    assert s.runs() == [(4, 0x0A000000, 0x0A000FFF)] and s.size == 4096
    for i in range(3, 4096, 7):
        s.remove(f"10.0.{i // 256}.{i % 256}")
    expected = netaddr.IPSet(["10.0.0.0/20"])
    for i in range(3, 4096, 7):
        expected.remove(f"10.0.{i // 256}.{i % 256}")
    assert [str(c) for c in s.iter_cidrs()] == [str(c) for c in expected.iter_cidrs()]
    assert s.size == expected.size and pickle.loads(pickle.dumps(s)) == s and s.copy() == s
    s.remove("10.0.0.0/21")
    s.add("10.0.15.0/24")
    assert s.runs()[0][1] == 0x0A000800 and s.runs()[-1] == (4, 0x0A000F00, 0x0A000FFF)


def test_the_examples_of_docs_ipset_md_run() -> None:
    path = Path(__file__).resolve().parent.parent / "docs" / "ipset.md"
    result = doctest.testfile(str(path), module_relative=False,
                              optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.attempted >= 20 and result.failed == 0, result


@pytest.mark.parametrize("whole,holes", [
    ("0.0.0.0/0", ["0.0.0.0", "255.255.255.255", "10.0.0.0/8", "128.0.0.1"]),
    ("::/0", ["::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "::ffff:0:0/96", "2001:db8::/32", "::1.2.3.4"]),
])
def test_the_whole_address_space_and_its_edges_match_netaddr(whole: str, holes: List[str]) -> None:
    ours, theirs = IPSet([whole]), netaddr.IPSet([whole])
    for hole in holes:
        ours.remove(hole)
        theirs.remove(hole)
        _same(ours, theirs, holes + [whole])
    for hole in holes:
        ours.add(hole)
        theirs.add(hole)
    _same(ours, theirs, holes + [whole])
    assert ours.iter_cidrs() == [whole] and ours.iprange() == str(theirs.iprange())
