"""Manifests read as kubectl reads YAML (issue 13 item 4; sigs.k8s.io/yaml's go-yaml v2 resolver,
checked against kubectl 1.32 ``create --dry-run=client``), and label selectors with ``>``/``<``."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import pytest

from fastcidr.cli.kubectl_errors import CommandError
from fastcidr.cli.manifests import load_yaml, parse_manifests
from fastcidr.k8s.selectors import SelectorError, matches_labels, parse_label_selector

SERVICE = "apiVersion: v1\nkind: Service\nmetadata:\n  name: t\n{meta}spec:\n  ports: [{{port: {port}}}]\n"


@pytest.mark.parametrize("text, value", [
    ("0777", 511), ("0x1F", 31), ("012", 10), ("0o17", 15), ("1_000", 1000), ("1e3", 1000),
    ("+12", 12), ("0b11", 3), ("1.0", 1), ("-0", 0), ("089", 89), ("80", 80)])
def test_numbers_as_kubectl_reads_them(text: str, value: int) -> None:
    [doc] = parse_manifests(SERVICE.format(meta="", port=text), "t.yaml")
    assert doc["spec"]["ports"][0]["port"] == value and type(doc["spec"]["ports"][0]["port"]) is int


@pytest.mark.parametrize("text, value", [
    ("yes", True), ("on", True), ("y", True), ("Y", True), ("True", True), ("n", False), ("NO", False),
    ("off", False), ("2024-01-01", "2024-01-01"), ("2024-01-01T00:00:00Z", "2024-01-01T00:00:00Z"),
    ("~", None), ("null", None), ("'yes'", "yes"), ("!!str 5", "5"), ('"0777"', "0777"), ("x y", "x y")])
def test_scalars_as_kubectl_reads_them(text: str, value: object) -> None:
    assert load_yaml(f"a: {text}\n") == [{"a": value}]


def test_keys_become_json_text_and_duplicates_are_refused() -> None:
    assert load_yaml("{1: x, 2.5: p, on: w, n: z}") == [{"1": "x", "2.5": "p", "true": "w", "false": "z"}]
    with pytest.raises(CommandError, match=r'line 5: key "a" already set in map'):
        parse_manifests(SERVICE.format(meta="  labels: {a: p, a: q}\n", port=80), "t2.yaml")
    with pytest.raises(CommandError, match="already set in map"):
        parse_manifests(SERVICE.format(meta="  labels: {a: p}\n  labels: {b: q}\n", port=80), "t4.yaml")


@pytest.mark.parametrize("meta, message", [
    ("  annotations: {a: yes}\n", "cannot unmarshal bool into Go struct field ObjectMeta.metadata.annotations of type string"),
    ("  labels: {a: 0777}\n", "cannot unmarshal number into Go struct field ObjectMeta.metadata.labels of type string"),
    ("  labels:\n    a: [x]\n", "cannot unmarshal array into Go struct field ObjectMeta.metadata.labels of type string"),
    ("  labels: x\n", "cannot unmarshal string into Go struct field ObjectMeta.metadata.labels of type map[string]string"),
])
def test_non_string_metadata_values_are_refused_as_kubectl_does(meta: str, message: str) -> None:
    with pytest.raises(CommandError) as info:
        parse_manifests(SERVICE.format(meta=meta, port=80), "t.yaml")
    assert str(info.value) == f'unable to decode "t.yaml": json: {message}'


def test_a_numeric_name_is_refused_and_null_label_values_read_as_empty() -> None:
    with pytest.raises(CommandError, match="cannot unmarshal number into Go struct field ObjectMeta.metadata.name"):
        parse_manifests(SERVICE.format(meta="", port=80).replace("name: t", "name: 12"), "t.yaml")
    [doc] = parse_manifests(SERVICE.format(meta="  labels: {a: null, b: ''}\n", port=80), "t.yaml")
    assert doc["metadata"]["labels"] == {"a": "", "b": ""}


def test_infinity_cannot_become_json() -> None:
    with pytest.raises(CommandError, match=r"unsupported value: \+Inf"):
        parse_manifests(SERVICE.format(meta="  annotations: {a: .inf}\n", port=80), "t.yaml")


def test_gt_lt_selectors() -> None:
    labels = [{"n": "3"}, {"n": "1"}, {"n": "x"}, {}, {"n": "-2"}]
    assert [matches_labels(parse_label_selector("n>1"), lab) for lab in labels] == [True, False, False, False, False]
    assert [matches_labels(parse_label_selector("n<1"), lab) for lab in labels] == [False, False, False, False, True]
    assert [matches_labels(parse_label_selector("n > 0,n<3"), lab) for lab in labels] == [False, True, False, False, False]
    for bad in ("n>a", "n<1.5", "n>", "n>99999999999999999999"):
        with pytest.raises(SelectorError, match="for 'Gt', 'Lt' operators, the value must be an integer"):
            parse_label_selector(bad)


# -- the API server's YAML bodies go through the same loader --------------------------------------

SERVICES_PATH = "/api/v1/namespaces/default/services"


@pytest.fixture(params=[False, True], ids=["compiled", "pure"])
def served(request: pytest.FixtureRequest, tmp_path: "Path") -> "Iterator[Any]":
    from tests.serve_process import ServeProcess

    process = ServeProcess(tmp_path, pure=request.param)
    try:
        yield process
    finally:
        process.stop()


def test_the_server_reads_yaml_bodies_as_kubectl_does(served: Any) -> None:
    body = b"metadata:\n  name: from-yaml\n  annotations: {n: '0777', d: 2024-01-01}\nspec:\n  ports: [{port: 0x50}]\n"
    code, _, obj = served.request("POST", SERVICES_PATH, body, content_type="application/yaml")
    assert code == 201, obj
    # the key n is the boolean false in YAML 1.1, so the annotation is "false" (as with kubectl)
    assert obj["metadata"]["annotations"] == {"false": "0777", "d": "2024-01-01"}
    assert obj["spec"]["ports"][0]["port"] == 80
    duplicate = b"metadata:\n  name: twice\n  name: again\nspec:\n  ports: [{port: 80}]\n"
    code, _, status = served.request("POST", SERVICES_PATH, duplicate, content_type="application/yaml")
    assert code == 400 and 'key "name" already set in map' in status["message"], status
    two = b"metadata: {name: a}\n---\nmetadata: {name: b}\n"
    assert served.request("POST", SERVICES_PATH, two, content_type="application/yaml")[0] == 400
    boolean = b"metadata:\n  name: flagged\n  labels: {enabled: yes}\nspec:\n  ports: [{port: 80}]\n"
    code, _, status = served.request("POST", SERVICES_PATH, boolean, content_type="application/yaml")
    assert code in (400, 422), status  # a boolean label value is refused, never stored as "True"
    assert served.request("GET", SERVICES_PATH + "/flagged")[0] == 404
