"""MultiCIDRAllocator on both backends: docs/behaviour.md §2.3 scenarios (S-050...S-075), a hypothesis
state machine against a brute-force model, cross-backend determinism and thread stress."""
from __future__ import annotations

import copy
import ipaddress
import pickle
import threading
from typing import Any, Dict, List, Optional, Set, Tuple

import netaddr
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from fastcidr import (
    AlreadyAllocatedError,
    InvalidAddressError,
    MismatchedNetworkError,
    RangeFullError,
)
from fastcidr import _backend


def ips(cidr: str) -> List[str]:
    return [str(a) for a in ipaddress.ip_network(cidr).hosts()] if ":" not in cidr else \
        [str(a) for a in list(ipaddress.ip_network(cidr))[1:]]


# --------------------------------------------------------------------------------------------
# Kubernetes MetaAllocator scenarios (S-050...S-057)
# --------------------------------------------------------------------------------------------

def test_s050_allocate_multiple(fc: Any) -> None:
    m = fc.MultiCIDRAllocator(seed=1)
    assert m.free() == 0 and m.used() == 0 and len(m) == 0
    with pytest.raises(RangeFullError, match="range is full"):
        m.allocate_next()
    assert m.add("192.168.0.0/28") is True
    got = {m.allocate_next() for _ in range(14)}
    assert got == set(ips("192.168.0.0/28"))
    with pytest.raises(RangeFullError):
        m.allocate_next()
    m.add("10.0.0.0/28")
    assert m.allocate("10.0.0.11") == "10.0.0.11"
    more = [m.allocate_next() for _ in range(13)]
    assert set(more) | {"10.0.0.11"} == set(ips("10.0.0.0/28"))
    assert len(m) == m.used() == 28 and m.free() == 0
    with pytest.raises(RangeFullError):
        m.allocate_next()


def test_s051_shadow(fc: Any) -> None:
    m = fc.MultiCIDRAllocator(["192.168.1.0/24"])
    with pytest.raises(MismatchedNetworkError, match="the provided network does not match the current range"):
        m.allocate("192.168.1.0")
    assert m.used() == 0
    m.add("192.168.0.0/16")
    assert m.allocate("192.168.1.0") == "192.168.1.0"
    assert m.used() == 1 and m.owners("192.168.1.0") == ["192.168.0.0/16"]
    assert m.stats("192.168.1.0/24")["used"] == 0 and m.stats("192.168.0.0/16")["used"] == 1


def test_s052_grow(fc: Any) -> None:
    m = fc.MultiCIDRAllocator(["192.168.0.0/28"], seed=2)
    first = {m.allocate_next() for _ in range(14)}
    assert len(first) == 14
    m.add("192.168.0.0/24")
    assert m.free() == 240
    while m.free():
        m.allocate_next()
    assert m.used() == 254 and len(set(m)) == 254
    with pytest.raises(RangeFullError):
        m.allocate_next()
    assert m.stats("192.168.0.0/28") == {"size": 14, "used": 14, "free": 0, "utilisation": 1.0}
    assert m.stats("192.168.0.0/24") == {"size": 254, "used": 254, "free": 0, "utilisation": 1.0}


def test_a_28_then_a_24_around_it_gives_254(fc: Any) -> None:
    m = fc.MultiCIDRAllocator(["192.168.0.0/28"])
    m.add("192.168.0.0/24")
    assert m.free() == 254 and m.free("IPv4") == 254 and m.free(6) == 0


def test_s053_shrink(fc: Any) -> None:
    m = fc.MultiCIDRAllocator(["192.168.0.0/24"], seed=3)
    got = m.allocate_many(254)
    assert sorted(got, key=ipaddress.ip_address) == ips("192.168.0.0/24")
    for ip in got:
        m.release(ip)
    assert m.used() == 0
    m.add("192.168.0.0/28")
    assert m.remove("192.168.0.0/24") == []
    assert m.owners("192.168.0.253") == [] and not m.has("192.168.0.253")
    assert {m.allocate_next() for _ in range(14)} == set(ips("192.168.0.0/28"))
    with pytest.raises(RangeFullError):
        m.allocate_next()


