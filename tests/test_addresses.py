"""Address parsing and formatting (issue 2, item 2), on both backends.

The helpers are the ones the core exports (docs/api.md): ``parse_ip``, ``parse_cidr``,
``format_ip``, ``format_cidr``, ``canonical_ip``, ``canonical_cidr``. ``ipaddress`` is the oracle
for everything it agrees with; the stricter rules (no zone ids, no IPv4-mapped IPv6) are
checked by hand.
"""
from __future__ import annotations

import ipaddress
import itertools

import netaddr
import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from fastcidr import InvalidAddressError, _backend

FIXTURE_SETTINGS = settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
MAX_V6 = (1 << 128) - 1
MAPPED_NET = 0xFFFF << 32


def is_mapped(value: int) -> bool:
    return value >> 32 == 0xFFFF


ipv6_values = st.integers(0, MAX_V6).filter(lambda v: not is_mapped(v))


@st.composite
def ipv6_with_zero_runs(draw: st.DrawFn) -> int:
    """IPv6 values made of zero and non-zero groups, so that zero runs of every length occur."""
    groups = draw(st.lists(st.sampled_from([0, 0, 0, 1, 0xFFFF, 0xABC]), min_size=8, max_size=8))
    value = 0
    for group in groups:
        value = (value << 16) | group
    assume(not is_mapped(value))
    return value


# -------------------------------------------------------------------------------------------
# Formatting and round trips against ipaddress
# -------------------------------------------------------------------------------------------


@FIXTURE_SETTINGS
@given(value=st.integers(0, (1 << 32) - 1))
@example(value=0)
@example(value=(1 << 32) - 1)
def test_ipv4_format_and_parse_match_ipaddress(backend, value):
    text = str(ipaddress.IPv4Address(value))
    assert backend.format_ip(4, value) == text
    assert backend.parse_ip(text) == (4, value)
    assert backend.canonical_ip(ipaddress.IPv4Address(value)) == text


@FIXTURE_SETTINGS
@given(value=st.one_of(ipv6_values, ipv6_with_zero_runs()))
@example(value=0)
@example(value=1)
@example(value=MAX_V6)
@example(value=1 << 127)
def test_ipv6_format_and_parse_match_ipaddress(backend, value):
    address = ipaddress.IPv6Address(value)
    text = str(address)
    assert backend.format_ip(6, value) == text
    assert backend.parse_ip(text) == (6, value)
    # uncompressed, uppercase and partly compressed spellings are accepted and canonicalised
    assert backend.parse_ip(address.exploded) == (6, value)
    assert backend.parse_ip(address.exploded.upper()) == (6, value)
    assert backend.canonical_ip(address.exploded.upper()) == text
    assert backend.canonical_ip(address) == text


ZERO_RUN_SHAPES = list(itertools.product((0, 1), repeat=8))


@pytest.mark.parametrize("shape_block", range(8))
def test_every_ipv6_zero_run_shape(backend, shape_block):
    """All 256 patterns of zero / non-zero groups format exactly as RFC 5952 (and ipaddress) say."""
    for shape in ZERO_RUN_SHAPES[shape_block * 32:(shape_block + 1) * 32]:
        value = 0
        for index, nonzero in enumerate(shape):
            value = (value << 16) | (0x1F0 + index if nonzero else 0)
        if is_mapped(value):
            continue
        expected = str(ipaddress.IPv6Address(value))
        assert backend.format_ip(6, value) == expected, shape
        assert backend.parse_ip(expected) == (6, value)


