"""The limits of ``fastcidr serve`` (docs/serve.md, "Limits and security") against a real server
subprocess on both backends: every refusal is the documented code with a ``Status`` body, leaves
the state as it was, and the server keeps answering.
"""
from __future__ import annotations

import json
import time

import pytest

from tests.helpers import service
from tests.serve_process import ServeProcess, parse_response

SERVICES = "/api/v1/namespaces/default/services"
CIDRS = "/apis/networking.k8s.io/v1/servicecidrs"
MIB = 1024 * 1024


@pytest.fixture(scope="module", params=[False, True], ids=["compiled", "pure"])
def server(request, tmp_path_factory):
    process = ServeProcess(tmp_path_factory.mktemp("limits"), pure=request.param)
    code, _, _ = process.request("POST", SERVICES, {"metadata": {"name": "target"},
                                                    "spec": {"ports": [{"port": 80}]}})
    assert code == 201
    try:
        yield process
    finally:
        process.stop()


def _status(body, code, reason=None):
    assert isinstance(body, dict) and body.get("kind") == "Status", body
    assert body["code"] == code, body
    if reason is not None:
        assert body["reason"] == reason, body


class Unchanged:
    """``with Unchanged(server):`` the full state after the block equals the state before, and
    the server still answers."""

    def __init__(self, server: ServeProcess) -> None:
        self.server = server

    def __enter__(self) -> "Unchanged":
        self.before = self.server.state()
        return self

    def __exit__(self, *exc: object) -> None:
        if exc[0] is None:
            assert self.server.state() == self.before
            assert self.server.request("GET", "/healthz")[0] == 200


def _raw(server: ServeProcess, head: str, body: bytes = b"", **kw) -> tuple:
    data = head.replace("\n", "\r\n").encode() + b"\r\n" + body
    return parse_response(server.raw(data, **kw))


HOST = "Host: 127.0.0.1\n"


# -- request bodies -------------------------------------------------------------------------------

def test_a_body_over_3_mib_is_413_before_it_is_read(server):
    with Unchanged(server):
        started = time.monotonic()
        code, headers, body = _raw(server, f"POST {SERVICES} HTTP/1.1\n{HOST}"
                                   "Content-Type: application/json\nContent-Length: 3145729\n\n")
        assert code == 413 and headers.get("connection") == "close"
        _status(json.loads(body), 413, "RequestEntityTooLarge")
        assert json.loads(body)["message"] == "Request entity too large: limit is 3145728"
        assert time.monotonic() - started < 5


def test_a_chunked_body_over_3_mib_is_413(server):
    chunk = b"x" * MIB
    data = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(4)) + b"0\r\n\r\n"
    with Unchanged(server):
        code, _, body = _raw(server, f"POST {SERVICES} HTTP/1.1\n{HOST}Content-Type: application/json\n"
                             "Transfer-Encoding: chunked\n", data)
        assert code == 413
        _status(json.loads(body), 413, "RequestEntityTooLarge")


@pytest.mark.parametrize("framing", [
    "Content-Length: -1\n",
    "Content-Length: +12\n",
    "Content-Length: 1_2\n",
    "Content-Length: 12\nContent-Length: 13\n",
    "Content-Length: 99999999999999999999999\n",
    "Content-Length: ٣\n",
    "Transfer-Encoding: gzip, chunked\n",
])
def test_malformed_content_lengths_are_400(server, framing):
    payload = b'{"metadata":{"name":"framed"}}'
    with Unchanged(server):
        code, headers, body = _raw(server, f"POST {SERVICES} HTTP/1.1\n{HOST}"
                                   f"Content-Type: application/json\n{framing}\n", payload,
                                   shutdown_write=True)
        assert code == 400, (framing, body)
        assert headers.get("connection") == "close"
        _status(json.loads(body), 400, "BadRequest")


@pytest.mark.parametrize("size_line", [b"-1", b"+5", b"0x10", b"fffffffff", b"zz", b"1 2"])
def test_malformed_chunk_sizes_are_400(server, size_line):
    with Unchanged(server):
        code, _, body = _raw(server, f"POST {SERVICES} HTTP/1.1\n{HOST}Content-Type: application/json\n"
                             "Transfer-Encoding: chunked\n", size_line + b"\r\n{}\r\n0\r\n\r\n",
                             shutdown_write=True)
        assert code == 400, (size_line, body)
        _status(json.loads(body), 400)


