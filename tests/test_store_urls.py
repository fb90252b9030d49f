"""``open_store``: what a ``store=`` argument (or ``FASTCIDR_STORE``) may be."""
from __future__ import annotations

from pathlib import Path

import pytest

from fastcidr.store import MemoryStore, open_store
from fastcidr.store.sqlite import SQLiteStore
from fastcidr.store.urls import DEFAULT_ETCD_PREFIX, parse_etcd_url


def test_memory() -> None:
    assert isinstance(open_store(None), MemoryStore)
    assert isinstance(open_store("memory:"), MemoryStore)
    assert open_store(None) is not open_store(None)


def test_store_objects_pass_through(tmp_path: Path) -> None:
    store = MemoryStore()
    assert open_store(store) is store
    with SQLiteStore(tmp_path / "a.db") as sqlite_store:
        assert open_store(sqlite_store) is sqlite_store


def test_sqlite_paths_and_urls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    cases = {
        "plain.db": tmp_path / "plain.db",
        str(tmp_path / "abs.db"): tmp_path / "abs.db",
        "sqlite:///rel/x.db": tmp_path / "rel" / "x.db",
        "sqlite:///" + str(tmp_path / "four.db"): tmp_path / "four.db",  # sqlite:////abs
        "sqlite:///with%20space.db": tmp_path / "with space.db",
    }
    (tmp_path / "rel").mkdir()
    for url, path in cases.items():
        store = open_store(url)
        try:
            assert isinstance(store, SQLiteStore), url
            assert Path(store.path) == path, url
            assert store.url == "sqlite:///" + str(path)
            assert store.synchronous == "NORMAL"
        finally:
            store.close()
        assert path.exists()
    with open_store(tmp_path / "pathlike.db") as store:
        assert isinstance(store, SQLiteStore)
    with open_store("sqlite:///full.db?synchronous=full") as store:
        assert isinstance(store, SQLiteStore) and store.synchronous == "FULL"
    # the URL a store reports opens the same file
    with open_store("sqlite:///same.db") as a, open_store(a.url) as b:
        assert isinstance(b, SQLiteStore) and b.path == a.path  # type: ignore[attr-defined]


@pytest.mark.parametrize("url", [
    "", "   ", "sqlite:", "sqlite://", "sqlite://relative.db", "sqlite:///",
    "sqlite:///x.db?journal=off", "postgres://db/x", "ftp://h/x", "redis:thing",
    "etcd://", "etcd:///prefix", "etcd://h:notaport/x", "etcd://h:0/x", "etcd://h:1,/x",
    "etcd://h:2379/x?colour=blue",
])
def test_bad_urls_raise_value_error(url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError):
        open_store(url)
    assert list(tmp_path.iterdir()) == []  # nothing was created


def test_not_a_url_at_all() -> None:
    with pytest.raises(TypeError):
        open_store(42)  # type: ignore[arg-type]


def test_parse_etcd_url() -> None:
    assert parse_etcd_url("etcd://127.0.0.1:2379/registry") == (["http://127.0.0.1:2379"], "/registry", {})
    assert parse_etcd_url("etcd://a:1,b:2,[::1]:3/x/y/") == (
        ["http://a:1", "http://b:2", "http://[::1]:3"], "/x/y", {})
    assert parse_etcd_url("etcd://host") == (["http://host:2379"], DEFAULT_ETCD_PREFIX, {})
    assert parse_etcd_url("etcd://host/") == (["http://host:2379"], DEFAULT_ETCD_PREFIX, {})
    assert parse_etcd_url("etcds://h:2379/p?ca_cert=/ca.pem&cert_cert=/c.pem&cert_key=/k.pem") == (
        ["https://h:2379"], "/p", {"ca_cert": "/ca.pem", "cert_cert": "/c.pem", "cert_key": "/k.pem"})