def test_s054_counts_and_reallocation(fc: Any) -> None:
    m = fc.MultiCIDRAllocator(["192.168.1.0/30"], seed=4)
    assert m.free() == 2
    a = [m.allocate_next(), m.allocate_next()]
    m.add("10.0.0.0/29")
    assert m.free() == 6
    b = [m.allocate_next() for _ in range(6)]
    assert m.used() == 8
    with pytest.raises(RangeFullError):
        m.allocate_next()
    for ip in a + b:
        with pytest.raises(AlreadyAllocatedError, match="provided IP is already allocated"):
            m.allocate(ip)


def test_s056_not_ready_never_serves_next_but_releases(fc: Any) -> None:
    m = fc.MultiCIDRAllocator(["192.168.0.0/24", "192.168.1.0/24"], seed=5)
    taken = m.allocate("192.168.0.7")
    m.set_ready("192.168.0.0/24", False)
    assert m.is_ready("192.168.0.0/24") is False and m.is_ready("192.168.1.0/24") is True
    for _ in range(200):
        assert m.allocate_next().startswith("192.168.1.")
    with pytest.raises(MismatchedNetworkError):
        m.allocate("192.168.0.8")
    m.release(taken)
    assert not m.has(taken) and m.stats("192.168.0.0/24")["used"] == 0
    with pytest.raises(RangeFullError):
        m.allocate_many(55)
    assert m.used() == 200
    m.set_ready("192.168.0.0/24", True)
    assert m.allocate("192.168.0.8") == "192.168.0.8"


def test_s057_free_counts_top_level_only(fc: Any) -> None:
    m = fc.MultiCIDRAllocator(["10.0.0.0/24", "10.0.0.0/27"])
    assert m.free() == 254
    m.add("192.168.0.0/24")
    assert m.free() == 508
    m.add("10.0.0.0/8")
    assert m.free() == 2**24 - 2 + 254
    m.allocate("10.0.0.5")
    assert m.free() == 2**24 - 2 + 253
    assert [m.stats(c)["used"] for c in m.cidrs] == [1, 1, 0, 1]


# --------------------------------------------------------------------------------------------
# Ownership (S-072, S-074), removal and orphans
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("ip,expected", [
    ("10.0.0.1", ["10.0.0.0/24", "10.0.0.0/16"]), ("10.0.0.255", ["10.0.0.0/16"]),
    ("10.0.0.0", []), ("192.0.0.1", []),
    ("2001:db8::2:3", ["2001:db8::/96", "2001:db8::/64"]),
    ("2001:db8::ffff:ffff", ["2001:db8::/96", "2001:db8::/64"]),
    ("2001:db8::", []), ("2002:1:2:3::2", []),
    ("2001:db8::1:0:0", ["2001:db8::/64"]),
])
def test_s072_owners(fc: Any, ip: str, expected: List[str]) -> None:
    m = fc.MultiCIDRAllocator(["10.0.0.0/24", "2001:db8::/96", "10.0.0.0/16", "2001:db8::/64"])
    assert m.owners(ip) == expected


def test_s074_owners_with_overlapping_cidrs(fc: Any) -> None:
    m = fc.MultiCIDRAllocator(["192.168.0.0/24", "2001:db2::/64", "10.0.0.0/24", "10.0.0.0/16",
                               "2001:db2::/96", "192.168.0.0/26"])
    assert m.owners("192.168.0.23") == ["192.168.0.0/26", "192.168.0.0/24"]
    assert m.owners("192.168.0.0") == []
    assert m.owners("192.168.0.63") == ["192.168.0.0/24"]
    assert m.owners("2001:db2::") == []
    assert m.owners("2001:db2::ffff:ffff:ffff:ffff") == ["2001:db2::/64"]