def test_content_length_with_chunked_is_400_and_closes(server):
    payload = json.dumps({"metadata": {"name": "smuggled"}}).encode()
    chunked = b"%x\r\n%s\r\n0\r\n\r\n" % (len(payload), payload)
    second = f"POST {SERVICES} HTTP/1.1\r\n{HOST}".replace("\n", "\r\n").encode()
    with Unchanged(server):
        raw = server.raw(f"POST {SERVICES} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                         f"Content-Length: {len(chunked)}\r\nTransfer-Encoding: chunked\r\n\r\n".encode()
                         + chunked + second)
        code, headers, body = parse_response(raw)
        assert code == 400 and headers["connection"] == "close"
        assert raw.count(b"HTTP/1.1 ") == 1  # nothing after it was read as a request


# -- media types ---------------------------------------------------------------------------------

@pytest.mark.parametrize("content_type", ["text/plain", "text/plain;charset=UTF-8",
                                          "application/x-www-form-urlencoded",
                                          "multipart/form-data; boundary=x"])
def test_bodies_that_are_not_json_yaml_or_protobuf_are_415(server, content_type):
    with Unchanged(server):
        code, _, body = server.request("POST", SERVICES, service("drive-by"),
                                       content_type=content_type)
        assert code == 415
        _status(body, 415, "UnsupportedMediaType")


def test_yaml_bodies_are_still_accepted(server):
    yaml_body = b"metadata:\n  name: from-yaml\nspec:\n  ports:\n  - port: 80\n"
    code, _, body = server.request("POST", SERVICES, yaml_body, content_type="application/yaml")
    assert code == 201, body
    assert server.request("DELETE", SERVICES + "/from-yaml")[0] == 200


# -- JSON patch ------------------------------------------------------------------------------------

def _json_patch(server, ops):
    return server.request("PATCH", SERVICES + "/target", ops,
                          content_type="application/json-patch+json")


def test_the_copy_bomb_is_refused_quickly(server):
    # 14 copy operations, each doubling spec: 746 bytes that would make a multi-megabyte object
    ops = [{"op": "copy", "from": "/spec", "path": f"/spec/bomb{i:02d}"} for i in range(14)]
    text = json.dumps(ops, separators=(",", ":"))
    assert len(text) < 1000
    with Unchanged(server):
        started = time.monotonic()
        code, _, body = server.request("PATCH", SERVICES + "/target", text.encode(),
                                       content_type="application/json-patch+json")
        elapsed = time.monotonic() - started
        assert code in (413, 422), body
        _status(body, code)
        assert "copy" in body["message"] or "too large" in body["message"]
        assert elapsed < 3.0, elapsed


def test_more_than_10000_operations_is_413(server):
    ops = [{"op": "test", "path": "/kind", "value": "Service"}] * 10_001
    with Unchanged(server):
        code, _, body = _json_patch(server, ops)
        assert code == 413
        _status(body, 413, "RequestEntityTooLarge")
        assert "10000" in body["message"]
    assert _json_patch(server, ops[:10_000])[0] == 200  # the limit itself is allowed


