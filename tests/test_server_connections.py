"""Connections cannot exhaust ``fastcidr serve`` (docs/serve.md, "Limits and security"): a
bounded slowloris is cut at the header timeout, idle sockets at the idle timeout, connections and
watches past their caps get a 429 Status, and accept() under a lowered file limit backs off
instead of spinning. Real server subprocesses on both backends, with the limits lowered by flag
so that every wait stays a few seconds.
"""
from __future__ import annotations

import json
import os
import socket
import time
from typing import List

import pytest

from tests.serve_process import ServeProcess, parse_response

CIDRS = "/apis/networking.k8s.io/v1/servicecidrs"


@pytest.fixture(params=[False, True], ids=["compiled", "pure"])
def pure(request):
    return request.param


def _cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _cpu_share(pid: int, seconds: float) -> float:
    """The share of one core the process used over ``seconds``."""
    before = _cpu_seconds(pid)
    time.sleep(seconds)
    return (_cpu_seconds(pid) - before) / seconds


def _open(server: ServeProcess, count: int, timeout: float = 2.0) -> List[socket.socket]:
    sockets = []
    for _ in range(count):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.settimeout(timeout)
        try:
            sock.connect((server.host, server.port))
        except OSError:  # the backlog is full: the kernel drops the SYN
            sock.close()
            continue
        sockets.append(sock)
    return sockets


def _closed_by_server(sock: socket.socket, timeout: float) -> bool:
    """Whether the server closes ``sock`` within ``timeout`` (anything it sends first is read)."""
    sock.settimeout(0.2)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            data = sock.recv(65536)
        except socket.timeout:
            continue
        except OSError:
            return True
        if not data:
            return True
    return False


def _close_all(sockets: List[socket.socket]) -> None:
    for sock in sockets:
        sock.close()


def _ok(server: ServeProcess, within: float) -> bool:
    """Whether a normal request succeeds within ``within`` seconds (retrying)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            if server.request("GET", CIDRS, timeout=5)[0] == 200:
                return True
        except OSError:
            pass
        time.sleep(0.2)
    return False


def test_slowloris_is_cut_at_the_header_timeout(pure, tmp_path):
    server = ServeProcess(tmp_path, "--header-timeout", "1", "--idle-timeout", "30", pure=pure)
    sockets = _open(server, 20)
    try:
        assert len(sockets) == 20
        for sock in sockets:
            sock.sendall(b"GET /version HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        started = time.monotonic()
        alive = list(sockets)
        while alive and time.monotonic() - started < 6:
            for sock in list(alive):
                try:
                    sock.sendall(b"X-Slow: y\r\n")  # one header line at a time, never the end
                except OSError:
                    alive.remove(sock)
            assert server.request("GET", "/healthz", timeout=5)[0] == 200  # others are served
            time.sleep(0.2)
        assert all(_closed_by_server(sock, 0.5) for sock in sockets)
        assert time.monotonic() - started < 6  # cut at ~1 s, though each kept sending
    finally:
        _close_all(sockets)
        server.stop()


def test_a_slow_body_is_cut_at_the_body_timeout(pure, tmp_path):
    server = ServeProcess(tmp_path, "--body-timeout", "1", pure=pure)
    try:
        started = time.monotonic()
        reply = server.raw(b"POST /api/v1/namespaces/default/services HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                           b"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{",
                           timeout=10)
        assert time.monotonic() - started < 5
        code, _, body = parse_response(reply)
        assert code == 408 and json.loads(body)["reason"] == "Timeout"
    finally:
        server.stop()


def test_idle_sockets_under_a_low_file_limit_cannot_lock_others_out(pure, tmp_path):
    # 128 files: the default cap is 64 connections; 200 idle sockets try to take them all, and
    # are held open (the default idle timeout, 90 s, is far off)
    server = ServeProcess(tmp_path, pure=pure, nofile=128)
    sockets = _open(server, 200)
    try:
        assert len(sockets) > 150
        time.sleep(0.5)
        assert _cpu_share(server.proc.pid, 1.0) < 0.5  # waiting, not spinning
        # a new connection takes the place of the longest idle one: normal requests get in
        # while the attacker still holds every socket it has
        for _ in range(20):
            assert server.request("GET", CIDRS, timeout=5)[0] == 200
        assert server.alive
    finally:
        _close_all(sockets)
        server.stop()


def test_idle_connections_are_closed_at_the_idle_timeout(pure, tmp_path):
    server = ServeProcess(tmp_path, "--idle-timeout", "1", pure=pure)
    sockets = _open(server, 5)
    try:
        started = time.monotonic()
        assert all(_closed_by_server(sock, 5) for sock in sockets)
        assert 0.8 <= time.monotonic() - started < 5
    finally:
        _close_all(sockets)
        server.stop()


def test_accept_backs_off_when_out_of_files(pure, tmp_path):
    # a connection cap above the file limit: accept() itself runs out of descriptors (EMFILE)
    server = ServeProcess(tmp_path, "--idle-timeout", "30", "--max-connections", "1000",
                          pure=pure, nofile=64)
    sockets = _open(server, 150, timeout=1.0)
    try:
        time.sleep(0.5)
        assert _cpu_share(server.proc.pid, 1.5) < 0.5  # before the back-off: a core at 100 %
        assert server.alive
    finally:
        _close_all(sockets)
    try:
        assert _ok(server, within=15)  # the files come back once the sockets close
    finally:
        server.stop()


def test_connections_past_the_cap_get_429_status(pure, tmp_path):
    server = ServeProcess(tmp_path, "--max-connections", "4", pure=pure)
    held = _open(server, 4)
    try:
        for sock in held:  # each in the middle of its headers: busy, not idle
            sock.sendall(b"GET /version HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        time.sleep(0.3)
        code, headers, body = parse_response(server.raw(
            b"GET /version HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", timeout=5))
        assert code == 429 and headers["retry-after"] == "1"
        status = json.loads(body)
        assert (status["kind"], status["reason"], status["code"]) == ("Status", "TooManyRequests", 429)
        held.pop().close()
        assert _ok(server, within=5)
        # an idle connection, by contrast, makes room: the 4th slot now idles, the 5th gets in
        idle = _open(server, 1)
        time.sleep(0.3)
        assert server.request("GET", CIDRS, timeout=5)[0] == 200
        assert _closed_by_server(idle[0], 2)
        _close_all(idle)
    finally:
        _close_all(held)
        server.stop()


def test_watches_past_the_cap_get_429_status(pure, tmp_path):
    server = ServeProcess(tmp_path, "--max-watches", "2", pure=pure)
    watches = _open(server, 2)
    try:
        for sock in watches:
            sock.sendall(f"GET {CIDRS}?watch=true&timeoutSeconds=60 HTTP/1.1\r\n"
                         "Host: 127.0.0.1\r\n\r\n".encode())
            assert sock.recv(65536).startswith(b"HTTP/1.1 200")
        code, headers, body = server.request("GET", CIDRS + "?watch=true&timeoutSeconds=5")
        assert code == 429 and headers["retry-after"] == "1"
        assert body["reason"] == "TooManyRequests" and "watches" in body["message"]
        assert server.request("GET", CIDRS)[0] == 200  # other requests are not watches
        watches.pop().close()
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:  # the server notices the closed watch within ~0.5 s
            code = server.request("GET", CIDRS + "?watch=true&timeoutSeconds=1")[0]
            if code == 200:
                break
            time.sleep(0.2)
        assert code == 200
    finally:
        _close_all(watches)
        server.stop()
