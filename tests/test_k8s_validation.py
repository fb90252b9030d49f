"""Kubernetes validation: S-150..S-166 and the messages of docs/behaviour.md §3/§5.

Pure functions over strings (no core involved), so no ``backend`` fixture is needed here; the
same checks through ``Cluster`` run on both backends in test_cluster.py.
"""
from __future__ import annotations

import pytest

from fastcidr.errors import ValidationError
from fastcidr.k8s import validation as V
from fastcidr.k8s.objects import IPAddress, ParentReference, Service, ServiceCIDR

NOT_CIDR = "must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)"


def msgs(errors):
    return [m.split(": ", 2)[-1] if m.startswith("Invalid value") else m for _, m in errors]


# ---- ServiceCIDR create (S-150..S-158) -------------------------------------------------------

def test_s150_empty():
    assert V.validate_service_cidr_spec([]) == [("spec.cidrs", "Required value: at least one CIDR required")]


def test_s151_three_values():
    errs = V.validate_service_cidr_spec(["192.168.0.0/24", "fd00::/64", "10.0.0.0/16"])
    assert len(errs) == 1 and errs[0][0] == "spec.cidrs"
    assert errs[0][1].endswith(": may only hold up to 2 values")


@pytest.mark.parametrize("cidrs", [["192.168.0.0/24"], ["fd00:1234::/64"], ["192.168.0.0/24", "fd00:1234::/64"],
                                   ["fd00:1234::/64", "192.168.0.0/24"], ["10.0.0.0/8"], ["2001:db8::/48"]])
def test_s152_valid(cidrs):
    assert V.validate_service_cidr_spec(cidrs) == []


@pytest.mark.parametrize(
    "cidr, expected",
    [
        ("asdasdasd", [NOT_CIDR]),  # S-153
        ("192.168.0.1", [NOT_CIDR]),
        ("10.96.0.0/33", [NOT_CIDR]),
        ("", [NOT_CIDR]),
        ("192.168.0.1/24", ["must not have bits set beyond the prefix length"]),  # S-154
        ("fd00:1234::2/64", ["must not have bits set beyond the prefix length"]),
        ("FD00:1234::2/64", ['must be in canonical form ("fd00:1234::2/64")',
                             "must not have bits set beyond the prefix length"]),  # S-155
        ("FD00:1234::/64", ['must be in canonical form ("fd00:1234::/64")']),  # S-156
        ("192.168.007.0/24", ["must not have leading 0s in IP or prefix length"]),  # S-157
        ("192.168.0.0/016", ["must not have leading 0s in IP or prefix length"]),
        ("::ffff:1.1.1.0/120", ["must not have an IPv4-mapped IPv6 address"]),
        ("2001:db8:0::/64", ['must be in canonical form ("2001:db8::/64")']),
        ("10.0.0.0/8 ", [NOT_CIDR]),
        ("fe80::/64%eth0", [NOT_CIDR]),
    ],
)
def test_each_cidr(cidr, expected):
    errs = V.validate_service_cidr_spec([cidr])
    assert all(path == "spec.cidrs[0]" for path, _ in errs)
    assert msgs(errs) == expected
    assert all(m.startswith(f"Invalid value: \"{cidr}\": ") for _, m in errs)


def test_s156_s157_second_entry_paths():
    errs = V.validate_service_cidr_spec(["192.168.0.0/24", "FD00:1234::/64"])
    assert errs == [("spec.cidrs[1]", 'Invalid value: "FD00:1234::/64": must be in canonical form ("fd00:1234::/64")')]
    assert len(V.validate_service_cidr_spec(["192.168.007.0/24", "fd00:1234::/64"])) == 1


def test_s158_two_of_one_family():
    errs = V.validate_service_cidr_spec(["10.0.0.0/24", "10.1.0.0/24"])
    assert errs == [(
        "spec.cidrs",
        'Invalid value: networking.ServiceCIDRSpec{CIDRs:[]string{"10.0.0.0/24", "10.1.0.0/24"}}: '
        "may specify no more than one IP for each IP family, i.e 192.168.0.0/24 and 2001:db8::/64",
    )]


