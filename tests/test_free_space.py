"""Free space and utilisation (issue 13 item 1): ``free_ranges``, ``iter_free``, ``first_free`` and
``stats`` of both allocators on both backends, against a brute force over ``ipaddress``.

The brute force enumerates every usable address (a host of a CIDR, docs/behaviour.md §1), so the
ranges here stay small enough to enumerate; the IPv6 /64 cases check the sparse storage through
a few allocations near both ends and compare run by run without enumerating.
"""
from __future__ import annotations

import ipaddress
from typing import Any, Dict, Iterable, List, Set, Tuple

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

Run = Tuple[str, str]


def _hosts(cidr: str) -> List[int]:
    """Usable addresses of one CIDR as ints (IPv4 without network and broadcast; IPv6 without the
    network address), capped like the allocator's size."""
    net = ipaddress.ip_network(cidr)
    first = int(net.network_address) + 1
    if net.version == 4:
        size = max(net.num_addresses - 2, 0)
    else:
        size = min(net.num_addresses - 1, (1 << 64) - 1)
    return list(range(first, first + size))


def _runs(values: Iterable[Tuple[int, int]]) -> List[Tuple[int, int, int]]:
    """Maximal runs of (family, value) pairs, sorted."""
    out: List[Tuple[int, int, int]] = []
    for family, value in sorted(set(values)):
        if out and out[-1][0] == family and out[-1][2] + 1 == value:
            out[-1] = (family, out[-1][1], value)
        else:
            out.append((family, value, value))
    return out


def _text(family: int, value: int) -> str:
    return str(ipaddress.IPv4Address(value) if family == 4 else ipaddress.IPv6Address(value))


def _expected(windows: List[str], allocated: Iterable[Tuple[int, int]]) -> List[Run]:
    usable: Set[Tuple[int, int]] = set()
    for cidr in windows:
        family = ipaddress.ip_network(cidr).version
        usable.update((family, v) for v in _hosts(cidr))
    free = usable - set(allocated)
    return [(_text(f, a), _text(f, b)) for f, a, b in _runs(free)]


def _as_pair(ip: str) -> Tuple[int, int]:
    address = ipaddress.ip_address(ip)
    return address.version, int(address)


# --------------------------------------------------------------------------------------------
# CIDRAllocator
# --------------------------------------------------------------------------------------------

def test_single_examples(fc: Any) -> None:
    a = fc.CIDRAllocator("10.0.0.0/28", seed=1)
    assert a.free_ranges() == [("10.0.0.1", "10.0.0.14")]
    for ip in ("10.0.0.1", "10.0.0.5", "10.0.0.6", "10.0.0.14"):
        a.allocate(ip)
    assert a.free_ranges() == [("10.0.0.2", "10.0.0.4"), ("10.0.0.7", "10.0.0.13")]
    assert a.free_ranges(limit=1) == [("10.0.0.2", "10.0.0.4")]
    assert a.free_ranges(limit=0) == []
    assert a.free_ranges("10.0.0.0/28") == a.free_ranges()
    assert a.first_free(4) == ["10.0.0.2", "10.0.0.3", "10.0.0.4", "10.0.0.7"]
    assert a.first_free(0) == []
    assert a.first_free(100) == list(a.iter_free())
    assert len(a.first_free(100)) == 10
    assert a.stats() == {"size": 14, "used": 4, "free": 10, "utilisation": 4 / 14}


def test_single_full_empty_and_tiny(fc: Any) -> None:
    a = fc.CIDRAllocator("192.168.0.0/30", seed=1)
    a.allocate_many(2)
    assert a.free_ranges() == [] and list(a.iter_free()) == [] and a.first_free(3) == []
    assert a.stats()["utilisation"] == 1.0
    b = fc.CIDRAllocator("192.168.0.0/31", seed=1)  # no usable address
    assert b.free_ranges() == [] and b.stats() == {"size": 0, "used": 0, "free": 0, "utilisation": 0.0}


def test_single_argument_errors(fc: Any) -> None:
    a = fc.CIDRAllocator("10.0.0.0/28", seed=1)
    with pytest.raises(KeyError):
        a.free_ranges("10.0.1.0/28")
    with pytest.raises(KeyError):
        a.iter_free("10.0.0.0/29")
    with pytest.raises(ValueError):
        a.free_ranges(limit=-1)
    with pytest.raises(TypeError):
        a.free_ranges(limit="3")
    with pytest.raises(TypeError):
        a.first_free(True)
    with pytest.raises(ValueError):
        a.first_free(-2)


