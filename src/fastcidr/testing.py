"""``fastcidr.testing``: a pytest plugin that starts a Kubernetes API server for your tests
(docs/testing.md).

Fixtures only (no hooks, nothing autouse): a test that does not ask for them is untouched.

- ``fastcidr_server``: a server in this process on an in-memory store, stopped after the test;
- ``fastcidr_server_factory``: ``factory(store="memory" | "sqlite", mode="thread" | "subprocess",
  service_cluster_ip_range="10.96.0.0/16", **flags)`` starts more (each stopped at teardown).

Each hands out a :class:`FastCIDRServer`: ``.url``, ``.kubeconfig`` (a path), ``.env()``
(``KUBECONFIG`` for a subprocess such as ``kopf run`` or ``kubectl``), ``.client()`` (an official
``kubernetes`` ``ApiClient``) and ``.lightkube()`` (a ``lightkube.Client``), when those libraries
are installed.

Enable it with ``-p fastcidr.testing`` or ``pytest_plugins = ["fastcidr.testing"]`` (the package
also registers it under the ``pytest11`` entry point ``fastcidr``).
"""
from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional

import pytest

__all__ = ["FastCIDRServer", "start_server", "fastcidr_server", "fastcidr_server_factory"]

#: seconds a subprocess server may take to print its URL
START_TIMEOUT = 60.0
_STORES = ("memory", "sqlite")
_MODES = ("thread", "subprocess")


class FastCIDRServer:
    """A running ``fastcidr serve`` (in a thread of this process, or as a subprocess)."""

    def __init__(self, url: str, kubeconfig: str, mode: str, store_url: str, *,
                 stop: Callable[[], None], cluster: Any = None, server: Any = None) -> None:
        #: the server's base URL (``http://127.0.0.1:PORT``)
        self.url = url
        #: the path of a kubeconfig for it (current context, namespace ``default``)
        self.kubeconfig = kubeconfig
        #: "thread" or "subprocess"
        self.mode = mode
        #: the store URL it serves (``memory:``, ``sqlite:///...``)
        self.store_url = store_url
        #: the :class:`fastcidr.Cluster` behind it (thread mode; None for a subprocess)
        self.cluster = cluster
        #: the :class:`fastcidr.server.ApiServer` (thread mode)
        self.server = server
        self._stop = stop
        self._stopped = False
        self._clients: List[Any] = []

    def env(self, base: Optional[Dict[str, str]] = None) -> Dict[str, str]:
        """An environment for a subprocess that should talk to this server (``KUBECONFIG``)."""
        env = dict(os.environ if base is None else base)
        env["KUBECONFIG"] = self.kubeconfig
        return env

    def client(self) -> Any:
        """An official ``kubernetes.client.ApiClient`` for this server (closed at teardown)."""
        try:
            from kubernetes import client, config
        except ImportError:  # pragma: no cover - depends on the environment
            pytest.skip("the kubernetes package is not installed")
        configuration = client.Configuration()
        config.load_kube_config(config_file=self.kubeconfig, client_configuration=configuration)
        api = client.ApiClient(configuration)
        self._clients.append(api)
        return api

    def lightkube(self) -> Any:
        """A ``lightkube.Client`` for this server."""
        try:
            from lightkube import Client, KubeConfig
        except ImportError:  # pragma: no cover - depends on the environment
            pytest.skip("the lightkube package is not installed")
        return Client(config=KubeConfig.from_file(self.kubeconfig))

    def stop(self) -> None:
        """Stop the server (idempotent)."""
        if self._stopped:
            return
        self._stopped = True
        for api in self._clients:
            try:
                api.close()
            except Exception:
                pass
        self._stop()

    def __enter__(self) -> "FastCIDRServer":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"<FastCIDRServer {self.mode} {self.url} store={self.store_url}>"


def stop_child(proc: "subprocess.Popen[Any]", sig: int = signal.SIGTERM) -> None:
    """Stop a child process (a subprocess server, ``kopf run``): ``sig`` (SIGINT lets kopf
    finish its handlers), 20 seconds to exit, then SIGKILL."""
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def _flag_args(flags: Dict[str, Any]) -> List[str]:
    args: List[str] = []
    for name, value in flags.items():
        flag = "--" + name.replace("_", "-")
        if value is True:
            args.append(flag)
        elif value not in (False, None):
            args += [flag, str(value)]
    return args