def test_kubectl_text_of_a_cidr_error():
    errs = V.validate_service_cidr(ServiceCIDR("newcidr1", ["10.96.0.0/33"]))
    err = ValidationError(errs, kind="ServiceCIDR", name="newcidr1")
    path, message = err.errors[0]
    text = f'The {err.kind} "{err.name}" is invalid: {path}: {message}'
    assert text == ('The ServiceCIDR "newcidr1" is invalid: spec.cidrs[0]: Invalid value: "10.96.0.0/33": '
                    "must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)")


@pytest.mark.parametrize("name, n", [("ok.name-1", 0), ("Bad_Name", 1), ("-x", 1), ("a" * 254, 1), ("A" * 254, 2), ("", 1)])
def test_service_cidr_names_are_dns_subdomains(name, n):
    errs = [e for e in V.validate_service_cidr(ServiceCIDR(name, ["10.0.0.0/24"])) if e[0] == "metadata.name"]
    assert len(errs) == n
    if name == "Bad_Name":
        assert errs[0][1].startswith('Invalid value: "Bad_Name": a lowercase RFC 1123 subdomain must consist of')
    if name == "":
        assert errs == [("metadata.name", "Required value: name or generateName is required")]


# ---- ServiceCIDR update (S-159 and the 1.33 single → dual rule) ------------------------------

OLD = ServiceCIDR("x", ["192.168.0.0/24", "fd00:1234::/64"])


def test_s159_update():
    assert V.validate_service_cidr_update(ServiceCIDR("x", list(OLD.cidrs)), OLD) == []
    errs = V.validate_service_cidr_update(ServiceCIDR("x", ["10.0.0.0/16"]), OLD)
    assert errs == [("spec.cidrs", 'Invalid value: []string{"10.0.0.0/16"}: field is immutable')]
    errs = V.validate_service_cidr_update(ServiceCIDR("x", ["10.0.0.0/24", "fd00:1234::/64"]), OLD)
    assert errs == [("spec.cidrs[0]", 'Invalid value: "10.0.0.0/24": field is immutable')]


def test_single_to_dual_keeping_the_primary():
    old = ServiceCIDR("x", ["192.168.0.0/24"])
    assert V.validate_service_cidr_update(ServiceCIDR("x", ["192.168.0.0/24", "fd00::/64"]), old) == []
    errs = V.validate_service_cidr_update(ServiceCIDR("x", ["fd00::/64", "192.168.0.0/24"]), old)
    assert any("field is immutable" in m for _, m in errs)
    errs = V.validate_service_cidr_update(ServiceCIDR("x", ["192.168.0.0/24", "10.0.0.0/24"]), old)
    assert any("may specify no more than one IP for each IP family" in m for _, m in errs)


# ---- IPAddress (S-160..S-167) ----------------------------------------------------------------

REF = ParentReference("", "services", "bar", "foo")


def test_s160_s163_ipaddress_names_and_parent_ref():
    assert len(V.validate_ip_address(IPAddress("test-name", REF))) == 1
    assert len(V.validate_ip_address(IPAddress("test-name", None))) == 2
    assert V.validate_ip_address(IPAddress("192.168.1.1", REF)) == []
    assert V.validate_ip_address(IPAddress("192.168.1.1", ParentReference("gateway.networking.k8s.io", "gateway", "bar", "foo"))) == []
    assert V.validate_ip_address(IPAddress("2001:4860:4860::8888", REF)) == []
    assert V.validate_ip_address(IPAddress("192.168.1.1", None)) == [("spec.parentRef", "Required value")]


@pytest.mark.parametrize(
    "name, message",
    [
        ("test-name", 'Invalid value: "test-name": must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)'),
        ("2001:4860:4860:0::8888", 'Invalid value: "2001:4860:4860:0::8888": must be in canonical form ("2001:4860:4860::8888")'),  # S-162
        ("10.01.2.3", 'Invalid value: "10.01.2.3": must not have leading 0s'),
        ("::ffff:10.0.0.1", 'Invalid value: "::ffff:10.0.0.1": must not be an IPv4-mapped IPv6 address'),
        ("2001:DB8::1", 'Invalid value: "2001:DB8::1": must be in canonical form ("2001:db8::1")'),
        ("fe80::1%eth0", 'Invalid value: "fe80::1%eth0": must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)'),
    ],
)
def test_ipaddress_name_messages(name, message):
    assert V.validate_ip_address(IPAddress(name, REF)) == [("metadata.name", message)]


