"""The CLI's parsers on arbitrary input: a JSONPath template, a label selector or a YAML manifest
either works or fails with the error kubectl would print, never with a traceback."""
from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fastcidr.cli.kubectl_errors import CommandError
from fastcidr.cli.columns import parse_custom_columns, sort_objects
from fastcidr.cli.jsonpath import render, render_output
from fastcidr.cli.manifests import parse_manifests
from fastcidr.k8s.selectors import SelectorError, matches_labels, parse_label_selector

DOC: Any = {"kind": "List", "items": [
    {"metadata": {"name": "a", "labels": {"n": "1", "x.y/z": "q"}}, "spec": {"ports": [{"port": 80}, {"port": 443}]}},
    {"metadata": {"name": "b"}, "spec": {"ports": [], "flag": True, "ratio": 1.5, "none": None}},
]}
TEMPLATE_ALPHABET = st.sampled_from(list("{}[]().,*?@$'\"\\:=!<>&|-+ 0123456789abnrmesxyz\t\n") +
                                    ["range ", "end", ".items", ".metadata", ".name", "..", "[*]", "[?(@.", "=="])
SELECTOR_ALPHABET = st.sampled_from(list("=!(),<> abn1x-_./\t") + ["in ", "notin ", "==", "!=", "a", "b"])


@settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))
@given(parts=st.lists(TEMPLATE_ALPHABET, max_size=25))
def test_any_template_prints_or_fails_as_kubectl(parts: Any) -> None:
    template = "".join(parts)
    for output in (f"jsonpath={template}", f"jsonpath-as-json={template}"):
        try:
            assert isinstance(render_output(output, DOC), str)
        except CommandError as exc:
            assert str(exc).startswith(("error parsing jsonpath", "error executing jsonpath"))
    try:
        columns = parse_custom_columns(f"A:{template}")
        from fastcidr.cli.columns import custom_columns_table

        custom_columns_table(DOC["items"], columns)
        sort_objects(DOC["items"], template)
    except CommandError:
        pass


@settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))
@given(parts=st.lists(SELECTOR_ALPHABET, max_size=20))
def test_any_selector_parses_or_is_refused(parts: Any) -> None:
    text = "".join(parts)
    try:
        requirements = parse_label_selector(text)
    except SelectorError as exc:
        assert str(exc)
        return
    for labels in ({}, {"a": "1"}, {"a": "b", "b": "x"}, {"n": "-3"}):
        assert matches_labels(requirements, labels) in (True, False)


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(parts=st.lists(st.sampled_from(list("ab:-{}[],'\"!&*?|>#\n 01yn.~") + ["0x", "0o", ".inf", "<<", "metadata:",
                                                                        "labels:", "\n  "]), max_size=40))
def test_any_yaml_reads_or_fails_with_a_message(parts: Any) -> None:
    text = "".join(parts)
    try:
        docs = parse_manifests(text, "fuzz.yaml")
    except CommandError as exc:
        assert str(exc)
        return
    assert all(isinstance(d, dict) for d in docs)


def test_render_of_a_known_template() -> None:
    assert render("{.items[?(@.metadata.labels.n=='1')].spec.ports[*].port}", DOC) == "80 443"
