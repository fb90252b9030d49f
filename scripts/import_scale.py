"""Measure ``fastcidr import`` of a large ``kubectl get servicecidr,ipaddress,services -A -o json`` dump.

Generates a dump of N Services (each with its IPAddress, on a /12, as kubectl prints it: a ``List``,
4-space indented), then runs ``fastcidr --store <fresh SQLite file> import -f dump.json`` in a
subprocess under ``/usr/bin/time -v`` and prints wall time and peak RSS of that process.

    .venv/bin/python scripts/import_scale.py                 # 100,000 Services, SQLite
    .venv/bin/python scripts/import_scale.py -n 20000 --store memory://
    .venv/bin/python scripts/import_scale.py --profile        # cProfile top 25 instead of /usr/bin/time

The target (docs/observability.md): 100,000 Services in <= 10 s and <= 400 MB peak RSS.
"""
from __future__ import annotations

import argparse
import ipaddress
import json
import os
import re
import subprocess
import sys
import tempfile
from typing import Any, Dict, List

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.join(os.path.dirname(HERE), "src")
RANGE = "10.96.0.0/12"
CREATED = "2026-01-01T00:00:00Z"


def _uid(i: int) -> str:
    return f"00000000-0000-4000-8000-{i:012x}"


def dump(n: int) -> Dict[str, Any]:
    """A kubectl List of the ``kubernetes`` ServiceCIDR, n + 1 IPAddresses and n + 1 Services."""
    net = ipaddress.ip_network(RANGE)
    base = int(net.network_address)
    size = net.num_addresses
    items: List[Dict[str, Any]] = [{
        "apiVersion": "networking.k8s.io/v1", "kind": "ServiceCIDR",
        "metadata": {"name": "kubernetes", "uid": _uid(0), "resourceVersion": "2", "creationTimestamp": CREATED,
                     "finalizers": ["networking.k8s.io/service-cidr-finalizer"]},
        "spec": {"cidrs": [RANGE]},
        "status": {"conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": CREATED,
                                   "reason": "", "message": "Kubernetes Service CIDR is ready"}]},
    }]
    services: List[Dict[str, Any]] = []
    # a spread of addresses (a multiplicative walk over the range, no repeats), .1 for kubernetes
    step = 2654435761 % size | 1
    for i in range(n + 1):
        if i == 0:
            ns, name, offset = "default", "kubernetes", 1
        else:
            ns, name = f"ns-{i % 50}", f"svc-{i}"
            offset = 2 + (i * step) % (size - 3)
        ip = str(ipaddress.IPv4Address(base + offset))
        items.append({
            "apiVersion": "networking.k8s.io/v1", "kind": "IPAddress",
            "metadata": {"name": ip, "uid": _uid(2 * i + 1), "resourceVersion": str(10 + 2 * i),
                         "creationTimestamp": CREATED,
                         "labels": {"ipaddress.kubernetes.io/ip-family": "IPv4",
                                    "ipaddress.kubernetes.io/managed-by": "ipallocator.k8s.io"}},
            "spec": {"parentRef": {"group": "", "resource": "services", "namespace": ns, "name": name}},
        })
        services.append({
            "apiVersion": "v1", "kind": "Service",
            "metadata": {"name": name, "namespace": ns, "uid": _uid(2 * i + 2), "resourceVersion": str(11 + 2 * i),
                         "creationTimestamp": CREATED, "labels": {"app": name}},
            "spec": {"ports": [{"name": "http", "protocol": "TCP", "port": 80, "targetPort": 8080}],
                     "selector": {"app": name}, "clusterIP": ip, "clusterIPs": [ip], "type": "ClusterIP",
                     "sessionAffinity": "None", "ipFamilies": ["IPv4"], "ipFamilyPolicy": "SingleStack",
                     "internalTrafficPolicy": "Cluster"},
            "status": {"loadBalancer": {}},
        })
    items.extend(services)
    return {"apiVersion": "v1", "kind": "List", "items": items, "metadata": {"resourceVersion": ""}}


def main(argv: Any = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("-n", "--services", type=int, default=100_000)
    parser.add_argument("--store", default=None, help="store URL (default: a fresh SQLite file)")
    parser.add_argument("--profile", action="store_true", help="run under cProfile and print the top 25")
    parser.add_argument("--keep", action="store_true", help="keep the dump and store (prints their paths)")
    args = parser.parse_args(argv)
    work = tempfile.mkdtemp(prefix="fastcidr-import-")
    dump_path = os.path.join(work, "dump.json")
    with open(dump_path, "w", encoding="utf-8") as handle:
        json.dump(dump(args.services), handle, indent=4)
    store = args.store or os.path.join(work, "fastcidr.db")
    env = dict(os.environ, PYTHONPATH=SRC + os.pathsep + os.environ.get("PYTHONPATH", ""))
    fastcidr = [sys.executable]
    if args.profile:
        fastcidr += ["-m", "cProfile", "-s", "cumulative"]
        fastcidr += [os.path.join(SRC, "fastcidr", "__main__.py")]
    else:
        fastcidr += ["-m", "fastcidr"]
    command = fastcidr + ["--store", store, "import", "-f", dump_path]
    if not args.profile:
        command = ["/usr/bin/time", "-v"] + command
    size_mb = os.path.getsize(dump_path) / 1e6
    print(f"dump: {args.services:,} Services ({size_mb:.1f} MB) -> {store}", flush=True)
    print("$ " + " ".join(command), flush=True)
    done = subprocess.run(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    print(done.stdout.strip()[:2000] if args.profile else done.stdout.strip())
    if args.profile:
        print("\n".join(done.stdout.splitlines()[:60]))
    else:
        wall = re.search(r"Elapsed \(wall clock\) time.*: (\S+)", done.stderr)
        rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", done.stderr)
        cpu_user = re.search(r"User time \(seconds\): (\S+)", done.stderr)
        if wall and rss:
            print(f"wall {wall.group(1)}  user {cpu_user.group(1) if cpu_user else '?'} s  "
                  f"peak RSS {int(rss.group(1)) / 1024:.0f} MB")
        else:
            print(done.stderr[-3000:])
    if not args.keep:
        for name in os.listdir(work):
            os.remove(os.path.join(work, name))
        os.rmdir(work)
    else:
        print(f"kept {work}")
    return done.returncode


if __name__ == "__main__":
    raise SystemExit(main())
