"""PrefixTree on both backends: the Kubernetes iptree tables (S-170...S-182) and brute force."""
from __future__ import annotations

import ipaddress
import pickle
import random
from typing import Any, Dict, List, Optional, Tuple

import netaddr
import pytest

from fastcidr import InvalidAddressError

WIDTH = {4: 32, 6: 128}
Key = Tuple[int, int, int]


def text(key: Key) -> str:
    fam, net, plen = key
    cls = ipaddress.IPv4Network if fam == 4 else ipaddress.IPv6Network
    return str(cls((net, plen)))


def ip_text(fam: int, value: int) -> str:
    return str(ipaddress.IPv4Address(value) if fam == 4 else ipaddress.IPv6Address(value))


def contains(outer: Key, inner: Key) -> bool:
    fam, net, plen = outer
    w = WIDTH[fam]
    return fam == inner[0] and plen <= inner[2] and (net ^ inner[1]) >> (w - plen) == 0


def holds_host(key: Key, fam: int, value: int) -> bool:
    w = WIDTH[fam]
    if not contains(key, (fam, value, w)) or value == key[1]:
        return False
    return fam == 6 or value != key[1] | ((1 << (w - key[2])) - 1)


def sort_key(key: Key) -> Tuple[int, int, int]:
    return key


class Model:
    """Brute force: a dict and linear scans."""

    def __init__(self) -> None:
        self.d: Dict[Key, Any] = {}

    def covering(self, q: Key) -> List[Key]:
        return sorted((k for k in self.d if contains(k, q)), key=lambda k: k[2])

    def covered(self, q: Key) -> List[Key]:
        return sorted(k for k in self.d if contains(q, k))

    def host(self, fam: int, value: int) -> List[Key]:
        return sorted((k for k in self.d if holds_host(k, fam, value)), key=lambda k: -k[2])

    def top(self, fam: Optional[int]) -> List[Key]:
        return sorted(k for k in self.d if (fam is None or k[0] == fam)
                      and not any(o != k and contains(o, k) for o in self.d))