def test_single_ipv6_64_sparse(fc: Any) -> None:
    a = fc.CIDRAllocator("fd00::/64", seed=1)
    for ip in ("fd00::1", "fd00::2", "fd00::10", "fd00::ffff:ffff:ffff:ffff", "fd00::8000:0:0:0"):
        a.allocate(ip)
    assert a.free_ranges() == [
        ("fd00::3", "fd00::f"),
        ("fd00::11", "fd00::7fff:ffff:ffff:ffff"),
        ("fd00::8000:0:0:1", "fd00::ffff:ffff:ffff:fffe"),
    ]
    assert a.first_free(3) == ["fd00::3", "fd00::4", "fd00::5"]
    it = a.iter_free()
    assert [next(it) for _ in range(14)][-2:] == ["fd00::f", "fd00::11"]
    assert a.stats()["free"] == (1 << 64) - 1 - 5


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_single_against_brute_force(fc: Any, data: st.DataObject) -> None:
    cidr = data.draw(st.sampled_from(["10.1.0.0/24", "10.2.0.0/22", "fd00:1::/118", "fd00:2::/120"]))
    a = fc.CIDRAllocator(cidr, seed=data.draw(st.integers(0, 1000)))
    hosts = _hosts(cidr)
    family = ipaddress.ip_network(cidr).version
    chosen = data.draw(st.sets(st.sampled_from(hosts), max_size=len(hosts)))
    for value in sorted(chosen):
        a.allocate(_text(family, value))
    taken = {(family, v) for v in chosen}
    expected = _expected([cidr], taken)
    assert a.free_ranges() == expected
    limit = data.draw(st.integers(0, len(expected) + 1))
    assert a.free_ranges(limit=limit) == expected[:limit]
    free = [_text(family, v) for v in hosts if v not in chosen]
    assert list(a.iter_free()) == free
    n = data.draw(st.integers(0, len(free) + 2))
    assert a.first_free(n) == free[:n]
    assert a.stats() == {"size": len(hosts), "used": len(chosen), "free": len(hosts) - len(chosen),
                         "utilisation": len(chosen) / len(hosts)}


# --------------------------------------------------------------------------------------------
# MultiCIDRAllocator
# --------------------------------------------------------------------------------------------

def test_multi_nested_and_not_ready(fc: Any) -> None:
    m = fc.MultiCIDRAllocator(["10.0.0.0/24", "10.0.0.0/25", "10.0.1.0/28"], seed=1)
    m.add("10.0.2.0/28")
    m.allocate("10.0.0.127")  # the /25's broadcast, a host of the /24
    m.allocate("10.0.0.5")
    m.allocate("10.0.2.3")
    m.set_ready("10.0.2.0/28", False)  # it keeps its address, it serves no new one
    assert m.free_ranges() == [
        ("10.0.0.1", "10.0.0.4"), ("10.0.0.6", "10.0.0.126"), ("10.0.0.128", "10.0.0.254"),
        ("10.0.1.1", "10.0.1.14"),
    ]
    assert m.free_ranges("10.0.0.0/25") == [("10.0.0.1", "10.0.0.4"), ("10.0.0.6", "10.0.0.126")]
    assert m.free_ranges("10.0.2.0/28") == [("10.0.2.1", "10.0.2.2"), ("10.0.2.4", "10.0.2.14")]
    assert m.first_free(2, "10.0.2.0/28") == ["10.0.2.1", "10.0.2.2"]
    m.set_ready("10.0.0.0/24", False)
    assert m.free_ranges() == [("10.0.0.1", "10.0.0.4"), ("10.0.0.6", "10.0.0.126"),
                               ("10.0.1.1", "10.0.1.14")]
    # .127 is the /25's broadcast: only .5 counts for it
    assert m.stats("10.0.0.0/25") == {"size": 126, "used": 1, "free": 125, "utilisation": 1 / 126}
    everything = m.stats()
    assert list(everything) == m.cidrs
    assert everything["10.0.2.0/28"]["used"] == 1
    with pytest.raises(KeyError):
        m.free_ranges("10.9.0.0/24")
    with pytest.raises(KeyError):
        m.stats("10.9.0.0/24")


