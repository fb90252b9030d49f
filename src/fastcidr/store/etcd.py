"""The etcd store: one shared truth for processes on many machines (etcd v3 through its JSON gateway,
with the ``etcd3gw`` client).

Keys are ``<prefix>/<kind>/<key>`` under a prefix (default ``/fastcidr``)::

    <prefix>/<kind>/<key>
    <prefix>/meta/<setting>
    <prefix>/revision          written by every commit (its value names the commit)

Revisions are etcd's mod revisions. :meth:`EtcdStore.commit` is one etcd ``Txn``: conditions become
compares (``mod_revision == n``, or ``create_revision == 0`` for ``ABSENT``), writes the success
branch, and the failure branch reads the compared keys so that :class:`TxnConflict` can name the
first failed condition without another round trip. etcd refuses transactions of more than 128
operations (``--max-txn-ops``); one is the ``revision`` key, so a commit holds at most
:attr:`EtcdStore.max_ops` (127) operations and larger batches raise ``ValueError``.

The ``revision`` key makes the prefix's own history cheap to follow: :meth:`current_revision` is its
mod revision (writes by others under other prefixes do not count), and :meth:`changes_since` replays
etcd's history with a watch from ``revision + 1`` until it has seen that key's latest write;
:class:`Compacted` when etcd has compacted that far.

Several endpoints give failover: a request that cannot reach a member, or that the member cannot
serve (no leader, timeout), goes to the next one, until ``timeout`` seconds have passed; then
:class:`StoreError` names every endpoint tried. A write whose outcome is unknown (the connection
broke, or no answer came, after sending it) is retried; when a retry's conditions fail, or no
answer ever comes, etcd is read back: every commit writes its own id to the ``revision`` key, so
its history says whether (and at which revision) the write was applied. The write is then
reported as applied (its revision is returned), as not applied (:class:`StoreError` saying so),
or, when etcd cannot be read back either, as :class:`UnknownOutcomeError`, never as a plain
failure (docs/stores.md). ``ca_cert``, ``cert_cert`` and ``cert_key`` are passed to the HTTPS client (use
``https://`` endpoints or an ``etcds://`` URL). Connections to loopback addresses ignore proxy
environment variables.
"""
from __future__ import annotations

import base64
import bisect
import json
import os
import threading
import time
import uuid
import weakref
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple, Union
from urllib.parse import urlsplit

from ..errors import MissingDependencyError, StoreError
from .base import (
    ABSENT,
    Change,
    Compacted,
    Create,
    Delete,
    Op,
    Put,
    Record,
    Require,
    Store,
    TxnConflict,
    UnknownOutcomeError,
    UnreadableRecordError,
    check_expect,
    decode_value,
)

__all__ = ["EtcdStore", "MAX_TXN_OPS"]

#: etcd's default ``--max-txn-ops``.
MAX_TXN_OPS = 128
_PAGE = 5000
_LOOPBACK = ("127.", "localhost", "::1", "[::1]")

_dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode("ascii")


def _unb64(text: str) -> str:
    return base64.b64decode(text).decode()


def _range_end(prefix: str) -> str:
    """The key just past every key that starts with ``prefix`` (prefixes here are ASCII)."""
    return prefix[:-1] + chr(ord(prefix[-1]) + 1)


class _Unavailable(Exception):
    """This endpoint could not serve the request; ``sent``: the request may have been applied."""

    def __init__(self, message: str, sent: bool) -> None:
        super().__init__(message)
        self.sent = sent


_WORDS = (
    ("refused", "connection refused"),
    ("reset", "connection reset"),
    ("Remote end closed", "connection closed before an answer"),
    ("aborted", "connection closed before an answer"),
    ("Name or s", "host name not found"),  # getaddrinfo's EAI_NONAME text
    ("nodename nor servname", "host name not found"),
    ("CERTIFICATE_VERIFY_FAILED", "the server's certificate was not verified"),
    ("certificate", "certificate refused"),
    ("Failed to establish", "cannot connect"),
)


def _in_words(error: BaseException) -> str:
    """What went wrong with a request, in words: the HTTP client's own text is a chain of
    Python exception reprs that tells a user nothing they can act on."""
    text = str(error)
    for needle, words in _WORDS:
        if needle in text:
            return words
    return "the connection failed"