def random_key(rng: random.Random, fam: int) -> Key:
    w = WIDTH[fam]
    # Addresses drawn from a few clusters so that prefixes nest and share long paths.
    base = rng.choice([0x0A000000, 0xC0A80000, 0x0A010200]) if fam == 4 else \
        rng.choice([0x20010DB8 << 96, 0xFD00 << 112, 0x20010DB8_00010000 << 64])
    value = base ^ rng.getrandbits(w if rng.random() < 0.2 else w // 2)
    plen = rng.choice([rng.randint(0, w), rng.randint(w // 2, w), w - rng.randint(0, 8)])
    mask = ((1 << plen) - 1) << (w - plen)
    return fam, value & mask, plen


def pairs(model: Model, keys: List[Key]) -> List[Tuple[str, Any]]:
    return [(text(k), model.d[k]) for k in keys]


# --------------------------------------------------------------------------------------------
# Kubernetes iptree tables
# --------------------------------------------------------------------------------------------

def test_s170_insert_get_delete(fc: Any) -> None:
    t = fc.PrefixTree()
    for cidr in ("192.168.0.0/24", "fd00:1:2:3::/124"):
        assert t.insert(cidr, 1) is False
        assert t.get(cidr) == 1 and cidr in t
        del t[cidr]
        assert t.get(cidr) is None and cidr not in t
    assert len(t) == 0


def test_s171_basic_ipv4(fc: Any) -> None:
    t = fc.PrefixTree()
    assert t.insert("192.168.0.0/24", 1) is False
    assert t["192.168.0.0/24"] == 1
    assert t.get("12.1.0.0/16") is None
    assert t.insert("12.1.0.0/16", 2) is False
    assert t.insert("12.1.0.0/16", 3) is True
    assert t["12.1.0.0/16"] == 3
    assert t.longest_match("12.1.0.2/32") == ("12.1.0.0/16", 3)
    assert t.longest_match("12.1.0.2") == ("12.1.0.0/16", 3)


def test_s172_basic_ipv6(fc: Any) -> None:
    t = fc.PrefixTree()
    t.insert("2001:db8::/64", 1)
    assert t.get("2001:db8:1:3::/64") is None
    assert t.insert("2001:db8:1:3::/64", 2) is False
    assert t.insert("2001:db8:1:3::/64", 3) is True
    assert t["2001:db8:1:3::/64"] == 3
    assert t.longest_match("2001:db8:1:3:4::/96") == ("2001:db8:1:3::/64", 3)


KEYS_176 = ["10.0.0.0/8", "10.21.0.0/16", "10.221.0.0/16", "10.1.2.3/32", "10.1.2.0/24",
            "192.168.0.0/24", "192.168.0.0/16"]


def tree_of(fc: Any, keys: List[str]) -> Any:
    t = fc.PrefixTree()
    for k in keys:
        t[k] = k
    return t


@pytest.mark.parametrize("query,expected", [
    ("192.168.0.3/32", "192.168.0.0/16"), ("10.1.0.0/21", "10.0.0.0/8"),
    ("192.168.0.0/16", "192.168.0.0/16"), ("192.168.0.0/32", "192.168.0.0/16"),
    ("10.1.2.3/32", "10.0.0.0/8"), ("0.0.0.0/0", None),
])
def test_s176_shortest_prefix(fc: Any, query: str, expected: Optional[str]) -> None:
    got = tree_of(fc, KEYS_176).shortest_match(query)
    assert got == (None if expected is None else (expected, expected))


@pytest.mark.parametrize("query,expected", [
    ("192.168.0.3/32", "192.168.0.0/24"), ("10.1.0.0/21", "10.0.0.0/8"),
    ("10.21.2.0/24", "10.21.0.0/16"), ("10.1.2.3/32", "10.1.2.3/32"), ("0.0.0.0/0", None),
])
def test_s177_longest_prefix(fc: Any, query: str, expected: Optional[str]) -> None:
    got = tree_of(fc, KEYS_176).longest_match(query)
    assert got == (None if expected is None else (expected, expected))


def test_s178_top_level_v4(fc: Any) -> None:
    keys = [k for k in KEYS_176 if not k.startswith("192.168")]
    keys += ["192.168.0.0/20", "192.168.1.0/24", "172.16.0.0/12", "172.21.23.0/24"]
    t = tree_of(fc, keys)
    assert t.top_level() == [(k, k) for k in ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/20"]]
    assert t.top_level("IPv4") == t.top_level(4) == t.top_level()
    assert t.top_level("IPv6") == t.top_level(6) == []


def test_s179_top_level_v6(fc: Any) -> None:
    t = tree_of(fc, ["2001:db8:1:2::/64", "2001:db8::/64", "2001:db8:1:1::/64",
                     "2001:db8:1:1:1::/112", "10.0.0.0/8"])
    tops = ["2001:db8::/64", "2001:db8:1:1::/64", "2001:db8:1:2::/64"]
    assert t.top_level(6) == [(k, k) for k in tops]
    assert t.top_level() == [("10.0.0.0/8", "10.0.0.0/8")] + [(k, k) for k in tops]


def test_s180_walk_v4(fc: Any) -> None:
    keys = ["10.0.0.0/8", "10.1.0.0/16", "10.1.1.0/24", "10.1.1.0/26", "10.1.1.33/32"]
    t = tree_of(fc, keys)
    assert [k for k, _ in t.covering("10.1.1.0/26")] == keys[:4]
    assert [k for k, _ in t.covering("10.1.1.33/32")] == keys
    assert [k for k, _ in t.covered("10.0.0.0/8")] == keys
    assert [k for k, _ in t.covered("10.0.0.0/9")] == keys[1:]
    assert t.covered("10.128.0.0/9") == []
    assert [k for k, _ in t.covered("0.0.0.0/0")] == keys


def test_s181_walk_v6(fc: Any) -> None:
    keys = ["2001:db8::/48", "2001:db8::/64", "2001:db8::/96", "2001:db8::/112", "2001:db8::/128"]
    t = tree_of(fc, keys)
    assert [k for k, _ in t.covering("2001:db8::/112")] == keys[:4]
    assert [k for k, _ in t.covering("2001:db8::1/128")] == keys[:4]
    assert [k for k, _ in t.covered("2001:db8::/48")] == keys
    assert [k for k, _ in t.covered("2001:db8::/49")] == keys[1:]


@pytest.mark.parametrize("ip,expected", [
    ("192.168.0.3", ["192.168.0.0/24", "192.168.0.0/16"]),
    ("10.1.2.4", ["10.1.2.0/24", "10.0.0.0/8"]),
    ("10.1.2.0", ["10.0.0.0/8"]), ("10.1.2.255", ["10.0.0.0/8"]),
    ("192.168.0.0", []), ("192.168.1.0", ["192.168.0.0/16"]),
    ("2001:db8::1", ["2001:db8::/96", "2001:db8::/64", "2001:db8::/48"]),
    ("2001:db8::", []),
    ("2001:db8::ffff:ffff:ffff:ffff", ["2001:db8::/64", "2001:db8::/48"]),
    ("10.1.2.3", ["10.1.2.0/24", "10.0.0.0/8"]),  # a /32 holds no host
])
def test_s182_host_matches(fc: Any, ip: str, expected: List[str]) -> None:
    t = tree_of(fc, KEYS_176 + ["2001:db8::/48", "2001:db8::/64", "2001:db8::/96"])
    assert t.host_matches(ip) == [(k, k) for k in expected]


# --------------------------------------------------------------------------------------------
# Mapping behaviour, inputs, errors
# --------------------------------------------------------------------------------------------

def test_mapping_and_inputs(fc: Any) -> None:
    t = fc.PrefixTree()
    t[ipaddress.ip_network("10.0.0.0/8")] = "a"
    t[netaddr.IPNetwork("2001:DB8:0::/64")] = "b"
    assert t["10.0.0.0/8"] == "a" and t["2001:db8::/64"] == "b"
    assert list(t) == ["10.0.0.0/8", "2001:db8::/64"]
    assert t.keys() == list(t) and t.values() == ["a", "b"]
    assert t.items() == [("10.0.0.0/8", "a"), ("2001:db8::/64", "b")]
    assert t.longest_match(ipaddress.ip_address("10.2.3.4")) == ("10.0.0.0/8", "a")
    assert t.longest_match(netaddr.IPAddress("2001:db8::5")) == ("2001:db8::/64", "b")
    assert t.longest_match("2001:DB8:0:0::5") == ("2001:db8::/64", "b")
    assert t.host_matches(ipaddress.ip_address("2001:db8::5")) == [("2001:db8::/64", "b")]
    assert t.longest_match("11.0.0.1") is None
    with pytest.raises(KeyError, match="10.1.0.0/16"):
        t["10.1.0.0/16"]
    with pytest.raises(KeyError, match="2001:db8:1::/64"):
        del t["2001:DB8:1::/64"]
    for bad in ("10.0.0.1/8", "10.01.0.0/16", "junk", "10.0.0.0/33", "::ffff:1.2.3.4"):
        with pytest.raises(InvalidAddressError):
            t.get(bad)
    with pytest.raises(InvalidAddressError):
        t.longest_match(167772161)  # an int has no family here
    with pytest.raises(InvalidAddressError):
        t.host_matches("10.0.0.0/8")
    with pytest.raises(ValueError):
        t.top_level("IPv5")
    assert len(t) == 2
    assert t.get("10.0.0.0/8", 5) == "a" and t.get("10.9.0.0/16", 5) == 5


def test_int_fast_paths(fc: Any) -> None:
    t = tree_of(fc, KEYS_176 + ["2001:db8::/48"])
    assert t.longest_match_int(0xC0A80003) == ("192.168.0.0/24", "192.168.0.0/24")
    assert t.host_matches_int(0xC0A80100, 4) == [("192.168.0.0/16", "192.168.0.0/16")]
    assert t.longest_match_int(0x20010DB8 << 96 | 1, "IPv6") == ("2001:db8::/48", "2001:db8::/48")
    assert t.longest_match_int(0x0B000000) is None
    for bad in (-1, 2**32, "10.0.0.1", 1.5, True):
        with pytest.raises(InvalidAddressError):
            t.longest_match_int(bad)
    with pytest.raises(InvalidAddressError):
        t.host_matches_int(2**128, 6)
    with pytest.raises(ValueError):
        t.longest_match_int(1, None)


def test_families_never_mix(fc: Any) -> None:
    t = fc.PrefixTree()
    t["::/64"] = "v6"
    t["0.0.0.0/0"] = "v4"
    assert t.longest_match("0.0.0.1") == ("0.0.0.0/0", "v4")
    assert t.longest_match("::1") == ("::/64", "v6")
    assert t.covered("0.0.0.0/0") == [("0.0.0.0/0", "v4")]
    assert t.covering("::1/128") == [("::/64", "v6")]
    del t["0.0.0.0/0"]
    assert t.longest_match("0.0.0.1") is None


def test_pickle_and_repr(fc: Any) -> None:
    t = tree_of(fc, KEYS_176 + ["2001:db8::/48"])
    t2 = pickle.loads(pickle.dumps(t))
    assert type(t2) is type(t) and t2.items() == t.items()
    assert "10.0.0.0/8" in repr(t)


def test_delete_keeps_structure(fc: Any) -> None:
    t = tree_of(fc, ["10.0.0.0/8", "10.0.0.0/16", "10.128.0.0/16", "10.0.0.0/24"])
    del t["10.0.0.0/16"]
    assert t.covered("10.0.0.0/8") == [(k, k) for k in ["10.0.0.0/8", "10.0.0.0/24", "10.128.0.0/16"]]
    del t["10.0.0.0/8"]
    assert t.top_level() == [(k, k) for k in ["10.0.0.0/24", "10.128.0.0/16"]]
    assert t.pop("10.0.0.0/24") == "10.0.0.0/24"
    assert t.pop("10.0.0.0/24", None) is None
    del t["10.128.0.0/16"]
    assert len(t) == 0 and list(t) == [] and t.top_level() == []


# --------------------------------------------------------------------------------------------
# Brute force
# --------------------------------------------------------------------------------------------

def check_against_model(t: Any, model: Model, rng: random.Random, nqueries: int) -> None:
    keys = sorted(model.d)
    assert len(t) == len(model.d)
    assert list(t) == [text(k) for k in keys]
    for fam in (None, 4, 6):
        assert t.top_level(fam) == pairs(model, model.top(fam))
    for _ in range(nqueries):
        fam = rng.choice((4, 6))
        q = random_key(rng, fam) if rng.random() < 0.5 or not keys else rng.choice(keys)
        fam = q[0]
        cov = model.covering(q)
        assert t.covering(text(q)) == pairs(model, cov)
        assert t.longest_match(text(q)) == (pairs(model, cov[-1:])[0] if cov else None)
        assert t.shortest_match(text(q)) == (pairs(model, cov[:1])[0] if cov else None)
        assert t.covered(text(q)) == pairs(model, model.covered(q))
        w = WIDTH[fam]
        value = q[1] | (rng.getrandbits(w - q[2]) if q[2] < w and rng.random() < 0.7 else 0)
        ip = ip_text(fam, value)
        assert t.host_matches(ip) == pairs(model, model.host(fam, value))
        full = model.covering((fam, value, w))
        assert t.longest_match(ip) == (pairs(model, full[-1:])[0] if full else None)
        assert t.longest_match_int(value, fam) == t.longest_match(ip)
        assert t.host_matches_int(value, "IPv4" if fam == 4 else "IPv6") == t.host_matches(ip)


@pytest.mark.parametrize("seed", [1, 2])
def test_brute_force_random(fc: Any, seed: int) -> None:
    rng = random.Random(seed)
    t = fc.PrefixTree()
    model = Model()
    for step in range(900):
        key = random_key(rng, rng.choice((4, 6)))
        if rng.random() < 0.3 and model.d:
            victim = rng.choice(sorted(model.d))
            assert t.pop(text(victim)) == model.d.pop(victim)
            continue
        assert t.insert(text(key), step) is (key in model.d)
        model.d[key] = step
        assert t[text(key)] == step
        if step % 150 == 0:
            check_against_model(t, model, rng, 60)
    check_against_model(t, model, rng, 300)
    for key in sorted(model.d, key=lambda _: rng.random()):
        del t[text(key)]
    assert len(t) == 0 and list(t) == []


def test_brute_force_dense_ipv4(fc: Any) -> None:
    """Thousands of IPv4 prefixes, short ones included, inserted and deleted in bulk: exercises
    the compiled trie's jump table (built past a few hundred prefixes) and ancestor links."""
    rng = random.Random(99)
    t = fc.PrefixTree()
    model = Model()
    for wave in range(3):
        for _ in range(1200):
            key = random_key(rng, 4) if rng.random() < 0.8 else (4, 0, 0)
            if rng.random() < 0.15:  # short prefixes move many jump entries at once
                plen = rng.randint(0, 15)
                key = (4, key[1] & (((1 << plen) - 1) << (32 - plen)), plen)
            t[text(key)] = wave
            model.d[key] = wave
        check_against_model(t, model, rng, 150)
        for victim in rng.sample(sorted(model.d), len(model.d) // 2):
            del t[text(victim)]
            del model.d[victim]
        check_against_model(t, model, rng, 150)
    t.clear()
    assert len(t) == 0 and t.longest_match("10.0.0.1") is None


@pytest.mark.slow
def test_s173_100k_prefixes(fc: Any) -> None:
    """100,000 random prefixes per family: every insert new, every get and longest match right."""
    rng = random.Random(173)
    t = fc.PrefixTree()
    by_len: Dict[Tuple[int, int], Dict[int, int]] = {}
    keys: List[Key] = []
    seen = set()
    for fam in (4, 6):
        w = WIDTH[fam]
        while len(keys) < (100_000 if fam == 4 else 200_000):
            plen = rng.randint(8, w) if fam == 4 else rng.randint(16, w)
            net = rng.getrandbits(w) & (((1 << plen) - 1) << (w - plen))
            if (fam, net, plen) in seen:
                continue
            seen.add((fam, net, plen))
            keys.append((fam, net, plen))
    for i, k in enumerate(keys):
        assert t.insert(text(k), i) is False
        by_len.setdefault((k[0], k[2]), {})[k[1]] = i
    assert len(t) == len(keys)
    for i, k in enumerate(keys[::7]):
        assert t[text(k)] == i * 7
    for _ in range(3000):
        fam = rng.choice((4, 6))
        w = WIDTH[fam]
        value = rng.getrandbits(w)
        expected = None
        for plen in range(w, -1, -1):
            hit = by_len.get((fam, plen), {}).get(value & (((1 << plen) - 1) << (w - plen)))
            if hit is not None:
                expected = (text((fam, value & (((1 << plen) - 1) << (w - plen)), plen)), hit)
                break
        assert t.longest_match(ip_text(fam, value)) == expected
    for k in keys:
        del t[text(k)]
    assert len(t) == 0


# --------------------------------------------------------------------------------------------
# The compiled IPv4 fast parse path accepts exactly what the general parser accepts
# --------------------------------------------------------------------------------------------

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from fastcidr import _backend as _selector  # noqa: E402

_pure = _selector.pure  # the twins together

QUADISH = st.one_of(
    st.text(alphabet="0123456789./", max_size=20),
    st.builds(lambda parts, plen: ".".join(parts) + plen,
              st.lists(st.sampled_from(["0", "00", "01", "1", "9", "10", "99", "100", "199", "255",
                                        "256", "300", "999", "0255", ""]), min_size=3, max_size=5),
              st.sampled_from(["", "/0", "/8", "/00", "/08", "/32", "/33", "/24", "/", "/1a", "/ 8"])),
)


@settings(max_examples=600, deadline=None)
@given(text=QUADISH)
def test_fast_ipv4_parse_agrees(text: str) -> None:
    from fastcidr import _backend
    compiled = _backend.compiled
    if compiled is None:
        pytest.fail(f"the compiled core is not importable: {_backend.compile_error}")
    for module in (compiled, _pure):
        t = module.PrefixTree()
        t["0.0.0.0/0"] = "all"
        if "/" in text:
            try:
                expected: Any = _pure.format_cidr(*_pure.parse_cidr(text))
            except InvalidAddressError:
                expected = InvalidAddressError
            if expected is InvalidAddressError:
                with pytest.raises(InvalidAddressError):
                    t.insert(text, 1)
                with pytest.raises(InvalidAddressError):
                    t.longest_match(text)
            else:
                assert t.insert(text, 1) is (expected == "0.0.0.0/0")
                assert t.longest_match(text) == (expected, 1)
        else:
            try:
                expected = _pure.parse_ip(text)
            except InvalidAddressError:
                expected = InvalidAddressError
            if expected is InvalidAddressError:
                with pytest.raises(InvalidAddressError):
                    t.longest_match(text)
                with pytest.raises(InvalidAddressError):
                    t.host_matches(text)
            else:
                assert t.longest_match(text) == (("0.0.0.0/0", "all") if expected[0] == 4 else None)
