"""EtcdStore against the reference MemoryStore: the same random commits on both give the same
outcomes (etcd's revisions are global, so they are compared through the mapping of commits)."""
from __future__ import annotations

import itertools
from typing import Any, Dict, List

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fastcidr.store import ABSENT, Create, Delete, MemoryStore, Put, Require, TxnConflict
from fastcidr.store.base import Op
from fastcidr.store.etcd import EtcdStore
from tests.servers import EtcdServer

pytestmark = pytest.mark.etcd
KINDS = ["servicecidrs", "ipaddresses", "meta"]
KEYS = ["a", "b", "ns/c"]
_prefixes = itertools.count()
NEVER = 10**12  # a revision no key has, in either store

OP = st.tuples(
    st.sampled_from(["create", "put", "delete", "require"]),
    st.sampled_from(["none", "absent", "current", "stale"]),
    st.integers(0, 5),
)
COMMIT = st.lists(st.tuples(st.sampled_from([(k, key) for k in KINDS for key in KEYS]), OP),
                  min_size=1, max_size=4, unique_by=lambda item: item[0])


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(commits=st.lists(COMMIT, min_size=1, max_size=12))
def test_etcd_agrees_with_memory(etcd_server: EtcdServer, commits: List[Any]) -> None:
    memory = MemoryStore()
    etcd = EtcdStore(etcd_server.endpoints, f"/diff-{next(_prefixes)}")
    to_etcd: Dict[int, int] = {}
    try:
        for commit in commits:
            mem_ops: List[Op] = []
            etcd_ops: List[Op] = []
            for (kind, key), (what, expect_kind, n) in commit:
                rec = memory.get(kind, key)
                if expect_kind == "none":
                    m_exp: Any = None
                elif expect_kind == "absent":
                    m_exp = ABSENT
                elif expect_kind == "current" and rec is not None:
                    m_exp = rec.revision
                else:
                    m_exp = n if n in to_etcd else NEVER
                e_exp = to_etcd.get(m_exp, m_exp) if isinstance(m_exp, int) else m_exp
                if what == "create":
                    mem_ops.append(Create(kind, key, {"n": n}))
                    etcd_ops.append(Create(kind, key, {"n": n}))
                elif what == "put":
                    mem_ops.append(Put(kind, key, {"n": n}, expect=m_exp))
                    etcd_ops.append(Put(kind, key, {"n": n}, expect=e_exp))
                elif what == "delete":
                    mem_ops.append(Delete(kind, key, expect=None if m_exp is ABSENT else m_exp))
                    etcd_ops.append(Delete(kind, key, expect=None if e_exp is ABSENT else e_exp))
                else:
                    mem_ops.append(Require(kind, key, ABSENT if m_exp is None else m_exp))
                    etcd_ops.append(Require(kind, key, ABSENT if e_exp is None else e_exp))
            outcomes: list = []
            for store, ops in ((memory, mem_ops), (etcd, etcd_ops)):
                try:
                    outcomes.append(("ok", store.commit(ops)))
                except TxnConflict as conflict:
                    outcomes.append(("conflict", conflict.index, conflict.actual_revision))
            m, e = outcomes
            assert m[0] == e[0], (mem_ops, outcomes)
            if m[0] == "ok":
                if any(not isinstance(op, Require) for op in mem_ops):
                    to_etcd[m[1]] = e[1]
            else:
                assert m[1] == e[1], (mem_ops, outcomes)
                assert (m[2] is None and e[2] is None) or to_etcd.get(m[2]) == e[2], (mem_ops, outcomes)
        for kind in KINDS:
            mem = sorted((r.key, r.value, to_etcd[r.revision], to_etcd[r.create_revision])
                         for r in memory.list(kind)[0])
            got = sorted((r.key, r.value, r.revision, r.create_revision) for r in etcd.list(kind)[0])
            assert mem == got
        mem_changes = [(c.type, c.kind, c.key, c.value, to_etcd[c.revision], c.created)
                       for c in memory.changes_since(0)[0]]
        etcd_changes = [(c.type, c.kind, c.key, c.value, c.revision, c.created)
                        for c in etcd.changes_since(0)[0]]
        # within one revision the order of keys may differ
        assert sorted(mem_changes, key=lambda c: (c[4], c[1], c[2])) == \
            sorted(etcd_changes, key=lambda c: (c[4], c[1], c[2]))
    finally:
        etcd.close()
