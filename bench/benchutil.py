"""Helpers shared by the benchmark modules.

Conventions:
- peers sit side by side under the same pytest-benchmark ``group``; fastcidr's entries have
  "fastcidr" in their id (``scripts/plot_bench.py`` colours them);
- when a round times a batch of operations, ``extra_info["ops"]`` holds the batch size so the
  plot and the report divide by it (ns per operation);
- states (fill levels) are prepared outside the timed region: ``timed_batch`` builds a fresh
  state in the pedantic ``setup`` of every round.
"""
from __future__ import annotations

from collections import deque
from itertools import repeat, starmap
from typing import Any, Callable, Iterable, Tuple


def call_n(op: Callable[[], Any], n: int) -> None:
    """``n`` calls of a zero-argument ``op`` in a C-level loop (no Python loop overhead)."""
    deque(starmap(op, repeat((), n)), maxlen=0)


def map_all(op: Callable[[Any], Any], args: Iterable[Any]) -> None:
    """``op(x)`` for every x, in a C-level loop."""
    deque(map(op, args), maxlen=0)


def timed_batch(
    benchmark: Any,
    fresh: Callable[[], Tuple[Callable[..., Any], Any]],
    ops: int,
    rounds: int = 30,
    mapped: bool = False,
) -> None:
    """Time ``ops`` operations per round on a state that ``fresh()`` builds outside the timer.

    ``fresh()`` returns ``(op, args)``: with ``mapped=False`` the round is ``ops`` calls of
    ``op()``; with ``mapped=True`` it is ``op(x) for x in args`` (``len(args) == ops``).
    """
    benchmark.extra_info["ops"] = ops

    def setup() -> Tuple[Tuple[Any, ...], dict]:
        op, args = fresh()
        return (op, args), {}

    def run(op: Callable[..., Any], args: Any) -> None:
        if mapped:
            deque(map(op, args), maxlen=0)
        else:
            deque(starmap(op, repeat((), ops)), maxlen=0)

    benchmark.pedantic(run, setup=setup, rounds=rounds, warmup_rounds=1)
