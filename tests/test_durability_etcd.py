"""Killing one member of a three-member etcd cluster mid-run loses nothing acknowledged."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import urllib.request
from typing import Any, List, Optional, Set

import pytest

from fastcidr.store import Create, open_store
from tests.helpers import child_env, drain, read_acks
from tests.servers import EtcdMember, EtcdServer

pytestmark = pytest.mark.etcd

STORM = textwrap.dedent("""
    import sys
    from fastcidr.store import Create, open_store
    url, tag = sys.argv[1], sys.argv[2]
    store = open_store(url)
    i = 0
    while True:
        key = f"{tag}-{i}"
        store.commit([Create("ipaddresses", key, {"i": i}), Create("services", "default/" + key, {"ip": key})])
        sys.stdout.write(key + "\\n")
        sys.stdout.flush()
        i += 1
""")


def leader(server: EtcdServer) -> Optional[EtcdMember]:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    for member in server.members:
        if not member.running:
            continue
        try:
            req = urllib.request.Request(member.endpoint + "/v3/maintenance/status", data=b"{}")
            with opener.open(req, timeout=2) as r:
                status = json.loads(r.read())
        except OSError:
            continue
        if status.get("leader") == status.get("header", {}).get("member_id"):
            return member
    return None


@pytest.mark.slow
def test_killing_one_member_of_three_loses_nothing(etcd_cluster3: EtcdServer) -> None:
    url = etcd_cluster3.url("/storm")
    proc = subprocess.Popen([sys.executable, "-c", STORM, url, "w"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=child_env())
    acked: List[str] = []
    # a reader in this process follows the changes through its watch across the failures
    reader = open_store(url)
    seen: List[Any] = []
    since = reader.current_revision()

    def follow() -> None:
        nonlocal since
        changes, since = reader.changes_since(since)
        seen.extend(changes)

    try:
        read_acks(proc, acked, 60)
        follow()
        victim = leader(etcd_cluster3)
        assert victim is not None
        victim.kill()  # the leader dies: an election happens while the writer keeps going
        read_acks(proc, acked, 30)
        follow()
        read_acks(proc, acked, 30)
        # and the first endpoint (the one clients try first) too, after the dead one is back
        victim.start()
        victim.wait_healthy()
        first = etcd_cluster3.members[0]
        if first is not victim:
            first.kill()
        read_acks(proc, acked, 60)
        follow()
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        rest, err = drain(proc)
    acked.extend(rest.decode().split())
    assert proc.returncode == -signal.SIGKILL, err.decode()
    live = [m for m in etcd_cluster3.members if m.running]
    with open_store("etcd://" + ",".join(f"127.0.0.1:{m.client_port}" for m in live) + "/storm") as store:
        ips = {r.key for r in store.list("ipaddresses")[0]}
        services = {r.key for r in store.list("services")[0]}
    missing: Set[str] = set(acked) - ips
    assert not missing, f"acknowledged but lost: {sorted(missing)[:5]}"
    assert services == {"default/" + k for k in ips}  # every commit whole
    assert len(acked) == len(set(acked))
    # what the reader saw is a gap-free, duplicate-free prefix of the history
    follow()
    reader.close()
    created = [c.key for c in seen if c.kind == "ipaddresses"]
    assert len(created) == len(set(created)) and all(c.created for c in seen)
    assert set(created) == ips
    assert [c.revision for c in seen] == sorted(c.revision for c in seen)


def test_store_and_watch_survive_an_etcd_restart(tmp_path_factory: pytest.TempPathFactory) -> None:
    from tests.servers import _start_members

    server = _start_members(tmp_path_factory.mktemp("etcd-restart"), 1)
    member = server.members[0]
    try:
        store = open_store(server.url("/restart"))
        before = store.commit([Create("meta", "before", {"v": 1})])
        store.changes_since(0)  # the watch is running
        member.kill()
        member.start()
        member.wait_healthy()
        after = store.commit([Create("meta", "after", {"v": 2})])  # same handle, reconnects
        assert after > before
        changes, current = store.changes_since(before)
        assert current == after and [c.key for c in changes] == ["after"]
        with open_store(server.url("/restart")) as fresh:
            assert {r.key for r in fresh.list("meta")[0]} == {"before", "after"}
        store.close()
    finally:
        server.stop()