def test_removal_returns_exactly_the_orphans(fc: Any) -> None:
    m = fc.MultiCIDRAllocator(["192.168.0.0/16", "192.168.1.0/24", "192.168.1.64/26"], seed=6)
    for ip in ("192.168.1.0", "192.168.1.255", "192.168.1.5", "192.168.2.3", "192.168.1.70",
               "192.168.1.64", "192.168.255.254"):
        m.allocate(ip)
    assert m.orphans_if_removed("192.168.1.64/26") == []
    assert m.orphans_if_removed("192.168.1.0/24") == []
    assert m.orphans_if_removed("192.168.0.0/16") == [
        "192.168.1.0", "192.168.1.255", "192.168.2.3", "192.168.255.254"]
    assert m.orphans_if_removed("192.168.1.0/24", ignore=["192.168.0.0/16"]) == [
        "192.168.1.5", "192.168.1.64"]
    assert m.orphans_if_removed("192.168.1.0/24", ignore=["192.168.0.0/16", "192.168.1.64/26"]) == [
        "192.168.1.5", "192.168.1.64", "192.168.1.70"]
    assert m.remove("192.168.0.0/16") == [
        "192.168.1.0", "192.168.1.255", "192.168.2.3", "192.168.255.254"]
    assert list(m) == ["192.168.1.5", "192.168.1.64", "192.168.1.70"]
    assert m.used() == 3 and m.free() == 251
    assert m.stats("192.168.1.64/26") == {"size": 62, "used": 1, "free": 61, "utilisation": 1 / 62}
    assert m.remove("192.168.1.0/24") == ["192.168.1.5", "192.168.1.64"]
    assert list(m) == ["192.168.1.70"] and m.cidrs == ["192.168.1.64/26"]
    # Adding a CIDR around existing allocations makes them visible to it.
    m.add("192.168.0.0/16")
    assert m.stats("192.168.0.0/16")["used"] == 1 and m.free() == 65533
    assert m.remove("192.168.1.64/26") == []
    assert m.has("192.168.1.70")


def test_orphans_with_several_children(fc: Any) -> None:
    m = fc.MultiCIDRAllocator(["10.0.0.0/23", "10.0.0.0/24", "10.0.1.0/25"], seed=0)
    for ip in ("10.0.0.1", "10.0.0.255", "10.0.1.5", "10.0.1.200"):
        m.allocate(ip)
    assert m.orphans_if_removed("10.0.0.0/23") == ["10.0.0.255", "10.0.1.200"]
    assert m.orphans_if_removed("10.0.0.0/23", ignore=["10.0.1.0/25"]) == [
        "10.0.0.255", "10.0.1.5", "10.0.1.200"]
    assert m.remove("10.0.0.0/23") == ["10.0.0.255", "10.0.1.200"]
    assert list(m) == ["10.0.0.1", "10.0.1.5"]


def test_remove_keeps_allocations_of_nested_children(fc: Any) -> None:
    m = fc.MultiCIDRAllocator(["fd00::/64", "fd00::/112", "fd00::1:0/112", "10.0.0.0/8",
                               "10.1.0.0/16", "10.2.0.0/16"], seed=7)
    v6 = [m.allocate_next("IPv6") for _ in range(50)]
    v4 = m.allocate_many(300, 4)
    before = set(m)
    assert before == set(v6) | set(v4)
    orphans = m.remove("fd00::/64") + m.remove("10.0.0.0/8")
    kept = {ip for ip in before if m.owners(ip)}
    assert set(orphans) == before - kept
    assert set(m) == kept and len(m) == len(kept)
    for c in m.cidrs:
        assert m.stats(c)["used"] == sum(1 for ip in kept if c in m.owners(ip))