def test_an_object_over_1_5_mib_is_not_stored(server):
    big = "x" * (MIB + MIB // 2)
    with Unchanged(server):
        code, _, body = server.request("POST", SERVICES, {"metadata": {"name": "big",
                                                                       "annotations": {"a": big}}})
        assert code == 413, body
        _status(body, 413, "RequestEntityTooLarge")
        # grown by a patch: the result is what is measured
        code, _, body = server.request("PATCH", SERVICES + "/target",
                                       {"metadata": {"annotations": {"a": big}}},
                                       content_type="application/merge-patch+json")
        assert code == 413, body
        half = "y" * (MIB // 2 + 1000)
        ops = [{"op": "add", "path": "/metadata/annotations", "value": {"h": half}},
               {"op": "copy", "from": "/metadata/annotations/h", "path": "/metadata/annotations/h2"},
               {"op": "copy", "from": "/metadata/annotations/h", "path": "/metadata/annotations/h3"}]
        code, _, body = _json_patch(server, ops)
        assert code == 413, body


# -- nesting and numbers ---------------------------------------------------------------------------

@pytest.mark.parametrize("depth", [101, 1000, 100_000])
def test_deep_json_is_400(server, depth):
    nested = "[" * depth + "]" * depth
    body = ('{"metadata":{"name":"deep"},"spec":{"x":' + nested + "}}").encode()
    with Unchanged(server):
        code, _, reply = server.request("POST", SERVICES, body)
        assert code == 400, reply
        _status(reply, 400, "BadRequest")
        code, _, reply = server.request("PATCH", SERVICES + "/target", b'{"spec":{"x":' + nested.encode() + b"}}",
                                        content_type="application/merge-patch+json")
        assert code == 400, reply


def test_deep_and_aliased_yaml_is_400(server):
    deep = "spec:\n  x: " + "[" * 5000 + "]" * 5000 + "\nmetadata:\n  name: deep\n"
    laughs = "metadata:\n  name: laughs\n  labels: {}\nspec:\n  a: &a [x, x, x, x, x, x, x, x, x]\n"
    for level in "bcdefghij":
        previous = chr(ord(level) - 1)
        laughs += f"  {level}: &{level} [*{previous}, *{previous}, *{previous}, *{previous}, *{previous}]\n"
    with Unchanged(server):
        for text in (deep, laughs):
            code, _, reply = server.request("POST", SERVICES, text.encode(),
                                            content_type="application/yaml")
            assert code == 400, reply
            _status(reply, 400)


@pytest.mark.parametrize("query", [
    "resourceVersion=" + "9" * 5000, "resourceVersion=%D9%A3", "resourceVersion=%C2%B2",
    "limit=" + "9" * 5000, "limit=%C2%B2", "limit=-1", "limit=99999999999999999999",
    "timeoutSeconds=" + "9" * 5000, "timeoutSeconds=%D9%A3", "watch=true&timeoutSeconds=%C2%B2",
    "watch=true&resourceVersion=" + "1" * 4400,
])
def test_huge_or_non_ascii_numbers_are_400(server, query):
    for path in (SERVICES, CIDRS, "/api/v1/services"):
        code, _, body = server.request("GET", f"{path}?{query}")
        assert code == 400, (path, query, body)
        _status(body, 400, "BadRequest")


# -- every answer a Status -------------------------------------------------------------------------

@pytest.mark.parametrize("request_bytes, code", [
    (b"GET /" + b"a" * 70_000 + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", 414),
    (b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Long: " + b"a" * 70_000 + b"\r\n\r\n", 431),
    (b"BREW /api HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", 405),
    (b"OPTIONS /api HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", 405),
    (b"GET / HTTP/9.9\r\nHost: 127.0.0.1\r\n\r\n", 505),
    (b"complete nonsense\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\n" + b"".join(b"X-%d: y\r\n" % i for i in range(200)) + b"\r\n", 431),
])
def test_protocol_errors_are_status_not_html(server, request_bytes, code):
    status, headers, body = parse_response(server.raw(request_bytes))
    assert status == code, body
    assert headers["content-type"] == "application/json"
    _status(json.loads(body), code)
    assert b"<html" not in body.lower() and b"<!doctype" not in body.lower()


def test_head_on_a_watch_sends_no_body(server):
    raw = server.raw(f"HEAD {CIDRS}?watch=true&timeoutSeconds=5 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
                     .encode(), timeout=10)
    head, _, rest = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), raw
    assert rest == b""


def test_a_refused_body_still_sent_gets_its_answer(server):
    """The client keeps sending a body the server refused without reading it: the 413 still
    reaches the client, however the sending ends (the server closing may cut it with a reset)."""
    body = b" " * (5 * MIB)
    for _ in range(8):
        code, _, answer = _raw(server, f"POST {SERVICES} HTTP/1.1\n{HOST}Content-Type: application/json\n"
                               f"Content-Length: {len(body)}\n", body)
        assert code == 413
        _status(json.loads(answer), 413, "RequestEntityTooLarge")
