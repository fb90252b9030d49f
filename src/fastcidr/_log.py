"""Logging and the progress line (docs/observability.md).

The library logs through :mod:`logging` under the ``fastcidr`` logger tree (``fastcidr.k8s.cluster``,
``fastcidr.server.http``, ...). A ``NullHandler`` sits on ``fastcidr``, so that a host application
that configures nothing sees nothing (not even Python's last-resort handler for warnings); one that
configures logging gets the records like any other library's. The command line and ``fastcidr
serve`` call :func:`configure_cli` to send them to stderr.

:class:`Progress` is the one-line ``\\r`` progress report of long imports and start-ups: written to
stderr only when stderr is a terminal, so pipes, files and CI logs never see it.

>>> import logging
>>> logging.getLogger("fastcidr").handlers[0].__class__.__name__
'NullHandler'
>>> p = Progress("importing", stream=None)   # no terminal: every call is a no-op
>>> p.update(10); p.done()
"""
from __future__ import annotations

import logging
import sys
import threading
import time
from typing import IO, Any, Optional

__all__ = ["ROOT", "get_logger", "configure_cli", "unconfigure_cli", "Progress"]

ROOT = "fastcidr"

_root = logging.getLogger(ROOT)
if not any(isinstance(h, logging.NullHandler) for h in _root.handlers):
    _root.addHandler(logging.NullHandler())

#: the handler :func:`configure_cli` installed (replaced, never stacked, on a second call)
_cli_handler: Optional[logging.Handler] = None


def get_logger(name: str) -> logging.Logger:
    """``logging.getLogger(name)`` for a module of this package (``__name__``), with the package's
    ``NullHandler`` in place."""
    return logging.getLogger(name)


def configure_cli(verbosity: int, *, stream: Optional[IO[str]] = None, prefix: str = "fastcidr",
                  detailed: Optional[bool] = None) -> logging.Logger:
    """Send the ``fastcidr`` records to stderr for a command: ``verbosity`` 0 = warnings and errors,
    1 = also INFO, 2 or more = also DEBUG; each line starts with ``prefix:``, and (``detailed``,
    by default from -vv on) the level and logger name follow."""
    global _cli_handler
    level = logging.WARNING if verbosity <= 0 else logging.INFO if verbosity == 1 else logging.DEBUG
    if detailed is None:
        detailed = verbosity >= 2
    handler = logging.StreamHandler(stream) if stream is not None else _StderrHandler()
    handler.setFormatter(logging.Formatter(f"{prefix}: %(levelname)s %(name)s: %(message)s"
                                           if detailed else f"{prefix}: %(message)s"))
    if _cli_handler is not None:
        _root.removeHandler(_cli_handler)
    _root.addHandler(handler)
    _cli_handler = handler
    _root.setLevel(level)
    return _root


def unconfigure_cli() -> None:
    """Undo :func:`configure_cli` (a command run inside a longer-lived process, e.g. a test,
    leaves the ``fastcidr`` logger as it found it)."""
    global _cli_handler
    if _cli_handler is not None:
        _root.removeHandler(_cli_handler)
        _cli_handler = None
        _root.setLevel(logging.NOTSET)


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is when a record comes (not the one it was made with,
    which a caller may have replaced and closed since)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property  # type: ignore[override]
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:
        pass


class Progress:
    """A ``\\r``-updated line on a terminal: ``importing: 120,000 objects`` (or ``12,000/50,000``).

    ``stream`` defaults to ``sys.stderr`` and is used only if it is a TTY (``enabled`` overrides
    the test). Updates are throttled to ``interval`` seconds, and none is drawn in the first
    ``delay`` seconds; :meth:`done` erases the line, so the
    command's own output starts on a clean line. :meth:`ticking` redraws the line from a thread,
    with the time elapsed, while one long call runs (a server start-up)."""

    def __init__(self, label: str, *, total: Optional[int] = None, unit: str = "objects",
                 stream: Any = "stderr", enabled: Optional[bool] = None, interval: float = 0.1,
                 delay: float = 0.0) -> None:
        if stream == "stderr":
            stream = sys.stderr
        if enabled is None:
            try:
                enabled = stream is not None and bool(stream.isatty())
            except (AttributeError, ValueError):  # closed or not a file
                enabled = False
        self.enabled = bool(enabled) and stream is not None
        self.label = label
        self.total = total
        self.unit = unit
        self._stream = stream
        self._interval = interval
        self._start = time.monotonic()
        # nothing is drawn before ``delay`` seconds: a quick job never flashes a line
        self._last = self._start + delay - interval
        self._width = 0
        self._count = 0
        self._lock = threading.Lock()
        self._ticker: Optional[threading.Thread] = None
        self._stop = threading.Event()

    def update(self, count: int, *, label: Optional[str] = None, force: bool = False) -> None:
        if not self.enabled:
            return
        self._count = count
        if label is not None:
            self.label = label
        now = time.monotonic()
        if force or now - self._last >= self._interval:
            self._last = now
            self._draw(now)

    def _draw(self, now: float) -> None:
        if self.total:
            text = f"{self.label}: {self._count:,}/{self.total:,} {self.unit} ({100 * self._count // self.total}%)"
        elif self._count:
            text = f"{self.label}: {self._count:,} {self.unit}"
        else:
            text = f"{self.label}... {now - self._start:.1f} s"
        with self._lock:
            pad = " " * max(0, self._width - len(text))
            self._width = len(text)
            try:
                self._stream.write("\r" + text + pad)
                self._stream.flush()
            except (OSError, ValueError):
                self.enabled = False

    def ticking(self) -> "Progress":
        """Redraw every ``interval`` seconds from a daemon thread until :meth:`done`."""
        if self.enabled and self._ticker is None:
            def tick() -> None:
                first = max(0.0, self._last + self._interval - time.monotonic())
                if self._stop.wait(first):
                    return
                while True:
                    self._draw(time.monotonic())
                    if self._stop.wait(self._interval):
                        return
            self._ticker = threading.Thread(target=tick, name="fastcidr-progress", daemon=True)
            self._ticker.start()
        return self

    def done(self) -> None:
        """Erase the line (nothing was written when not enabled)."""
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join()
            self._ticker = None
        if not self.enabled or not self._width:
            return
        with self._lock:
            try:
                self._stream.write("\r" + " " * self._width + "\r")
                self._stream.flush()
            except (OSError, ValueError):
                pass
            self._width = 0

    def __enter__(self) -> "Progress":
        return self

    def __exit__(self, *exc: object) -> None:
        self.done()