def test_multi_both_families_and_ipv6_64(fc: Any) -> None:
    m = fc.MultiCIDRAllocator(["fd00::/64", "10.0.0.0/30"], seed=1)
    m.allocate("fd00::1")
    m.allocate("fd00::ffff:ffff:ffff:ffff")
    assert m.free_ranges() == [("10.0.0.1", "10.0.0.2"), ("fd00::2", "fd00::ffff:ffff:ffff:fffe")]
    assert m.free_ranges(limit=1) == [("10.0.0.1", "10.0.0.2")]
    assert m.first_free(4) == ["10.0.0.1", "10.0.0.2", "fd00::2", "fd00::3"]
    it = m.iter_free()
    assert [next(it) for _ in range(3)] == ["10.0.0.1", "10.0.0.2", "fd00::2"]


def test_multi_iter_free_crosses_batches(fc: Any) -> None:
    """More runs than one batch of the lazy iterator: every other address taken."""
    m = fc.MultiCIDRAllocator(["10.0.0.0/22", "10.0.8.0/24"], seed=1)
    for value in range(int(ipaddress.ip_address("10.0.0.1")), int(ipaddress.ip_address("10.0.3.255")), 2):
        m.allocate(str(ipaddress.IPv4Address(value)))
    expected = _expected(["10.0.0.0/22", "10.0.8.0/24"], {_as_pair(ip) for ip in m})
    assert len(expected) > 256  # more than one batch of runs
    assert m.free_ranges() == expected
    brute = [ip for a, b in expected for ip in _expand(a, b)]
    assert list(m.iter_free()) == brute
    assert m.first_free(700) == brute[:700]


def _expand(first: str, last: str) -> List[str]:
    a, b = ipaddress.ip_address(first), ipaddress.ip_address(last)
    return [str(ipaddress.ip_address(v)) for v in range(int(a), int(b) + 1)]


CIDR_POOL = [
    "10.0.0.0/24", "10.0.0.0/26", "10.0.0.64/27", "10.0.0.128/25", "10.0.1.0/28", "10.0.1.16/28",
    "10.0.0.0/23", "fd00::/120", "fd00::/122", "fd00::100/124", "fd00::80/121",
]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_multi_against_brute_force(fc: Any, data: st.DataObject) -> None:
    cidrs = data.draw(st.lists(st.sampled_from(CIDR_POOL), min_size=1, max_size=6, unique=True))
    ready = {c: data.draw(st.booleans(), label=f"ready {c}") for c in cidrs}
    m = fc.MultiCIDRAllocator([], seed=data.draw(st.integers(0, 99)))
    for c in cidrs:
        m.add(c)
    universe = sorted({(ipaddress.ip_network(c).version, v) for c in cidrs for v in _hosts(c)})
    taken = data.draw(st.sets(st.sampled_from(universe), max_size=len(universe)))
    for family, value in sorted(taken):
        m.allocate(_text(family, value))
    for c in cidrs:
        m.set_ready(c, ready[c])  # not-ready CIDRs keep what they hold
    ready_windows = [c for c in cidrs if ready[c]]
    expected = _expected(ready_windows, taken)
    assert m.free_ranges() == expected
    limit = data.draw(st.integers(0, len(expected) + 1))
    assert m.free_ranges(limit=limit) == expected[:limit]
    brute = [ip for a, b in expected for ip in _expand(a, b)]
    assert list(m.iter_free()) == brute
    n = data.draw(st.integers(0, len(brute) + 2))
    assert m.first_free(n) == brute[:n]
    one = data.draw(st.sampled_from(cidrs))
    family = ipaddress.ip_network(one).version
    in_one = {(family, v) for v in _hosts(one)} & taken
    assert m.free_ranges(one) == _expected([one], taken)
    stats: Dict[str, Any] = m.stats(one)
    size = len(_hosts(one))
    assert stats == {"size": size, "used": len(in_one), "free": size - len(in_one),
                     "utilisation": len(in_one) / size if size else 0.0}


def test_backends_agree_on_free_ranges() -> None:
    """Same operations, same answers from both backends (a long random script)."""
    import random

    from fastcidr import _backend

    if _backend.compiled is None:
        pytest.fail(f"the compiled core is not importable: {_backend.compile_error}")
    results = []
    for module in (_backend.compiled, _backend.pure):
        rng = random.Random(7)
        m = module.MultiCIDRAllocator(["10.0.0.0/20", "10.0.4.0/24", "fd00::/64"], seed=3)
        for _ in range(3000):
            m.allocate_next(rng.choice([4, 6]))
        for ip in list(m)[::3]:
            m.release(ip)
        results.append((m.free_ranges(limit=500), m.first_free(50), m.stats()))
    assert results[0] == results[1]