def test_errors_and_inputs(fc: Any) -> None:
    m = fc.MultiCIDRAllocator(["10.0.0.0/24", "2001:db8::/64"], policy="ordered", seed=8)
    with pytest.raises(KeyError, match="2001:db8:1::/64"):
        m.stats("2001:DB8:1::/64")
    with pytest.raises(KeyError, match="10.1.0.0/16"):
        m.remove("10.1.0.0/16")
    with pytest.raises(KeyError):
        m.set_ready("10.1.0.0/16", True)
    with pytest.raises(InvalidAddressError, match="shortest allowed prefix length for service CIDR is 64, got 48"):
        m.add("2001:db8::/48")
    with pytest.raises(InvalidAddressError, match="IPv4-mapped"):
        m.add("::ffff:0:0/96")
    with pytest.raises(InvalidAddressError):
        m.add("10.0.0.1/24")
    for bad in ("10.0.0.01", "junk", "", " 10.0.0.1", 167772161, "::ffff:10.0.0.1"):
        with pytest.raises(InvalidAddressError):
            m.allocate(bad)
        with pytest.raises(InvalidAddressError):
            m.release(bad)
        with pytest.raises(InvalidAddressError):
            m.has(bad)
    with pytest.raises(ValueError):
        m.allocate_next("IPv5")
    with pytest.raises(ValueError):
        m.allocate_many(-1)
    with pytest.raises(ValueError):
        fc.MultiCIDRAllocator(policy="fastest")
    assert m.allocate_many(0) == []
    assert m.policy == "ordered" and fc.MultiCIDRAllocator().policy == "weighted"
    assert "10.0.0.0/24" in repr(m)
    assert m.add("10.0.0.0/24") is False
    assert m.cidrs == ["10.0.0.0/24", "2001:db8::/64"]
    assert m.allocate(ipaddress.ip_address("10.0.0.9")) == "10.0.0.9"
    assert m.allocate(netaddr.IPAddress("2001:DB8::A")) == "2001:db8::a"
    assert m.has("2001:db8:0::a") and "10.0.0.9" in m and "10.0.0.10" not in m
    m.release("10.9.9.9")  # outside every CIDR: a no-op
    m.release("10.0.0.10")  # free: a no-op
    assert m.allocate_next().startswith("10.0.0.")  # None = family of the first CIDR
    assert ":" in m.allocate_next("IPv6") and ":" in m.allocate_next(6)
    assert "." in m.allocate_next(4)
    assert m.used() == 6 and m.used("IPv4") == 3 and m.used(6) == 3
    assert m.free(6) == 2**64 - 1 - 3
    with pytest.raises(RangeFullError):
        fc.MultiCIDRAllocator(["10.0.0.0/24"]).allocate_next("IPv6")
    v4 = sorted((ip for ip in m if "." in ip), key=ipaddress.ip_address)
    assert len(v4) == 3 and m.remove(ipaddress.ip_network("10.0.0.0/24")) == v4
    assert m.allocate_next().count(":") >= 2  # the first CIDR is now the IPv6 one


def test_ordered_policy_fills_in_insertion_order(fc: Any) -> None:
    m = fc.MultiCIDRAllocator(["10.0.1.0/28", "10.0.0.0/28", "10.0.2.0/28"], policy="ordered", seed=9)
    got = [m.allocate_next() for _ in range(42)]
    assert [ipaddress.ip_address(ip) in ipaddress.ip_network("10.0.1.0/28") for ip in got[:14]] == [True] * 14
    assert all(ip.startswith("10.0.0.") for ip in got[14:28])
    assert all(ip.startswith("10.0.2.") for ip in got[28:])


def test_weighted_policy_prefers_large_cidrs(fc: Any) -> None:
    m = fc.MultiCIDRAllocator(["10.0.0.0/28", "10.1.0.0/16"], seed=10)
    got = m.allocate_many(2000)
    small = sum(ip.startswith("10.0.0.") for ip in got)
    assert small < 14  # weight 14 against 65534: a handful at most
    r = fc.MultiCIDRAllocator(["10.0.0.0/28", "10.1.0.0/16"], seed=10, policy="random")
    assert sum(ip.startswith("10.0.0.") for ip in r.allocate_many(28)) >= 5


def test_snapshot_pickle_copy_continue(fc: Any) -> None:
    m = fc.MultiCIDRAllocator(["10.0.0.0/24", "10.0.0.0/26", "fd00::/120"], seed=11)
    m.add("10.0.1.0/24", ready=False)
    m.allocate_many(40)
    m.allocate_many(10, "IPv6")
    data = m.snapshot()
    assert data[:4] == b"FCMA"
    clones = [fc.MultiCIDRAllocator.restore(data), pickle.loads(pickle.dumps(m)), m.copy(),
              copy.copy(m), copy.deepcopy(m), fc.MultiCIDRAllocator.restore(bytearray(data)),
              fc.MultiCIDRAllocator.restore(memoryview(data))]
    expected = [m.allocate_next() for _ in range(30)]
    for c in clones:
        assert type(c) is type(m)
        assert c.cidrs == m.cidrs and c.is_ready("10.0.1.0/24") is False
        assert [c.allocate_next() for _ in range(30)] == expected
        assert c.snapshot() == m.snapshot()
        assert c.stats("10.0.0.0/26") == m.stats("10.0.0.0/26")
    with pytest.raises(TypeError):
        fc.MultiCIDRAllocator.restore("FCMA")