def test_s164_s165_parent_ref_fields():
    errs = V.validate_ip_address(IPAddress("192.168.1.1", ParentReference("custom.resource.com", "services", "", "foo$%&")))
    assert errs == [("spec.parentRef.name", "Invalid value: \"foo$%&\": may not contain '%'")]
    errs = V.validate_ip_address(IPAddress("192.168.1.1", ParentReference(".cust@m.resource.com", "", "bar$$$$$%@", "")))
    assert [p for p, _ in errs] == ["spec.parentRef.group", "spec.parentRef.resource", "spec.parentRef.name",
                                    "spec.parentRef.namespace"]


def test_s166_parent_ref_immutable():
    old = IPAddress("192.168.1.1", REF)
    assert V.validate_ip_address_update(IPAddress("192.168.1.1", REF, labels={"a": "b"}), old) == []
    errs = V.validate_ip_address_update(IPAddress("192.168.1.1", ParentReference("", "services", "bar", "other")), old)
    assert errs == [("spec.parentRef", 'Invalid value: networking.ParentReference{Group:"", Resource:"services", '
                                       'Namespace:"bar", Name:"other"}: field is immutable')]
    assert V.validate_ip_address_update(IPAddress("192.168.1.1", None), old) == [
        ("spec.parentRef", 'Invalid value: "null": field is immutable')]


def test_s167_special_addresses_are_valid_objects():
    ref = ParentReference("mygroup", "myresources", "bar", "foo")
    assert V.validate_ip_address(IPAddress("255.255.255.255", ref)) == []
    assert V.validate_ip_address(IPAddress("fe80::42:1dff:fe84:f9e2", ref)) == []


# ---- Services --------------------------------------------------------------------------------

def test_service_fields():
    assert V.validate_service(Service("web", ports=[])) == []
    errs = V.validate_service(Service("Web"))
    assert errs[0][0] == "metadata.name" and "a DNS-1035 label must consist of" in errs[0][1]
    assert "(e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')" in errs[0][1]
    errs = V.validate_service(Service("web", cluster_ips=["10.0.0.1", "10.0.0.2", "10.0.0.3"]))
    assert errs == [("spec.clusterIPs", "Too many: 3: must have at most 2 items")]
    errs = V.validate_service(Service("web", cluster_ips=["10.0.0.1", "10.0.0.2"]))
    assert errs == [("spec.clusterIPs[1]", 'Invalid value: []string{"10.0.0.1", "10.0.0.2"}: '
                                           "may specify no more than one IP for each IP family")]
    errs = V.validate_service(Service("web", ip_family_policy="Dual"))
    assert errs == [("spec.ipFamilyPolicy", 'Unsupported value: "Dual": supported values: '
                                            '"PreferDualStack", "RequireDualStack", "SingleStack"')]
    errs = V.validate_service(Service("web", ip_families=["IPv4", "IPv4"]))
    assert errs == [("spec.ipFamilies[1]", 'Duplicate value: "IPv4"')]
    errs = V.validate_service(Service("web", cluster_ips=["10.0.0.300"]))
    assert errs == [("spec.clusterIPs[0]", 'Invalid value: "10.0.0.300": must be a valid IP address, '
                                           "(e.g. 10.9.8.7 or 2001:db8::ffff)")]
    errs = V.validate_service(Service("web", type="ExternalName"))
    assert errs == [("spec.externalName", "Required value")]


def test_go_quoting():
    assert V.go_quote('a"b\\c\n') == '"a\\"b\\\\c\\n"'
    assert V.go_repr(["a", "b"]) == '[]string{"a", "b"}'
    assert V.go_repr(None) == '"null"' and V.go_repr(0) == "0"


def test_address_formatting_matches_rfc5952():
    import ipaddress
    import random

    rnd = random.Random(5)
    for _ in range(2000):
        groups = [rnd.choice([0, 0, 0, 1, 0xFFFF, rnd.randrange(65536)]) for _ in range(8)]
        value = 0
        for g in groups:
            value = (value << 16) | g
        if (value >> 32) == 0xFFFF:
            continue
        text = V.format_ipv6(value)
        assert text == ipaddress.IPv6Address(value).compressed
        parsed = V.parse_ip_sloppy(text)
        assert parsed is not None and parsed[1] == value
