"""A coverage-guided (atheris / libFuzzer) fuzz of the core's address parser and snapshot restore,
differential between the compiled core and the pure twin.

Each input is split by its first byte: the address and network parsers (``parse_ip``,
``parse_cidr``, ``canonical_ip``, ``canonical_cidr``) get the rest as text, ``CIDRAllocator`` and
``MultiCIDRAllocator.restore`` get it as a snapshot (the seeds hold FCAL versions 2 and 1, FCMA versions 3 and 2). Both backends must agree: the same result, or
both refusing with the documented error (``InvalidAddressError``, ``SnapshotError``); a restored
allocator must snapshot back to an equal allocator. Any other exception, a disagreement or a crash
of the interpreter is a finding (libFuzzer saves the input as ``crash-*``).

The suite runs it briefly (tests/test_core_atheris.py). A longer run by hand, for example::

    .venv/bin/python tests/fuzz_core_atheris.py --write-seeds corpus/
    .venv/bin/python tests/fuzz_core_atheris.py -max_total_time=1800 corpus/

Python-level coverage guides the mutations; the compiled extension is not instrumented unless it
is rebuilt with clang's ``-fsanitize=fuzzer-no-link``, so inside C the fuzz is blind (but a crash
there still kills the process and is reported).
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Callable, Tuple

import atheris

with atheris.instrument_imports():
    from fastcidr import _backend, errors

if _backend.compiled is None:  # pragma: no cover - the suite fails earlier
    raise SystemExit(f"the compiled core is not importable: {_backend.compile_error}")
COMPILED: Any = _backend.compiled
PURE: Any = _backend.pure

PARSERS = ("parse_ip", "parse_cidr", "canonical_ip", "canonical_cidr")
EXPECTED = (errors.InvalidAddressError, errors.SnapshotError)


def _outcome(call: Callable[[], Any]) -> Tuple[str, Any]:
    try:
        return "ok", call()
    except EXPECTED as exc:
        return "refused", type(exc).__name__
    except (TypeError, OverflowError, MemoryError) as exc:  # not expected: reported below
        return "unexpected", f"{type(exc).__name__}: {exc}"


def _check_parser(name: str, text: str) -> None:
    compiled = _outcome(lambda: getattr(COMPILED, name)(text))
    pure = _outcome(lambda: getattr(PURE, name)(text))
    if compiled != pure or "unexpected" in (compiled[0], pure[0]):
        raise AssertionError(f"{name}({text!r}): compiled {compiled} != pure {pure}")


def _check_restore(cls_name: str, data: bytes) -> None:
    results = []
    for module in (COMPILED, PURE):
        cls = getattr(module, cls_name)
        outcome = _outcome(lambda: cls.restore(data))
        if outcome[0] == "ok":
            restored = outcome[1]
            again = cls.restore(restored.snapshot())
            outcome = ("ok", (again.snapshot() == restored.snapshot(), len(restored), restored.cidr
                              if cls_name == "CIDRAllocator" else sorted(restored.cidrs)))
        results.append(outcome)
    if results[0] != results[1] or any(r[0] == "unexpected" for r in results):
        raise AssertionError(f"{cls_name}.restore({data[:80]!r}...): compiled {results[0]} != "
                             f"pure {results[1]}")


def one_input(data: bytes) -> None:
    if not data:
        return
    selector, rest = data[0], data[1:]
    if selector < 128:
        text = rest.decode("utf-8", "replace")
        _check_parser(PARSERS[selector % len(PARSERS)], text)
    elif selector < 192:
        _check_restore("CIDRAllocator", rest)
    else:
        _check_restore("MultiCIDRAllocator", rest)


def seeds() -> list:
    """Valid inputs to start from: addresses, networks and real snapshots."""
    found = [bytes([0]) + b"10.0.0.1", bytes([1]) + b"10.0.0.0/24", bytes([2]) + b"2001:db8::1",
             bytes([3]) + b"2001:db8::/64", bytes([0]) + b"::ffff:1.2.3.4"]
    single = COMPILED.CIDRAllocator("10.96.0.0/28", seed=1)
    single.allocate_many(3)
    found.append(bytes([128]) + single.snapshot())  # FCAL version 2: one runs record
    # the golden files of the test-suite: every record kind of version 2, and version 1
    golden = Path(__file__).resolve().parent / "data" / "snapshots"
    found.append(bytes([129]) + (golden / "fcal-v2-ipv4-14-mixed.bin").read_bytes())
    sparse = COMPILED.CIDRAllocator("fd00::/64", seed=3)
    sparse.allocate_many(5)
    found.append(bytes([130]) + sparse.snapshot())
    found.append(bytes([131]) + (golden / "fcal-v1-ipv4-24.bin").read_bytes())
    multi = COMPILED.MultiCIDRAllocator(seed=1)
    multi.add("10.96.0.0/28")
    multi.add("2001:db8::/120")
    multi.allocate_next()
    found.append(bytes([200]) + multi.snapshot())  # FCMA version 3
    found.append(bytes([201]) + (golden / "fcma-v2-dual.bin").read_bytes())  # FCMA version 2
    return found


if __name__ == "__main__":
    for seed in seeds():  # the seeds themselves must pass
        one_input(seed)
    if len(sys.argv) == 3 and sys.argv[1] == "--write-seeds":  # a starting corpus directory
        import os

        os.makedirs(sys.argv[2], exist_ok=True)
        for number, seed in enumerate(seeds()):
            with open(os.path.join(sys.argv[2], f"seed-{number}"), "wb") as handle:
                handle.write(seed)
        raise SystemExit(0)
    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()