# --------------------------------------------------------------------------------------------
# Cross-backend determinism
# --------------------------------------------------------------------------------------------

def _script(cls: Any, policy: str) -> Tuple[List[str], bytes]:
    m = cls(["10.0.0.0/22", "10.0.1.0/24", "10.0.1.0/28", "fd00::/64", "fd00::/120", "10.8.0.0/16"],
            seed=12345, policy=policy)
    out = [m.allocate_next() for _ in range(300)]
    out += m.allocate_many(200, "IPv6")
    m.set_ready("10.8.0.0/16", False)
    out += m.allocate_many(100)
    out += m.remove("10.0.0.0/22")
    m.add("10.0.0.0/8", ready=True)
    out += [m.allocate_next(4) for _ in range(100)]
    out += [str(m.stats(c)) for c in m.cidrs]
    return out, m.snapshot()


@pytest.mark.parametrize("policy", ["weighted", "random", "ordered"])
def test_cross_backend_determinism(policy: str) -> None:
    if _backend.compiled is None:
        pytest.fail(f"the compiled core is not importable: {_backend.compile_error}")
    pure_out, pure_snap = _script(_backend.pure.MultiCIDRAllocator, policy)
    comp_out, comp_snap = _script(_backend.compiled.MultiCIDRAllocator, policy)
    assert comp_out == pure_out
    assert comp_snap == pure_snap
    a = _backend.compiled.MultiCIDRAllocator.restore(pure_snap)
    b = _backend.pure.MultiCIDRAllocator.restore(comp_snap)
    assert [a.allocate_next("IPv6") for _ in range(50)] == [b.allocate_next("IPv6") for _ in range(50)]


def _churn_script(cls: Any, policy: str) -> Tuple[List[str], bytes]:
    """Many small CIDRs filled, drained and refilled: candidates change weight class, leave and
    rejoin their arrays (swap-remove + append) all the time; a snapshot in the middle."""
    m = cls([f"10.0.{i}.0/28" for i in range(40)] + ["10.0.0.0/26", "10.1.0.0/24"], seed=77,
            policy=policy)
    out = [m.allocate_next() for _ in range(400)]
    for ip in out[::3]:
        m.release(ip)
    m.set_ready("10.1.0.0/24", False)
    out += m.allocate_many(150)
    mid = m.snapshot()
    out += [m.allocate_next() for _ in range(100)]
    return out, mid


@pytest.mark.parametrize("policy", ["weighted", "random", "ordered"])
def test_cross_backend_determinism_with_churn(policy: str) -> None:
    if _backend.compiled is None:
        pytest.fail(f"the compiled core is not importable: {_backend.compile_error}")
    pure_out, pure_mid = _churn_script(_backend.pure.MultiCIDRAllocator, policy)
    comp_out, comp_mid = _churn_script(_backend.compiled.MultiCIDRAllocator, policy)
    assert comp_out == pure_out and comp_mid == pure_mid
    # Restoring the middle snapshot (either backend) continues exactly as the original did.
    for cls in (_backend.pure.MultiCIDRAllocator, _backend.compiled.MultiCIDRAllocator):
        c = cls.restore(pure_mid)
        assert [c.allocate_next() for _ in range(100)] == pure_out[550:]


def test_weighted_choice_is_proportional_to_free_addresses(fc: Any) -> None:
    """First pick of fresh allocators over many seeds: /28 : /27 : /26 = 14 : 30 : 62."""
    cidrs = ["10.0.0.0/28", "10.1.0.0/27", "10.2.0.0/26"]
    counts = [0, 0, 0]
    n = 3000
    for seed in range(n):
        ip = fc.MultiCIDRAllocator(cidrs, seed=seed).allocate_next()
        counts[int(ip.split(".")[1])] += 1
    for count, weight in zip(counts, (14, 30, 62)):
        assert abs(count / n - weight / 106) < 0.035, counts