@pytest.mark.parametrize(
    "text, family, value, canonical",
    [
        ("0.0.0.0", 4, 0, "0.0.0.0"),
        ("255.255.255.255", 4, (1 << 32) - 1, "255.255.255.255"),
        ("::", 6, 0, "::"),
        ("::1", 6, 1, "::1"),
        ("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 6, MAX_V6, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"),
        ("FFFF:FFFF:FFFF:FFFF:FFFF:FFFF:FFFF:FFFF", 6, MAX_V6, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"),
        ("2001:DB8:0::1", 6, 0x20010DB8 << 96 | 1, "2001:db8::1"),
        ("2001:0db8:0000:0000:0000:0000:0000:0001", 6, 0x20010DB8 << 96 | 1, "2001:db8::1"),
        ("00fc::", 6, 0xFC << 112, "fc::"),
        ("1:0:0:1:0:0:0:1", 6, (1 << 112) | (1 << 64) | 1, "1:0:0:1::1"),
        ("1:0:0:1:0:0:1:1", 6, (1 << 112) | (1 << 64) | (1 << 16) | 1, "1::1:0:0:1:1"),
        ("1:2:3:4:5:6:7::", 6, int(ipaddress.IPv6Address("1:2:3:4:5:6:7:0")), "1:2:3:4:5:6:7:0"),
        ("::2:3:4:5:6:7:8", 6, int(ipaddress.IPv6Address("0:2:3:4:5:6:7:8")), "0:2:3:4:5:6:7:8"),
        ("64:ff9b::192.0.2.1", 6, int(ipaddress.IPv6Address("64:ff9b::c000:201")), "64:ff9b::c000:201"),
        ("::1.2.3.4", 6, 0x01020304, "::102:304"),
        ("10.96.0.1", 4, 0x0A600001, "10.96.0.1"),
    ],
)
def test_hand_picked_addresses(backend, text, family, value, canonical):
    assert backend.parse_ip(text) == (family, value)
    assert backend.format_ip(family, value) == canonical
    assert backend.canonical_ip(text) == canonical


# -------------------------------------------------------------------------------------------
# Rejections
# -------------------------------------------------------------------------------------------

BAD_ADDRESSES = [
    "10.01.0.1",  # leading zeros
    "010.0.0.1",
    "10.0.0.00",
    "::ffff:10.0.0.1",  # IPv4-mapped, both spellings, and the whole /96
    "::ffff:a00:1",
    "::ffff:0:0",
    "::FFFF:FFFF:FFFF",
    "0:0:0:0:0:ffff:1.2.3.4",
    "fe80::1%eth0",  # zone id
    "fe80::1%1",
    " 10.0.0.1",  # whitespace anywhere
    "10.0.0.1 ",
    "10.0.0.1\n",
    "10.0. 0.1",
    "::1\t",
    "",
    "10.0.0",
    "10.0.0.1.2",
    "10.0.0.256",
    "10.0.0.-1",
    "10.0.0.+1",
    "1e1.0.0.1",
    "0x10.0.0.1",
    "10..0.1",
    "1:2:3:4:5:6:7:8:9",
    "1:2:3:4:5:6:7",
    "1::2::3",
    ":::",
    "1:::2",
    ":1:2:3:4:5:6:7",
    "1:2:3:4:5:6:7:",
    "12345::",
    "g::1",
    "::1.2.3",
    "::1.2.3.04",
    "1.2.3.4::",
    "::1.2.3.4:5",
    "1:2:3:4:5:6:7:1.2.3.4",
    "10.0.0.1/32",
    "::1/128",
    "localhost",
    "١٠.0.0.1",  # non-ASCII digits
    "10.0.0.１",  # fullwidth digit
    "10.0.0.1\x00",  # embedded NUL
    "\x00",
    "1" * 100,  # too long
    "1:" * 40 + "1",
]


@pytest.mark.parametrize("bad", BAD_ADDRESSES)
def test_bad_address_text_is_refused_quoting_the_input(backend, bad):
    with pytest.raises(InvalidAddressError) as info:
        backend.parse_ip(bad)
    assert repr(bad) in str(info.value)
    assert isinstance(info.value, ValueError)
    assert info.value.reason == "Invalid" and info.value.code == 422
    with pytest.raises(InvalidAddressError):
        backend.canonical_ip(bad)


@pytest.mark.parametrize("bad", [0, 167772161, True, None, b"10.0.0.1", 1.5, ["10.0.0.1"], object()])
def test_non_address_objects_are_refused(backend, bad):
    """A plain int has no family here; other types are not addresses at all."""
    with pytest.raises(InvalidAddressError):
        backend.parse_ip(bad)


def test_ipaddress_objects_with_zone_or_mapped_are_refused(backend):
    with pytest.raises(InvalidAddressError):
        backend.parse_ip(ipaddress.IPv6Address("fe80::1%eth0"))
    with pytest.raises(InvalidAddressError):
        backend.parse_ip(ipaddress.IPv6Address("::ffff:10.0.0.1"))
    with pytest.raises(InvalidAddressError):
        backend.parse_ip(netaddr.IPAddress("::ffff:10.0.0.1"))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(alphabet="0123456789abcdefABCDEF:.%/ \x00x", max_size=45))
@example(text="1:2:3:4:5:6:7::")
@example(text="::0.0.0.0")
def test_parser_agrees_with_ipaddress_on_arbitrary_text(backend, text):
    """What we accept, ipaddress accepts with the same value; what ipaddress accepts, we accept,
    except zone ids and IPv4-mapped addresses (refused on purpose)."""
    try:
        expected = ipaddress.ip_address(text)
    except ValueError:
        expected = None
    try:
        got = backend.parse_ip(text)
    except InvalidAddressError as exc:
        assert repr(text) in str(exc)
        got = None
    if got is not None:
        assert expected is not None and (expected.version, int(expected)) == got
    elif expected is not None:
        assert "%" in text or (expected.version == 6 and is_mapped(int(expected)))


# -------------------------------------------------------------------------------------------
# Accepted input types
# -------------------------------------------------------------------------------------------


