"""``fastcidr explain`` (issue 13 item 4): kubectl's layout for every served kind and field path,
from the field table of ``fastcidr.k8s.schema``."""
from __future__ import annotations

import types

import pytest

from fastcidr import cli
from fastcidr.k8s import resources
from fastcidr.k8s.schema import KINDS, Field


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> "tuple[int, str, str]":
    capsys.readouterr()
    status = cli.main(["explain", *args])
    out = capsys.readouterr()
    return status, out.out, out.err


def test_every_kind_and_every_field_path_explains(backend: types.ModuleType,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    for res in resources.OBJECT_KINDS:
        status, out, err = _run(capsys, res.short_names[0] if res.short_names else res.singular)
        assert (status, err) == (0, "")
        head = ([f"GROUP:      {res.group}"] if res.group else []) + [f"KIND:       {res.kind}",
                                                                       f"VERSION:    {res.version}", ""]
        assert out.splitlines()[:len(head)] == head
        assert "\nDESCRIPTION:\n    " in out and "\nFIELDS:\n  apiVersion\t<string>\n" in out

        def walk(prefix: str, f: Field) -> None:
            for name, sub in f.fields.items():
                path = f"{prefix}.{name}"
                status, text, err = _run(capsys, path)
                assert (status, err) == (0, ""), path
                assert f"FIELD: {name} <{sub.type}>" in text
                if sub.fields:
                    assert "\nFIELDS:\n" in text
                    walk(path, sub)

        walk(res.plural, KINDS[res.kind])


def test_explain_errors_and_recursive(backend: types.ModuleType, capsys: pytest.CaptureFixture[str]) -> None:
    assert _run(capsys, "pods") == (1, "", 'error: the server doesn\'t have a resource type "pods"\n')
    assert _run(capsys, "svc.spec.nope") == (1, "", 'error: field "nope" does not exist\n')
    status, out, _ = _run(capsys, "svc.spec.ports", "--recursive")
    assert status == 0
    assert out.splitlines()[-6:] == ["  appProtocol\t<string>", "  name\t<string>", "  nodePort\t<integer>",
                                     "  port\t<integer> -required-", "  protocol\t<string>",
                                     "  targetPort\t<IntOrString>"]
    status, out, _ = _run(capsys, "servicecidrs.spec.cidrs")
    assert status == 0 and "FIELD: cidrs <[]string>" in out