# --------------------------------------------------------------------------------------------
# Threads
# --------------------------------------------------------------------------------------------

def test_thread_stress(fc: Any) -> None:
    m = fc.MultiCIDRAllocator(["10.0.0.0/20", "10.0.0.0/24", "10.0.4.0/22", "fd00::/116"], seed=13)
    barrier = threading.Barrier(8)
    results: List[List[str]] = [[] for _ in range(8)]
    released: List[List[str]] = [[] for _ in range(8)]
    errors: List[BaseException] = []

    def work(i: int) -> None:
        try:
            barrier.wait()
            for j in range(300):
                fam = "IPv6" if j % 3 == 0 else "IPv4"
                ip = m.allocate_next(fam)
                results[i].append(ip)
                if j % 4 == 0:
                    m.release(ip)
                    released[i].append(ip)
                if j % 50 == 0:
                    m.snapshot()
                    list(m)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    from collections import Counter
    balance = Counter(ip for r in results for ip in r)
    balance.subtract(ip for r in released for ip in r)
    assert set(balance.values()) <= {0, 1}  # never handed out twice while held
    held = [ip for ip, n in balance.items() if n == 1]
    assert set(m) == set(held) and len(m) == len(held)
    v4 = [ip for ip in held if "." in ip]
    assert m.stats("10.0.0.0/20")["used"] == len(v4)
    assert m.used("IPv6") == len(held) - len(v4)


# --------------------------------------------------------------------------------------------
# State machine against a brute-force model
# --------------------------------------------------------------------------------------------

POOL = ["10.0.0.0/23", "10.0.0.0/24", "10.0.1.0/25", "10.0.0.0/26", "10.0.0.64/27",
        "10.0.0.0/28", "10.0.0.16/28", "10.0.0.0/30", "10.0.0.32/32", "10.0.0.4/31",
        "fd00::/118", "fd00::/120", "fd00::100/120", "fd00::/124", "fd00::10/124", "fd00::/126"]
POOL_KEYS = {c: ipaddress.ip_network(c) for c in POOL}


def model_holds(cidr: str, ip: Any) -> bool:
    net = POOL_KEYS[cidr]
    if ip.version != net.version or ip not in net or ip == net.network_address:
        return False
    return net.version == 6 or ip != net.broadcast_address