def start_server(directory: str, *, store: str = "memory", mode: str = "thread",
                 service_cluster_ip_range: str = "10.96.0.0/16", **flags: Any) -> FastCIDRServer:
    """Start a server keeping its files (kubeconfig, SQLite database) in ``directory``.

    ``flags`` are ``fastcidr serve`` options by their Python names (``repair_interval=1``); in
    thread mode those of :class:`fastcidr.server.ApiServer` are passed to it."""
    if store not in _STORES:
        raise ValueError(f"store must be one of {', '.join(_STORES)}, got {store!r}")
    if mode not in _MODES:
        raise ValueError(f"mode must be one of {', '.join(_MODES)}, got {mode!r}")
    os.makedirs(directory, exist_ok=True)
    store_url = "memory:" if store == "memory" else f"sqlite:///{os.path.join(directory, 'fastcidr.db')}"
    kubeconfig = os.path.join(directory, "kubeconfig")
    if mode == "thread":
        from .k8s.cluster import Cluster
        from .server import ApiServer

        cluster = Cluster(service_cluster_ip_range, store=store_url)
        try:
            server = ApiServer(cluster, **flags)
        except BaseException:
            cluster.close()
            raise
        server.kubeconfig(kubeconfig)

        def stop_thread() -> None:
            server.close()
            cluster.close()

        return FastCIDRServer(server.url, kubeconfig, mode, store_url, stop=stop_thread,
                              cluster=cluster, server=server)
    args = [sys.executable, "-m", "fastcidr", "serve", "--store", store_url,
            "--service-cluster-ip-range", service_cluster_ip_range, "--port", "0",
            "--kubeconfig-out", kubeconfig, *_flag_args(flags)]
    env = dict(os.environ)
    # the server imports the same fastcidr as this process
    package_root = str(Path(__file__).resolve().parents[1])
    env["PYTHONPATH"] = package_root + os.pathsep + env.get("PYTHONPATH", "")
    log = open(os.path.join(directory, "serve.log"), "w+", encoding="utf-8")
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=log, text=True, env=env)
    lines: "queue.Queue[str]" = queue.Queue()
    assert proc.stdout is not None
    stdout = proc.stdout

    def pump() -> None:
        for line in stdout:
            lines.put(line)

    threading.Thread(target=pump, daemon=True).start()

    def stop_process() -> None:
        stop_child(proc)
        stdout.close()
        log.close()

    try:
        url = lines.get(timeout=START_TIMEOUT).strip()
    except queue.Empty:
        stop_process()
        with open(os.path.join(directory, "serve.log"), encoding="utf-8") as handle:
            raise RuntimeError(f"fastcidr serve did not start: {handle.read()}") from None
    return FastCIDRServer(url, kubeconfig, mode, store_url, stop=stop_process)


@pytest.fixture
def fastcidr_server_factory() -> Iterator[Callable[..., FastCIDRServer]]:
    """``factory(store="memory", mode="thread", **flags)``: start servers, stopped at teardown."""
    started: List[FastCIDRServer] = []
    directories: List[tempfile.TemporaryDirectory] = []

    def factory(store: str = "memory", mode: str = "thread", **flags: Any) -> FastCIDRServer:
        directory = tempfile.TemporaryDirectory(prefix="fastcidr-")
        directories.append(directory)
        server = start_server(directory.name, store=store, mode=mode, **flags)
        started.append(server)
        return server

    try:
        yield factory
    finally:
        for server in reversed(started):
            server.stop()
        for directory in directories:
            directory.cleanup()


@pytest.fixture
def fastcidr_server(fastcidr_server_factory: Callable[..., FastCIDRServer]) -> FastCIDRServer:
    """A server in this process on an in-memory store (``.url``, ``.kubeconfig``, ``.client()``)."""
    return fastcidr_server_factory()