def _normalise_endpoint(endpoint: str, tls: bool) -> str:
    endpoint = endpoint.strip().rstrip("/")
    if "://" not in endpoint:
        endpoint = ("https://" if tls else "http://") + endpoint
    parts = urlsplit(endpoint)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"bad etcd endpoint {endpoint!r}: use http(s)://host:port")
    if parts.port is None:
        endpoint += ":2379"
    return endpoint


_live_stores: "weakref.WeakSet[EtcdStore]" = weakref.WeakSet()
_fork_orphans: List[Any] = []  # what a forked child inherited and must neither use nor close


def _reset_after_fork() -> None:
    for store in list(_live_stores):
        store._after_fork_in_child()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_after_fork)



def _client_modules() -> Tuple[Any, Any]:
    """``etcd3gw`` and ``requests``, or one clear :class:`MissingDependencyError` naming the extra."""
    try:
        import etcd3gw
        import requests
    except ImportError as exc:
        missing = getattr(exc, "name", None) or "etcd3gw"
        raise MissingDependencyError(
            f"the etcd store needs the {missing!r} package: pip install 'fastcidr[etcd]'") from None
    return etcd3gw, requests

class EtcdStore(Store):
    """A store in etcd v3 under ``prefix``; see the module docstring.

    ``endpoints``: ``"http://127.0.0.1:2379"``, ``"host:port"`` or a list of them (failover).
    ``timeout``: seconds a request may take, and how long failover keeps retrying.
    ``max_txn_ops``: the server's ``--max-txn-ops`` (etcd's default 128), if it was raised.
    """

    shared = True
    #: the most operations one :meth:`commit` may hold (etcd's limit, minus the revision key).
    max_ops = MAX_TXN_OPS - 1

    def __init__(
        self,
        endpoints: Union[str, Sequence[str]],
        prefix: str = "/fastcidr",
        *,
        ca_cert: Optional[str] = None,
        cert_cert: Optional[str] = None,
        cert_key: Optional[str] = None,
        timeout: float = 10.0,
        max_txn_ops: int = MAX_TXN_OPS,
    ) -> None:
        etcd3gw, requests = _client_modules()
        if isinstance(endpoints, str):
            endpoints = [e for e in endpoints.split(",") if e.strip()]
        if not endpoints:
            raise ValueError("EtcdStore needs at least one endpoint")
        if (cert_cert is None) != (cert_key is None):
            raise ValueError("cert_cert and cert_key go together (a client certificate and its key)")
        tls = ca_cert is not None or cert_cert is not None
        self.endpoints = [_normalise_endpoint(e, tls) for e in endpoints]
        prefix = "/" + prefix.strip("/")
        if prefix == "/":
            raise ValueError("the etcd prefix must not be empty")
        self.prefix = prefix
        self.timeout = float(timeout)
        if max_txn_ops < 2:
            raise ValueError(f"max_txn_ops must be at least 2, got {max_txn_ops}")
        # the server's --max-txn-ops (128 by default); one operation is the revision key
        self.max_ops = int(max_txn_ops) - 1
        hosts = ",".join(urlsplit(e).netloc for e in self.endpoints)
        self.url = f"{'etcds' if self.endpoints[0].startswith('https') else 'etcd'}://{hosts}{prefix}"
        self._requests = requests
        self._tls = (ca_cert, cert_cert, cert_key)
        self._clients = []
        for endpoint in self.endpoints:
            parts = urlsplit(endpoint)
            self._clients.append(
                etcd3gw.Etcd3Client(
                    host=parts.hostname or "", port=parts.port or 2379, protocol=parts.scheme,
                    timeout=self.timeout, api_path="/v3/", session=self._session(endpoint),
                )
            )
        self._preferred = 0  # the endpoint that answered last
        self._lock = threading.Lock()
        self._closed = False
        self._writer = uuid.uuid4().hex
        self._serial = 0
        self._revision_key = f"{prefix}/revision"
        # The background watch keeps a local log of this prefix's changes (from the revision the
        # store was opened at), so that catching up costs one read, not a replay of etcd history.
        self._watch_cond = threading.Condition(threading.Lock())
        self._watch_thread: Optional[threading.Thread] = None
        self._watch_response: Any = None
        self._watch_idle = 5.0  # reconnect an idle stream (also bounds how long close() waits)
        self._watch_wait = 2.0  # how long a reader waits for the watch before replaying history
        self._log: List[Change] = []
        self._log_revs: List[int] = []
        self._log_limit = 100_000
        # Fail early, naming the endpoints, when none answers.
        last_commit, _, opened_at = self._revision_kv()
        # Every commit writes the revision key, so nothing changed under the prefix between its
        # last write and now: the local log is complete from there (from 0 for a new prefix).
        self._log_floor = last_commit
        self._watched_through = opened_at
        self._ensure_watching()

        _live_stores.add(self)

    def _session(self, endpoint: str) -> Any:
        session = self._requests.Session()
        # Loopback traffic must never go through a proxy from the environment.
        session.trust_env = not (urlsplit(endpoint).hostname or "").startswith(_LOOPBACK)
        ca_cert, cert_cert, cert_key = self._tls
        if ca_cert is not None:
            session.verify = ca_cert
        if cert_cert is not None and cert_key is not None:
            session.cert = (cert_cert, cert_key)
        return session

    def _after_fork_in_child(self) -> None:
        """A forked child must not share the parent's connections, locks or watch: start afresh
        (the inherited sessions are dropped unclosed, so the parent's connections stay intact)."""
        _fork_orphans.extend(client.session for client in self._clients)
        for endpoint, client in zip(self.endpoints, self._clients):
            client.session = self._session(endpoint)
        self._lock = threading.Lock()
        self._watch_cond = threading.Condition(threading.Lock())
        self._watch_thread = None
        self._watch_response = None
        self._log = []
        self._log_revs = []
        self._log_floor = self._watched_through
        self._writer = uuid.uuid4().hex
        self._serial = 0

    def __repr__(self) -> str:
        return f"EtcdStore({self.endpoints!r}, {self.prefix!r})"

    # -- plumbing -------------------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise StoreError(f"store {self.url} is closed")

    def _key(self, kind: str, key: str) -> str:
        if not kind or "/" in kind:
            raise ValueError(f"bad store kind {kind!r}")
        return f"{self.prefix}/{kind}/{key}"

    def _split(self, full_key: str) -> Optional[Tuple[str, str]]:
        rest = full_key[len(self.prefix) + 1:]
        kind, slash, key = rest.partition("/")
        return (kind, key) if slash else None

    def _post_once(self, index: int, path: str, payload: Dict[str, Any], stream: bool = False,
                   read_timeout: Optional[float] = None) -> Any:
        client = self._clients[index]
        endpoint = self.endpoints[index]
        requests = self._requests
        timeout: Any = self.timeout if read_timeout is None else (self.timeout, read_timeout)
        try:
            response = client.session.post(
                client.get_url(path), data=_dumps(payload), timeout=timeout, stream=stream
            )
        except requests.exceptions.ConnectTimeout:
            raise _Unavailable(f"{endpoint}: connect timeout", False) from None
        except requests.exceptions.SSLError as e:
            raise StoreError(f"etcd {endpoint}: TLS error: {_in_words(e)}") from None
        except requests.exceptions.ConnectionError as e:
            refused = "refused" in str(e) or "Failed to establish" in str(e)
            raise _Unavailable(f"{endpoint}: {_in_words(e)}", not refused) from None
        except requests.exceptions.Timeout:
            raise _Unavailable(f"{endpoint}: no answer within {self.timeout}s", True) from None
        except requests.exceptions.RequestException as e:
            raise _Unavailable(f"{endpoint}: {_in_words(e)}", True) from None
        if stream:
            if response.status_code != 200:
                text = response.text
                response.close()
                self._raise_http(endpoint, response.status_code, text)
            return response
        if response.status_code != 200:
            self._raise_http(endpoint, response.status_code, response.text)
        try:
            return response.json()
        except ValueError:
            raise _Unavailable(f"{endpoint}: not an etcd answer: {response.text[:100]!r}", True) from None

    def _raise_http(self, endpoint: str, status: int, text: str) -> None:
        try:
            message = str(json.loads(text).get("error") or json.loads(text).get("message") or text)
        except (ValueError, AttributeError):
            message = text[:200]
        if "compacted" in message:
            raise Compacted(f"store {self.url}: {message}")
        if "too many operations" in message:
            raise ValueError(f"etcd {endpoint}: {message} (a commit holds at most {self.max_ops})")
        if status in (500, 502, 503, 504) or any(
            word in message for word in ("no leader", "timed out", "leader changed", "not capable",
                                          "unhealthy", "stopped", "Unavailable", "transport")
        ):
            raise _Unavailable(f"{endpoint}: {message}", True)
        raise StoreError(f"etcd {endpoint}: HTTP {status}: {message}")

    def _post(self, path: str, payload: Dict[str, Any], stream: bool = False) -> Any:
        """POST with failover; :class:`StoreError` naming the endpoints when none answers."""
        return self._with_failover(lambda i: self._post_once(i, path, payload, stream))[0]

    def _with_failover(self, attempt: Any) -> Tuple[Any, bool]:
        """Run ``attempt(endpoint_index)`` on the preferred endpoint, then the others, in rounds,
        until one succeeds or ``timeout`` passes. Returns (result, whether an earlier attempt may
        have been applied)."""
        self._check_open()
        started = time.monotonic()
        deadline = started + self.timeout
        failures: Dict[str, str] = {}
        maybe_applied = False
        delay = 0.05
        while True:
            refused_everywhere = True  # no member is even listening: give up sooner
            for step in range(len(self._clients)):
                index = (self._preferred + step) % len(self._clients)
                try:
                    result = attempt(index)
                except _Unavailable as e:
                    failures[self.endpoints[index]] = str(e)
                    maybe_applied = maybe_applied or e.sent
                    refused_everywhere = refused_everywhere and not e.sent
                    continue
                self._preferred = index
                return result, maybe_applied
            now = time.monotonic()
            if now + delay > deadline or (refused_everywhere and now - started > min(1.0, self.timeout / 2)):
                gave_up = StoreError(
                    f"etcd unreachable at {', '.join(self.endpoints)}: "
                    + "; ".join(failures.values())
                )
                gave_up.maybe_applied = maybe_applied  # type: ignore[attr-defined]
                raise gave_up
            time.sleep(delay)
            delay = min(delay * 2, 0.5)
            self._check_open()

    def _range(self, key: str, range_end: Optional[str] = None, **extra: Any) -> Dict[str, Any]:
        payload: Dict[str, Any] = {"key": _b64(key)}
        if range_end is not None:
            payload["range_end"] = _b64(range_end)
        payload.update(extra)
        return self._post("kv/range", payload)  # type: ignore[no-any-return]

    # -- reads ----------------------------------------------------------------------------------

    @staticmethod
    def _value(kv: Dict[str, Any]) -> Any:
        """The JSON object stored in ``kv``; ``ValueError`` saying what is wrong with it."""
        try:
            raw = base64.b64decode(kv.get("value", ""))
        except ValueError:
            raise ValueError("value is not valid base64 from etcd") from None
        return decode_value(raw)

    def get(self, kind: str, key: str) -> Optional[Record]:
        """The record at ``key``, or None; :class:`UnreadableRecordError` naming it when its value
        cannot be read back (not UTF-8, not JSON, not an object)."""
        response = self._range(self._key(kind, key))
        kvs = response.get("kvs")
        if not kvs:
            return None
        kv = kvs[0]
        try:
            value = self._value(kv)
        except ValueError as e:
            raise UnreadableRecordError(kind, key, str(e)) from None
        return Record(kind, key, value, int(kv["mod_revision"]), int(kv["create_revision"]))

    def unreadable(self) -> List[Tuple[str, str, str]]:
        """Every record under the prefix whose value cannot be read back, as (kind, key, reason)."""
        found = []
        start = self.prefix + "/"
        end = _range_end(start)
        key = start
        while True:
            response = self._range(key, end, limit=_PAGE)
            kvs = response.get("kvs", [])
            for kv in kvs:
                full = base64.b64decode(kv["key"]).decode("utf-8", "replace")
                split = self._split(full)
                if split is None or full == self._revision_key:
                    continue
                try:
                    self._value(kv)
                except ValueError as e:
                    found.append((split[0], split[1], str(e)))
            if not response.get("more") or not kvs:
                break
            key = base64.b64decode(kvs[-1]["key"]).decode("utf-8", "replace") + "\x00"
        return sorted(found)

    def list(self, kind: str) -> Tuple[List[Record], int]:
        start = self._key(kind, "")
        end = _range_end(start)
        for _ in range(5):
            records: List[Record] = []
            revision: Optional[int] = None
            key = start
            try:
                while True:
                    extra: Dict[str, Any] = {"limit": _PAGE}
                    if revision is not None:
                        extra["revision"] = revision  # every page from one snapshot
                    response = self._range(key, end, **extra)
                    if revision is None:
                        revision = int(response["header"]["revision"])
                    kvs = response.get("kvs", [])
                    cut = len(start)
                    for kv in kvs:
                        full = _unb64(kv["key"])
                        try:
                            value = self._value(kv)
                        except ValueError as e:
                            self.note_unreadable(kind, full[cut:], str(e))
                            continue
                        records.append(Record(
                            kind, full[cut:], value,
                            int(kv["mod_revision"]), int(kv["create_revision"]),
                        ))
                    if not response.get("more") or not kvs:
                        break
                    key = _unb64(kvs[-1]["key"]) + "\x00"
            except Compacted:
                continue  # the snapshot was compacted between pages: list again
            return records, revision
        raise StoreError(f"store {self.url}: could not list {kind} (compacted while listing)")

    def _revision_kv(self) -> Tuple[int, Optional[str], int]:
        """(mod revision of the revision key or 0, its value, etcd's current revision)."""
        response = self._range(self._revision_key)
        kvs = response.get("kvs")
        header = int(response["header"]["revision"])
        if not kvs:
            return 0, None, header
        return int(kvs[0]["mod_revision"]), _unb64(kvs[0].get("value", "")), header

    def current_revision(self) -> int:
        return self._revision_kv()[0]

    def changes_since(self, revision: int) -> Tuple[List[Change], int]:
        latest = self.current_revision()
        if latest <= revision:
            return [], latest
        local = self._local_changes(revision, latest)
        if local is not None:
            return local, latest
        return self._history(revision, latest), latest

    def _local_changes(self, revision: int, latest: int) -> Optional[List[Change]]:
        """Changes (revision, latest] from the background watch's log, once it has caught up
        with ``latest``; None when it does not reach back that far or lags too long."""
        self._ensure_watching()
        with self._watch_cond:
            if not self._watch_cond.wait_for(
                lambda: self._watched_through >= latest or self._closed, timeout=self._watch_wait
            ):
                return None
            if self._closed or revision < self._log_floor:
                return None
            revs = self._log_revs
            lo = bisect.bisect_right(revs, revision)
            hi = bisect.bisect_right(revs, latest)
            return self._log[lo:hi]

    def _change_of(self, event: Dict[str, Any]) -> Optional[Change]:
        """The Change for one watch event; None for keys that are not records (the revision key,
        a key that is not text). A record whose value cannot be read is still a change (a
        reader keyed on it, such as the allocation index, must see it), with no value."""
        try:
            return self._decode_event(event)
        except (ValueError, KeyError, TypeError):  # UnicodeDecodeError is a ValueError
            return None

    def _event_value(self, kind: str, key: str, kv: Optional[Dict[str, Any]]) -> Any:
        if not kv or "value" not in kv:
            return None
        try:
            return self._value(kv)
        except ValueError as e:
            self.note_unreadable(kind, key, f"in a change: {e}")
            return None

    def _decode_event(self, event: Dict[str, Any]) -> Optional[Change]:
        kv = event["kv"]
        full = _unb64(kv["key"])
        split = self._split(full)
        if split is None or full == self._revision_key:
            return None
        mod = int(kv.get("mod_revision", 0))
        if event.get("type") == "DELETE":
            value = self._event_value(split[0], split[1], event.get("prev_kv"))
            return Change("DELETE", split[0], split[1], value, mod)
        return Change(
            "PUT", split[0], split[1], self._event_value(split[0], split[1], kv), mod,
            created=int(kv.get("create_revision", 0)) == mod,
        )

    def _history(self, revision: int, latest: int) -> List[Change]:
        """Changes (revision, latest] replayed from etcd's history with a one-off watch."""
        changes: List[Change] = []
        seen_latest = False
        for event in self._watch_events(revision + 1, latest):
            mod = int(event["kv"].get("mod_revision", 0))
            if mod > latest:
                break
            if mod == latest and _unb64(event["kv"]["key"]) == self._revision_key:
                seen_latest = True
            change = self._change_of(event)
            if change is not None:
                changes.append(change)
        if not seen_latest:
            raise StoreError(f"store {self.url}: the watch ended before revision {latest}")
        return changes

    # -- the background watch: a local log of the prefix's changes --------------------------------

    def _ensure_watching(self) -> None:
        with self._watch_cond:
            if self._watch_thread is not None or self._closed:
                return
            self._watch_thread = threading.Thread(
                target=self._watch_loop, name=f"fastcidr-etcd-watch{self.prefix}", daemon=True
            )
            self._watch_thread.start()

    def _watch_loop(self) -> None:
        failures = 0
        while not self._closed:
            start = self._watched_through + 1
            payload = {"create_request": {
                "key": _b64(self.prefix + "/"), "range_end": _b64(_range_end(self.prefix + "/")),
                "start_revision": start, "prev_kv": True,
            }}
            try:
                response = self._with_failover(
                    lambda i: self._post_once(i, "watch", payload, True, self._watch_idle)
                )[0]
            except Exception:
                failures += 1
                time.sleep(min(0.05 * failures, 1.0))
                continue
            self._watch_response = response
            try:
                for line in response.iter_lines():
                    if self._closed:
                        break
                    if not line:
                        continue
                    result = json.loads(line).get("result", {})
                    compacted = int(result.get("compact_revision", 0) or 0)
                    if compacted > 0:
                        # history from ``start`` is gone: restart the log at the compaction
                        with self._watch_cond:
                            self._log.clear()
                            self._log_revs.clear()
                            self._log_floor = compacted - 1
                            self._watched_through = compacted - 1
                        break
                    if result.get("canceled"):
                        break
                    events = result.get("events")
                    if events:
                        self._absorb(events)
                        failures = 0
            except Exception:
                pass  # idle timeout, a member went away, or close(): reconnect from where we were
            finally:
                self._watch_response = None
                response.close()

    def _absorb(self, events: List[Dict[str, Any]]) -> None:
        """Append one watch response's events (whole revisions) to the local log."""
        changes = [c for c in (self._change_of(e) for e in events) if c is not None]
        newest = max(int(e["kv"].get("mod_revision", 0)) for e in events)
        with self._watch_cond:
            if newest <= self._watched_through:
                return  # replayed after a reconnect
            for change in changes:
                if change.revision > self._watched_through:
                    self._log.append(change)
                    self._log_revs.append(change.revision)
            self._watched_through = newest
            if len(self._log) > self._log_limit:
                # drop the older half, whole revisions only
                cut = self._log_revs[len(self._log) - self._log_limit // 2]
                drop = bisect.bisect_right(self._log_revs, cut)
                del self._log[:drop]
                del self._log_revs[:drop]
                self._log_floor = cut
            self._watch_cond.notify_all()

    def _watch_events(self, start: int, until: int, only_key: Optional[str] = None) -> Iterator[Dict[str, Any]]:
        """etcd's history of the prefix (or of ``only_key``) from ``start``, up to and including
        the revision key's write at ``until`` (every commit writes it, and a revision's events
        arrive together)."""
        request: Dict[str, Any] = {"key": _b64(only_key), "start_revision": start} if only_key else {
            "key": _b64(self.prefix + "/"), "range_end": _b64(_range_end(self.prefix + "/")),
            "start_revision": start, "prev_kv": True,
        }
        payload = {"create_request": request}
        response = self._post("watch", payload, stream=True)
        try:
            for line in response.iter_lines():
                if not line:
                    continue
                message = json.loads(line)
                if "error" in message:
                    raise StoreError(f"store {self.url}: watch failed: {message['error']}")
                result = message.get("result", {})
                if int(result.get("compact_revision", 0) or 0) > 0:
                    raise Compacted(
                        f"store {self.url}: revision {start - 1} is compacted "
                        f"(etcd compacted up to {result['compact_revision']})"
                    )
                if result.get("canceled"):
                    raise StoreError(f"store {self.url}: watch canceled: {result.get('cancel_reason', '')}")
                events = result.get("events", [])
                for event in events:
                    yield event
                if events and int(events[-1]["kv"].get("mod_revision", 0)) >= until:
                    return
        except self._requests.exceptions.RequestException as e:
            raise StoreError(f"store {self.url}: watch interrupted: {_in_words(e)}") from None
        finally:
            response.close()

    # -- writes ---------------------------------------------------------------------------------

    def commit(self, ops: Sequence[Op]) -> int:
        ops = list(ops)
        if len(ops) > self.max_ops:
            raise ValueError(
                f"an etcd transaction holds at most {self.max_ops} operations, got {len(ops)}: "
                "split the batch"
            )
        keys = [self._key(op.kind, op.key) for op in ops]
        if len(set(keys)) != len(keys):
            raise ValueError("an etcd transaction cannot write one key twice")
        with self._lock:
            self._serial += 1
            commit_id = f"{self._writer}-{self._serial}"
        compares: List[Dict[str, Any]] = []
        compared: List[int] = []
        success: List[Dict[str, Any]] = []
        values: Dict[int, Any] = {}
        for index, (op, key) in enumerate(zip(ops, keys)):
            if isinstance(op, Create):
                expect: Any = ABSENT
            elif isinstance(op, (Put, Delete, Require)):
                expect = op.expect
            else:
                raise TypeError(f"not a store operation: {op!r}")
            if expect is ABSENT:
                compares.append({"key": _b64(key), "result": "EQUAL", "target": "CREATE",
                                 "create_revision": 0})
                compared.append(index)
            elif expect is not None:
                compares.append({"key": _b64(key), "result": "EQUAL", "target": "MOD",
                                 "mod_revision": int(expect)})
                compared.append(index)
            if isinstance(op, (Create, Put)):
                values[index] = op.value
                success.append({"request_put": {"key": _b64(key), "value": _b64(_dumps(op.value))}})
            elif isinstance(op, Delete):
                success.append({"request_delete_range": {"key": _b64(key)}})
        if not success:
            return self._check_only(ops, keys, compares, compared)
        success.append({"request_put": {"key": _b64(self._revision_key), "value": _b64(commit_id)}})
        failure = [{"request_range": {"key": compare["key"], "keys_only": True}} for compare in compares]
        txn = {"compare": compares, "success": success, "failure": failure}
        # a revision this commit, if applied, comes after: where to look for it when the answer
        # is lost (the background watch is at most a little behind etcd, never ahead)
        before = self._watched_through
        try:
            response, maybe_applied = self._with_failover(lambda i: self._post_once(i, "kv/txn", txn))
        except StoreError as e:
            if not getattr(e, "maybe_applied", False):
                raise  # no attempt ever reached etcd: certainly not applied
            return self._resolve_unknown(commit_id, before, ops, keys, values, str(e))
        if response.get("succeeded"):
            return int(response["header"]["revision"])
        if maybe_applied:
            # an earlier attempt's answer was lost and this retry's conditions failed: perhaps
            # because that attempt was applied (its own writes now fail the compares)
            done = self._applied_at(commit_id, before, ops, keys, values)
            if done is not None:
                return done
        raise self._conflict(ops, compared, response)

    def _resolve_unknown(self, commit_id: str, before: int, ops: List[Op], keys: List[str],
                         values: Dict[int, Any], why: str) -> int:
        """A commit whose every answer was lost: read etcd back to learn whether it was applied.
        Applied: its revision. Not applied: :class:`StoreError` saying so (nothing was written).
        etcd still unreadable after ``timeout``: :class:`UnknownOutcomeError`."""
        deadline = time.monotonic() + self.timeout
        delay = 0.05
        while True:
            try:
                done = self._applied_at(commit_id, before, ops, keys, values, certain=True)
            except UnknownOutcomeError:
                raise
            except StoreError as e:
                if self._closed or time.monotonic() + delay > deadline:
                    raise UnknownOutcomeError(
                        f"etcd write outcome unknown: the answer was lost ({why}) and etcd could not "
                        f"be read back ({e}); it may or may not have been applied: read the objects "
                        "before trying again"
                    ) from None
                time.sleep(delay)
                delay = min(delay * 2, 0.5)
                continue
            if done is not None:
                return done
            raise StoreError(
                f"etcd write not applied: its answer was lost ({why}) and reading etcd back shows "
                "it was not applied; nothing was written"
            )

    def _applied_at(self, commit_id: str, before: int, ops: List[Op], keys: List[str],
                    values: Dict[int, Any], certain: bool = False) -> Optional[int]:
        """The revision at which commit ``commit_id`` was applied (every commit writes its id to
        the revision key), searched in etcd's history after ``before``; None when it was not.
        Where that history is compacted, whether this writer's values are in place decides; if
        even that cannot tell and ``certain`` is asked for, :class:`UnknownOutcomeError`."""
        latest, value, _ = self._revision_kv()
        if value == commit_id:
            return latest
        if latest <= before:
            return None  # nothing at all was committed under the prefix since
        try:
            for event in self._watch_events(before + 1, latest, only_key=self._revision_key):
                kv = event["kv"]
                if event.get("type") != "DELETE" and _unb64(kv.get("value", "")) == commit_id:
                    return int(kv["mod_revision"])
            return None
        except Compacted:
            done = self._already_applied(commit_id, ops, keys, values)
            if done is None and certain:
                raise UnknownOutcomeError(
                    "etcd write outcome unknown: its answer was lost, etcd's history of that time "
                    "is compacted and the objects no longer show it; read them before trying again"
                ) from None
            return done

    def _check_only(self, ops: List[Op], keys: List[str], compares: List[Dict[str, Any]],
                    compared: List[int]) -> int:
        """A commit of conditions only: check them, write nothing."""
        failure = [{"request_range": {"key": compare["key"], "keys_only": True}} for compare in compares]
        failure.append({"request_range": {"key": _b64(self._revision_key), "keys_only": True}})
        txn = {"compare": compares, "success": failure, "failure": failure}
        response = self._post("kv/txn", txn)
        if not response.get("succeeded") and compares:
            raise self._conflict(ops, compared, response)
        kvs = response["responses"][-1]["response_range"].get("kvs")
        return int(kvs[0]["mod_revision"]) if kvs else 0

    def _conflict(self, ops: List[Op], compared: List[int], response: Dict[str, Any]) -> TxnConflict:
        for index, reply in zip(compared, response.get("responses", [])):
            kvs = reply.get("response_range", {}).get("kvs")
            actual = int(kvs[0]["mod_revision"]) if kvs else None
            op = ops[index]
            expect = ABSENT if isinstance(op, Create) else op.expect  # type: ignore[union-attr]
            if not check_expect(expect, actual):
                return TxnConflict(index, op, actual)
        # the failing key changed again between the compare and our reading: report the first
        index = compared[0]
        return TxnConflict(index, ops[index], None)

    def _already_applied(self, commit_id: str, ops: List[Op], keys: List[str],
                         values: Dict[int, Any]) -> Optional[int]:
        """After an attempt whose outcome is unknown: the revision of that attempt if its writes
        are in place (the revision key still names it, or every written key holds this writer's
        value and deleted keys are gone), else None."""
        revision, value, _ = self._revision_kv()
        if value == commit_id:
            return revision
        found: Optional[int] = None
        for index, (op, key) in enumerate(zip(ops, keys)):
            if isinstance(op, Require):
                continue
            response = self._range(key)
            kvs = response.get("kvs")
            if isinstance(op, Delete):
                if kvs:
                    return None
                continue
            if not kvs or json.loads(_unb64(kvs[0]["value"])) != values[index]:
                return None
            mod = int(kvs[0]["mod_revision"])
            if found is not None and mod != found:
                return None
            found = mod
        return found

    # -- waiting and closing --------------------------------------------------------------------

    def wait_for_change(self, revision: int, timeout: float) -> bool:
        if self.current_revision() > revision:
            return True
        self._ensure_watching()
        deadline = time.monotonic() + timeout
        while True:
            now = time.monotonic()
            if now >= deadline:
                return False
            # the watch wakes us at once; the periodic re-check covers a watch that is down
            with self._watch_cond:
                if self._closed:
                    raise StoreError(f"store {self.url} is closed")
                self._watch_cond.wait_for(
                    lambda: self._watched_through > revision or self._closed,
                    timeout=min(0.25, deadline - now),
                )
            if self.current_revision() > revision:
                return True

    def compact(self, revision: Optional[int] = None) -> int:
        """Ask etcd to compact its history up to ``revision`` (default: now); returns it. For
        tests and maintenance: readers further behind get :class:`Compacted`."""
        if revision is None:
            revision = self._revision_kv()[2]
        self._post("kv/compaction", {"revision": revision, "physical": True})
        return revision

    def close(self) -> None:
        if self._closed:
            return
        with self._watch_cond:
            self._closed = True
            self._watch_cond.notify_all()
        response = self._watch_response
        if response is not None:
            try:  # wake the watch thread out of its blocking read
                sock = response.raw._fp.fp.raw._sock
                sock.shutdown(2)
            except Exception:
                pass
        for client in self._clients:
            try:
                client.session.close()
            except Exception:  # pragma: no cover - closing must not fail
                pass