class MultiMachine(RuleBasedStateMachine):
    api: Any = None

    def __init__(self) -> None:
        super().__init__()
        self.policy = "weighted"
        self.m: Any = None
        self.cidrs: Dict[str, bool] = {}  # insertion-ordered, value = ready
        self.alloc: Set[Any] = set()

    def holders(self, ip: Any, ready_only: bool = False) -> List[str]:
        hs = [c for c in self.cidrs if model_holds(c, ip) and (self.cidrs[c] or not ready_only)]
        return sorted(hs, key=lambda c: -POOL_KEYS[c].prefixlen)

    @rule(policy=st.sampled_from(["weighted", "random", "ordered"]), seed=st.integers(0, 2**64))
    @precondition(lambda self: self.m is None)
    def start(self, policy: str, seed: int) -> None:
        self.m = self.api.MultiCIDRAllocator(seed=seed, policy=policy)
        self.policy = policy

    @rule(cidr=st.sampled_from(POOL), ready=st.booleans())
    @precondition(lambda self: self.m is not None)
    def add(self, cidr: str, ready: bool) -> None:
        assert self.m.add(cidr, ready=ready) is (cidr not in self.cidrs)
        self.cidrs.setdefault(cidr, ready)

    @rule(cidr=st.sampled_from(POOL))
    @precondition(lambda self: self.m is not None)
    def remove(self, cidr: str) -> None:
        if cidr not in self.cidrs:
            with pytest.raises(KeyError):
                self.m.remove(cidr)
            return
        predicted = self.m.orphans_if_removed(cidr)
        del self.cidrs[cidr]
        orphans = sorted((ip for ip in self.alloc if not self.holders(ip)), key=lambda a: (a.version, a))
        self.alloc -= set(orphans)
        assert self.m.remove(cidr) == [str(ip) for ip in orphans] == predicted

    @rule(cidr=st.sampled_from(POOL), ready=st.booleans())
    @precondition(lambda self: self.m is not None)
    def set_ready(self, cidr: str, ready: bool) -> None:
        if cidr in self.cidrs:
            self.m.set_ready(cidr, ready)
            self.cidrs[cidr] = ready

    @rule(v6=st.booleans(), n=st.integers(0, 1023))
    @precondition(lambda self: self.m is not None)
    def allocate(self, v6: bool, n: int) -> None:
        ip = ipaddress.ip_address((0xFD00 << 112) + n if v6 else 0x0A000000 + (n & 511))
        if not self.holders(ip, ready_only=True):
            with pytest.raises(MismatchedNetworkError):
                self.m.allocate(str(ip))
        elif ip in self.alloc:
            with pytest.raises(AlreadyAllocatedError):
                self.m.allocate(str(ip))
        else:
            assert self.m.allocate(str(ip)) == str(ip)
            self.alloc.add(ip)

    def ready_free(self, version: int) -> Set[Any]:
        out = set()
        for c, ready in self.cidrs.items():
            net = POOL_KEYS[c]
            if ready and net.version == version:
                out |= {ip for ip in net if model_holds(c, ip) and ip not in self.alloc}
        return out

    @rule(family=st.sampled_from([None, "IPv4", "IPv6", 4, 6]), many=st.integers(0, 3))
    @precondition(lambda self: self.m is not None)
    def allocate_next(self, family: Any, many: int) -> None:
        if family is None:
            version = POOL_KEYS[next(iter(self.cidrs))].version if self.cidrs else 0
        else:
            version = 4 if family in ("IPv4", 4) else 6
        free = self.ready_free(version)
        count = max(many, 1)
        if len(free) < count:
            with pytest.raises(RangeFullError):
                if many:
                    self.m.allocate_many(many, family)
                else:
                    self.m.allocate_next(family)
            return
        got = self.m.allocate_many(many, family) if many else [self.m.allocate_next(family)]
        addrs = [ipaddress.ip_address(g) for g in got]
        assert len(set(addrs)) == count and set(addrs) <= free
        if self.policy == "ordered" and not many:
            first = next(c for c, r in self.cidrs.items() if r and POOL_KEYS[c].version == version
                         and any(model_holds(c, ip) for ip in free))
            assert model_holds(first, addrs[0])
        self.alloc |= set(addrs)

    @rule(v6=st.booleans(), n=st.integers(0, 1023), pick=st.booleans())
    @precondition(lambda self: self.m is not None)
    def release(self, v6: bool, n: int, pick: bool) -> None:
        if pick and self.alloc:
            ip = sorted(self.alloc, key=lambda a: (a.version, a))[n % len(self.alloc)]
        else:
            ip = ipaddress.ip_address((0xFD00 << 112) + n if v6 else 0x0A000000 + (n & 511))
        self.m.release(str(ip))
        self.alloc.discard(ip)

    @rule()
    @precondition(lambda self: self.m is not None)
    def snapshot_roundtrip(self) -> None:
        clone = type(self.m).restore(self.m.snapshot())
        assert clone.snapshot() == self.m.snapshot()
        self.m = clone

    @rule(cidr=st.sampled_from(POOL), ignore=st.lists(st.sampled_from(POOL), max_size=3))
    @precondition(lambda self: self.m is not None)
    def orphans_if_removed(self, cidr: str, ignore: List[str]) -> None:
        if cidr not in self.cidrs:
            with pytest.raises(KeyError):
                self.m.orphans_if_removed(cidr, ignore=ignore)
            return
        others = [c for c in self.cidrs if c != cidr and c not in ignore]
        expected = sorted((ip for ip in self.alloc if model_holds(cidr, ip)
                           and not any(model_holds(o, ip) for o in others)),
                          key=lambda a: (a.version, a))
        assert self.m.orphans_if_removed(cidr, ignore=ignore) == [str(ip) for ip in expected]

    @invariant()
    def agrees(self) -> None:
        if self.m is None:
            return
        m = self.m
        assert m.cidrs == [str(POOL_KEYS[c]) for c in self.cidrs]
        ordered = sorted(self.alloc, key=lambda a: (a.version, a))
        assert list(m) == [str(ip) for ip in ordered]
        assert len(m) == len(self.alloc)
        for version in (4, 6):
            used = sum(1 for ip in self.alloc if ip.version == version)
            nets = [POOL_KEYS[c] for c in self.cidrs if POOL_KEYS[c].version == version]
            tops = [n for n in nets if not any(o != n and n.subnet_of(o) for o in nets)]  # type: ignore[arg-type]
            size = sum(n.num_addresses - (2 if version == 4 else 1) for n in tops
                       if n.num_addresses > (2 if version == 4 else 1))
            assert m.used(version) == used
            assert m.free(version) == size - used
        for c, ready in self.cidrs.items():
            net = POOL_KEYS[c]
            size = max(net.num_addresses - (2 if net.version == 4 else 1), 0)
            used = sum(1 for ip in self.alloc if model_holds(c, ip))
            assert m.stats(c) == {"size": size, "used": used, "free": size - used,
                                   "utilisation": used / size if size else 0.0}
            assert m.is_ready(c) is ready
        for ip in list(self.alloc)[:5] + [ipaddress.ip_address("10.0.0.5"), ipaddress.ip_address("fd00::10")]:
            assert m.has(str(ip)) is (ip in self.alloc)
            assert m.owners(str(ip)) == [str(POOL_KEYS[c]) for c in self.holders(ip)]


