"""Store URLs: ``open_store(url)`` turns what a user passes as ``store=`` into a :class:`Store`.

=====================================  ==========================================================
``None``, ``"memory:"``                :class:`MemoryStore` (nothing survives the process)
``"state.db"``, a ``PathLike``         :class:`SQLiteStore` on that file
``"sqlite:///relative/state.db"``      SQLite, relative path (SQLAlchemy's convention)
``"sqlite:////abs/state.db"``          SQLite, absolute path; ``?synchronous=FULL`` for power-loss safety,
                                       ``?mode=ro`` to open it read-only (docs/stores.md)
``"etcd://h:2379[,h2:2379]/prefix"``   :class:`EtcdStore` over those endpoints (http), keys under ``/prefix``
``"etcds://h:2379/prefix?ca_cert=..."`` etcd over TLS; ``cert_cert``/``cert_key`` for client certs;
                                       also ``timeout=`` (s) and ``max_txn_ops=`` (the server's)
a :class:`Store` object                used as it is
=====================================  ==========================================================

The CLI passes ``FASTCIDR_STORE`` (or ``--store``) through the same function.

>>> open_store("memory:").url
'memory:'
>>> parse_etcd_url("etcd://10.0.0.1:2379,[::1]:2379/k8s")
(['http://10.0.0.1:2379', 'http://[::1]:2379'], '/k8s', {})
"""
from __future__ import annotations

import os
from typing import Any, Dict, List, Tuple, Union
from urllib.parse import parse_qsl, unquote

from ..errors import StoreNotFoundError
from .base import Store
from .memory import MemoryStore

__all__ = ["open_store", "parse_etcd_url", "DEFAULT_ETCD_PREFIX"]

DEFAULT_ETCD_PREFIX = "/fastcidr"
_HELP = (
    "use a file path, sqlite:///PATH, etcd://HOST:PORT[,HOST:PORT]/PREFIX, etcds://... or memory:"
)


def _query(text: str) -> Dict[str, str]:
    return dict(parse_qsl(text, keep_blank_values=True)) if text else {}


def parse_etcd_url(url: str) -> Tuple[List[str], str, Dict[str, str]]:
    """``etcd[s]://h:p[,h:p]/prefix[?opts]`` → (endpoint URLs, prefix, options)."""
    scheme, _, rest = url.partition("://")
    if scheme not in ("etcd", "etcds") or not rest:
        raise ValueError(f"not an etcd store URL: {url!r}; {_HELP}")
    rest, _, query = rest.partition("?")
    hosts, slash, prefix = rest.partition("/")
    prefix = "/" + unquote(prefix).strip("/") if slash and prefix.strip("/") else DEFAULT_ETCD_PREFIX
    protocol = "https" if scheme == "etcds" else "http"
    endpoints = []
    for host in hosts.split(","):
        host = host.strip()
        if not host:
            raise ValueError(f"etcd store URL without a host: {url!r}; {_HELP}")
        if host.startswith("["):
            end = host.find("]")
            name, port = host[: end + 1], host[end + 1:].lstrip(":")
        else:
            name, _, port = host.rpartition(":") if ":" in host else (host, "", "")
        port = port or "2379"
        if not name or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"bad etcd endpoint {host!r} in store URL {url!r}; {_HELP}")
        endpoints.append(f"{protocol}://{name}:{int(port)}")
    return endpoints, prefix, _query(query)


def _sqlite_path(url: str) -> Tuple[str, Dict[str, str]]:
    rest = url[len("sqlite://"):]
    rest, _, query = rest.partition("?")
    if not rest.startswith("/") or len(rest) < 2:
        raise ValueError(f"bad SQLite store URL {url!r}: sqlite:///relative or sqlite:////absolute")
    # sqlite:///x → "x" (relative); sqlite:////x → "/x" (absolute)
    return unquote(rest[1:]), _query(query)


def _not_found(path: str, shown: str) -> StoreNotFoundError:
    """``.path`` is where the file was looked for; the message names it as the user typed it
    (error texts reach clients that have no business knowing this machine's directories)."""
    exc = StoreNotFoundError(os.path.abspath(path))
    exc.args = (f"no fastcidr store at {shown}",)
    return exc


def open_store(store: Union[None, str, "os.PathLike[str]", Store] = None, *, create: bool = True) -> Store:
    """The store for a ``store=`` argument: None/``memory:`` → memory, a path or ``sqlite:`` URL →
    SQLite, ``etcd://``/``etcds://`` → etcd, a :class:`Store` as it is. ``ValueError`` for a URL
    that cannot be understood; :class:`StoreError` when the store cannot be opened
    (:class:`~fastcidr.errors.MissingDependencyError` naming the extra to install when a package
    it needs is missing). ``create=False`` (readers): a SQLite file that does not exist raises
    :class:`~fastcidr.errors.StoreNotFoundError` and nothing is created."""
    if store is None:
        return MemoryStore()
    if isinstance(store, Store):
        return store
    if isinstance(store, os.PathLike):
        store = os.fspath(store)
    if not isinstance(store, str):
        raise TypeError(f"store must be a URL, a path or a Store object, not {type(store).__name__}")
    text = store.strip()
    if not text:
        raise ValueError(f"empty store URL; {_HELP}")
    if text in ("memory:", "memory://", "memory"):
        return MemoryStore()
    if text.startswith("sqlite:"):
        from .sqlite import SQLiteStore

        if not text.startswith("sqlite://"):
            raise ValueError(f"bad SQLite store URL {text!r}: sqlite:///relative or sqlite:////absolute")
        path, options = _sqlite_path(text)
        if not create and not os.path.exists(path):
            raise _not_found(path, text)
        kwargs: Dict[str, Any] = {"shown": text}
        if "synchronous" in options:
            kwargs["synchronous"] = options.pop("synchronous")
        if "mode" in options:
            mode = options.pop("mode")
            if mode not in ("ro", "rw", "rwc"):
                raise ValueError(f"bad SQLite store option mode={mode!r} in {text!r}: use ro (read-only) or rw")
            kwargs["read_only"] = True if mode == "ro" else None
        if options:
            raise ValueError(f"unknown SQLite store option(s) {sorted(options)} in {text!r}")
        return SQLiteStore(path, **kwargs)
    if text.startswith(("etcd://", "etcds://")):
        from .etcd import EtcdStore

        endpoints, prefix, options = parse_etcd_url(text)
        known = {"ca_cert", "cert_cert", "cert_key", "timeout", "max_txn_ops"}
        unknown = set(options) - known
        if unknown:
            raise ValueError(f"unknown etcd store option(s) {sorted(unknown)} in {text!r}")
        etcd_kwargs: Dict[str, Any] = {
            k: v for k, v in options.items() if k not in ("timeout", "max_txn_ops")
        }
        try:
            if "timeout" in options:
                etcd_kwargs["timeout"] = float(options["timeout"])
            if "max_txn_ops" in options:
                etcd_kwargs["max_txn_ops"] = int(options["max_txn_ops"])
        except ValueError:
            raise ValueError(f"bad number in etcd store URL {text!r}") from None
        return EtcdStore(endpoints, prefix, **etcd_kwargs)
    scheme = text.partition(":")[0]
    if "://" in text or (scheme.isalpha() and len(scheme) > 1 and text.startswith(scheme + ":") and not os.path.exists(text)):
        raise ValueError(f"unsupported store URL {text!r}; {_HELP}")
    from .sqlite import SQLiteStore

    if not create and not os.path.exists(store):
        raise _not_found(store, store)
    return SQLiteStore(store)
