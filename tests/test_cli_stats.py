"""``Cluster.stats()`` (issue 13 item 1, the Cluster part) against a brute force over the
IPAddress objects, on both backends, and the ``top servicecidr`` / ``describe`` figures built on it."""
from __future__ import annotations

import ipaddress
import random
import types
from pathlib import Path
from typing import Any, Dict, List

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fastcidr import cli
from fastcidr.errors import NotFoundError
from fastcidr.cli.top import percent


def _usable(cidr: str) -> int:
    net = ipaddress.ip_network(cidr)
    if net.version == 4:
        return max(net.num_addresses - 2, 0)
    return min(net.num_addresses - 1, (1 << 64) - 1)


def _brute(cluster: Any) -> Dict[str, Dict[str, Any]]:
    """Per ServiceCIDR: every IPAddress object on a usable address of one of its CIDRs (not the
    network or broadcast address of that CIDR, whichever CIDR it was allocated from) is used there."""
    ips = [ipaddress.ip_address(ip.name) for ip in cluster.list_ip_addresses()]
    out: Dict[str, Dict[str, Any]] = {}
    for sc in cluster.list_service_cidrs():
        per: Dict[str, Dict[str, Any]] = {}
        for cidr in sc.cidrs:
            net = ipaddress.ip_network(cidr)
            size = _usable(cidr)
            first = int(net.network_address)
            used = sum(1 for ip in ips if ip.version == net.version and first < int(ip) <= first + size)
            per[cidr] = {"size": size, "used": used, "free": size - used,
                         "utilisation": used / size if size else 0.0}
        size = sum(f["size"] for f in per.values())
        used = sum(f["used"] for f in per.values())
        out[sc.name] = {"cidrs": list(sc.cidrs), "size": size, "used": used, "free": size - used,
                        "utilisation": used / size if size else 0.0, "per_cidr": per}
    return out


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(seed=st.integers(0, 2**32 - 1), creates=st.integers(0, 40), deletes=st.integers(0, 20),
       extra=st.sampled_from([[], ["10.97.0.0/28"], ["10.96.0.0/29"], ["fd00::/120"],
                              ["10.98.0.0/30", "fd01::/124"], ["fd02::/48"]]))
def test_stats_match_a_brute_force(fc: Any, seed: int, creates: int, deletes: int, extra: List[str]) -> None:
    rng = random.Random(seed)
    with fc.Cluster("10.96.0.0/27", seed=seed) as cluster:
        if extra:
            cluster.create_service_cidr("extra", extra)
        names = []
        for i in range(creates):
            try:
                cluster.create_service(f"s{i}", ip_family_policy="PreferDualStack")
                names.append(f"s{i}")
            except Exception:  # a full range: the brute force counts what is there
                pass
        for name in rng.sample(names, min(deletes, len(names))):
            cluster.delete_service(name)
        assert cluster.stats() == _brute(cluster)
        assert cluster.stats("kubernetes") == _brute(cluster)["kubernetes"]


def test_stats_of_an_unknown_servicecidr_is_not_found(fc: Any) -> None:
    with fc.Cluster("10.96.0.0/28") as cluster:
        with pytest.raises(NotFoundError):
            cluster.stats("nope")
        before = cluster.stats()
        cluster.create_service("web")
        after = cluster.stats()
        assert after["kubernetes"]["used"] == before["kubernetes"]["used"] + 1


def test_percent_rounds_down_but_shows_any_use() -> None:
    assert [percent(x) for x in (0.0, 1e-12, 0.0714, 0.5, 0.999, 1.0)] == ["0%", "1%", "7%", "50%", "99%", "100%"]


def test_top_and_describe_show_the_figures(backend: types.ModuleType, tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    store = str(tmp_path / "s.db")

    def run(*args: str) -> Any:
        capsys.readouterr()
        status = cli.main(["--store", store, *args])
        out = capsys.readouterr()
        return status, out.out, out.err

    assert run("init", "--service-cluster-ip-range", "10.96.0.0/28")[0] == 0
    assert run("create", "service", "clusterip", "web", "--tcp", "80")[0] == 0
    assert run("create", "servicecidr", "extra", "--cidrs", "10.97.0.0/29,fd00::/124")[0] == 0
    status, out, err = run("top", "servicecidr")
    assert (status, err) == (0, "")
    assert out.splitlines() == [
        "NAME         CIDRS                     USED   FREE   USED%",
        "extra        10.97.0.0/29,fd00::/124   0      21     0%",
        "kubernetes   10.96.0.0/28              2      12     14%",
    ]
    assert run("top", "scidr", "kubernetes", "--no-headers")[1] == "kubernetes   10.96.0.0/28   2     12    14%\n"
    assert run("top", "pods")[0] == 1
    status, out, _ = run("describe", "servicecidr", "extra")
    assert status == 0
    assert "Addresses:\n  CIDR          Used  Free  Size  Used%\n  ----          ----  ----  ----  -----\n" \
           "  10.97.0.0/29  0     6     6     0%\n  fd00::/124    0     15    15    0%\n" in out