def test_state_machine(fc: Any) -> None:
    MultiMachine.api = fc
    MultiMachine.TestCase.settings = settings(
        max_examples=60, stateful_step_count=50, deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
    MultiMachine.TestCase().runTest()


# -------------------------------------------------------------------------------------------
# Output types
# -------------------------------------------------------------------------------------------


def _text_of(value: Any) -> str:
    return str(ipaddress.ip_address(value)) if isinstance(value, int) else str(value)


@pytest.mark.parametrize("output, v4, v6", [
    ("str", str, str),
    ("int", int, int),
    ("ipaddress", ipaddress.IPv4Address, ipaddress.IPv6Address),
    ("netaddr", netaddr.IPAddress, netaddr.IPAddress),
])
def test_multi_output_type_applies_to_every_address_returned(fc, output, v4, v6):
    cidrs = ["10.0.0.0/24", "10.0.0.0/28", "fd00::/120"]
    plain = fc.MultiCIDRAllocator(cidrs, seed=3)
    typed = fc.MultiCIDRAllocator(cidrs, seed=3, output=output)
    assert typed.output == output
    pairs = [
        (plain.allocate_next(), typed.allocate_next()),
        (plain.allocate_next(family=6), typed.allocate_next(family=6)),
        (plain.allocate("10.0.0.3"), typed.allocate("10.0.0.3")),
    ]
    for text, value in pairs:
        assert type(value) is (v6 if ":" in text else v4) and _text_of(value) == text
    lists = [
        (plain.allocate_many(2, family=4), typed.allocate_many(2, family=4)),
        (list(plain), list(typed)),
        (plain.first_free(3), typed.first_free(3)),
        (plain.orphans_if_removed("10.0.0.0/24"), typed.orphans_if_removed("10.0.0.0/24")),
    ]
    for texts, values in lists:
        assert [_text_of(v) for v in values] == texts
        assert all(type(v) is (v6 if ":" in t else v4) for t, v in zip(texts, values))
    assert [(_text_of(a), _text_of(b)) for a, b in typed.free_ranges(limit=4)] == plain.free_ranges(limit=4)
    assert [_text_of(v) for v in typed.remove("10.0.0.0/24")] == plain.remove("10.0.0.0/24")
    for other in (pickle.loads(pickle.dumps(typed)), typed.copy(), copy.deepcopy(typed)):
        assert other.output == output and list(other) == list(typed)
    assert fc.MultiCIDRAllocator.restore(typed.snapshot()).output == "str"
    assert fc.MultiCIDRAllocator.restore(typed.snapshot(), output=output).output == output


def test_multi_unknown_output_is_refused(fc):
    with pytest.raises(ValueError, match="output must be"):
        fc.MultiCIDRAllocator(["10.0.0.0/24"], output="bytes")