def test_address_objects_are_accepted(backend):
    assert backend.parse_ip(ipaddress.IPv4Address("10.0.0.1")) == (4, 0x0A000001)
    assert backend.parse_ip(ipaddress.IPv6Address("2001:db8::1")) == (6, 0x20010DB8 << 96 | 1)
    assert backend.parse_ip(netaddr.IPAddress("10.0.0.1")) == (4, 0x0A000001)
    assert backend.parse_ip(netaddr.IPAddress("2001:db8::1")) == (6, 0x20010DB8 << 96 | 1)
    assert backend.canonical_ip(netaddr.IPAddress("2001:DB8:0::1")) == "2001:db8::1"


def test_network_objects_are_accepted(backend):
    assert backend.parse_cidr("10.96.0.0/12") == (4, 0x0A600000, 12)
    assert backend.parse_cidr(ipaddress.IPv4Network("10.96.0.0/12")) == (4, 0x0A600000, 12)
    assert backend.parse_cidr(ipaddress.IPv6Network("fd00::/64")) == (6, 0xFD00 << 112, 64)
    assert backend.parse_cidr(netaddr.IPNetwork("10.96.0.0/12")) == (4, 0x0A600000, 12)
    assert backend.parse_cidr(netaddr.IPNetwork("fd00::/64")) == (6, 0xFD00 << 112, 64)
    assert backend.canonical_cidr("00fc::/112") == "fc::/112"
    assert backend.canonical_cidr("2001:DB8:0::/48") == "2001:db8::/48"
    assert backend.canonical_cidr("0.0.0.0/0") == "0.0.0.0/0"
    assert backend.canonical_cidr("::/0") == "::/0"
    assert backend.format_cidr(4, 0x0A600000, 12) == "10.96.0.0/12"
    assert backend.format_cidr(6, 0, 128) == "::/128"


@FIXTURE_SETTINGS
@given(
    family=st.sampled_from([4, 6]),
    data=st.data(),
)
def test_cidr_round_trip(backend, family, data):
    bits = 32 if family == 4 else 128
    prefix = data.draw(st.integers(0, bits))
    value = data.draw(st.integers(0, (1 << bits) - 1))
    network = value >> (bits - prefix) << (bits - prefix)
    network_class = ipaddress.IPv4Network if family == 4 else ipaddress.IPv6Network
    address_class = ipaddress.IPv4Address if family == 4 else ipaddress.IPv6Address
    assume(family == 4 or not is_mapped(network))
    text = str(network_class((network, prefix)))
    assert backend.format_cidr(family, network, prefix) == text
    assert backend.parse_cidr(text) == (family, network, prefix)
    if network != value:
        assume(family == 4 or not is_mapped(value))
        host_text = f"{address_class(value)}/{prefix}"
        with pytest.raises(InvalidAddressError) as info:
            backend.parse_cidr(host_text)
        assert repr(host_text) in str(info.value)


BAD_CIDRS = [
    "10.0.0.1/24",  # host bits
    "2001:db8::1/64",
    "10.0.0.0/33",
    "::/129",
    "10.0.0.0/-1",
    "10.0.0.0/08",  # leading zeros in the length
    "10.0.0.0/",
    "10.0.0.0",
    "/24",
    "10.0.0.0/24/24",
    "10.0.0.0 /24",
    "10.0.0.0/24 ",
    "10.00.0.0/24",
    "fe80::%eth0/64",
    "fe80::/64%eth0",
    "10.0.0.0/2a",
    "10.0.0.0/٢٤",
    "",
]


@pytest.mark.parametrize("bad", BAD_CIDRS)
def test_bad_cidr_text_is_refused_quoting_the_input(backend, bad):
    with pytest.raises(InvalidAddressError) as info:
        backend.parse_cidr(bad)
    assert repr(bad) in str(info.value)
    with pytest.raises(InvalidAddressError):
        backend.canonical_cidr(bad)


@pytest.mark.parametrize("bad", [24, None, b"10.0.0.0/8", ipaddress.IPv4Address("10.0.0.0")])
def test_non_network_objects_are_refused(backend, bad):
    with pytest.raises(InvalidAddressError):
        backend.parse_cidr(bad)


def test_netaddr_network_with_host_bits_is_refused(backend):
    with pytest.raises(InvalidAddressError):
        backend.parse_cidr(netaddr.IPNetwork("10.0.0.1/24"))


def test_both_backends_word_their_refusals_identically():
    """Same input, same message, on the compiled core and the twin."""
    if _backend.compiled is None:
        pytest.fail(f"the compiled core is not importable: {_backend.compile_error}")
    modules = (_backend.compiled, _backend.pure)

    def message(module, function, value):
        with pytest.raises(InvalidAddressError) as info:
            getattr(module, function)(value)
        return str(info.value)

    for bad in BAD_ADDRESSES + [5]:
        texts = {message(m, "parse_ip", bad) for m in modules}
        assert len(texts) == 1, (bad, texts)
    for bad in BAD_CIDRS:
        texts = {message(m, "parse_cidr", bad) for m in modules}
        assert len(texts) == 1, (bad, texts)
