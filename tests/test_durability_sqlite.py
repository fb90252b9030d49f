"""``kill -9`` of a process in the middle of a write storm on SQLite loses nothing it acknowledged."""
from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import List, Set

import pytest

from fastcidr.store.sqlite import SQLiteStore
from tests.helpers import child_env, drain, read_acks


STORM = textwrap.dedent("""
    import sys
    from fastcidr.store import Create
    from fastcidr.store.sqlite import SQLiteStore
    path, tag, batch, sync = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    store = SQLiteStore(path, synchronous=sync)
    out = sys.stdout
    i = 0
    while True:
        keys = [f"{tag}-{i + j}" for j in range(batch)]
        ops = [Create("ipaddresses", k, {"parentRef": {"name": k}}) for k in keys]
        ops += [Create("services", "default/" + k, {"clusterIP": k}) for k in keys]
        store.commit(ops)
        # acknowledged: the commit returned
        out.write(" ".join(keys) + "\\n")
        out.flush()
        i += batch
""")


def storm_and_kill(path: Path, tag: str, batch: int, sync: str, acks_wanted: int) -> List[str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", STORM, str(path), tag, str(batch), sync],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=child_env(),
    )
    acked: List[str] = []
    try:
        read_acks(proc, acked, acks_wanted, timeout=120)
    finally:
        proc.kill()  # SIGKILL
        rest, err = drain(proc)
    acked.extend(rest.decode().split())
    assert proc.returncode == -signal.SIGKILL, err.decode()
    return acked


@pytest.mark.parametrize("sync,batch", [("NORMAL", 1), ("NORMAL", 40), ("FULL", 3)])
def test_kill_9_loses_nothing_acknowledged(tmp_path: Path, sync: str, batch: int) -> None:
    path = tmp_path / "storm.db"
    SQLiteStore(path).close()
    acked: Set[str] = set()
    for round_ in range(3):
        acked.update(storm_and_kill(path, f"r{round_}", batch, sync, acks_wanted=150))
        with SQLiteStore(path) as store:
            ips = {r.key: r for r in store.list("ipaddresses")[0]}
            services = {r.key for r in store.list("services")[0]}
            missing = acked - set(ips)
            assert not missing, f"acknowledged but lost: {sorted(missing)[:5]}"
            # every commit is whole: each stored IP has its Service from the same transaction
            assert services == {"default/" + k for k in ips}
            assert store.current_revision() == max(r.revision for r in ips.values())
