r"""Manifests: objects read from files or stdin, as JSON or (multi-document) YAML, as Kubernetes
reads them.

kubectl converts YAML to JSON with sigs.k8s.io/yaml, whose resolver is go-yaml v2's (YAML 1.1),
so :func:`load_yaml` resolves plain scalars the way it does, not as PyYAML's SafeLoader: ``y``,
``n``, ``yes``, ``no``, ``on``, ``off`` (any case form go-yaml lists) are booleans, integers are Go's
``ParseInt(s, 0, 64)`` after ``_`` is dropped (``0777`` = 511, ``0o17``, ``0x1F``, ``0b11``),
timestamps stay strings, non-string keys become their JSON text (``true``, ``1``), and (as the
apiserver's strict decoding does) a key given twice in one mapping is refused. A label,
annotation, name or namespace that is not a string is refused with the error kubectl prints
(``json: cannot unmarshal bool into Go struct field ObjectMeta.metadata.labels of type string``).

>>> load_yaml("a: yes\nb: 0777\nc: 2024-01-01\nd: '1'\n")
[{'a': True, 'b': 511, 'c': '2024-01-01', 'd': '1'}]
"""
from __future__ import annotations

import json
import os
import sys
from typing import (
    Any,
    Dict,
    List,
    Tuple,
)

from .kubectl_errors import CommandError
from .output import _yaml_module


def _read_source(path: str) -> Tuple[str, str]:
    """(text, source name as kubectl quotes it in errors)."""
    if path == "-":
        return sys.stdin.read(), "STDIN"
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read(), path
    except OSError as exc:
        raise CommandError(f'the path "{path}" does not exist' if not os.path.exists(path)
                           else f"{path}: {exc.strerror}") from None


def parse_manifests(text: str, source: str) -> List[Dict[str, Any]]:
    """Objects from JSON or (multi-document) YAML; ``List``s are flattened into their items."""
    stripped = text.lstrip()
    documents: List[Any]
    if stripped.startswith("{") or stripped.startswith("["):
        try:
            parsed = json.loads(text)
        except ValueError as exc:
            raise CommandError(f"error parsing {source}: {exc}") from None
        documents = parsed if isinstance(parsed, list) else [parsed]
    else:
        yaml = _yaml_module()
        try:
            documents = load_yaml(text)
        except (yaml.YAMLError, ValueError) as exc:
            raise CommandError(f"error parsing {source}: error converting YAML to JSON: {yaml_error_text(exc)}") from None
    objects: List[Dict[str, Any]] = []

    def add(doc: Any) -> None:
        if doc is None:
            return
        if not isinstance(doc, dict):
            raise CommandError(f'error validating "{source}": error validating data: '
                               f"invalid object: expected a mapping, got {type(doc).__name__}")
        kind = doc.get("kind")
        if isinstance(kind, str) and kind.endswith("List") and isinstance(doc.get("items"), list):
            for item in doc["items"]:
                add(item)
            return
        _check_metadata(doc, source)
        objects.append(doc)

    for doc in documents:
        add(doc)
    return objects


def _subset(wanted: Any, live: Any) -> bool:
    """Whether applying ``wanted`` over ``live`` would change nothing (an empty patch)."""
    if isinstance(wanted, dict):
        return isinstance(live, dict) and all(_subset(v, live.get(k)) for k, v in wanted.items())
    if isinstance(wanted, list):
        return isinstance(live, list) and len(wanted) == len(live) and all(
            _subset(w, l) for w, l in zip(wanted, live))
    return wanted == live or (wanted in ("", None, {}, []) and live in ("", None, {}, []))



_BOOLS = {**{w: True for w in ("y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON")},
          **{w: False for w in ("n", "N", "no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF")}}
_INT_RE = r"^[-+]?(0[bB][01_]+|0[oO][0-7_]+|0[xX][0-9a-fA-F_]+|[0-9][0-9_]*)$"
_FLOAT_RE = r"^[-+]?(\.[0-9]+|[0-9][0-9_]*(\.[0-9_]*)?)([eE][-+]?[0-9]+)?$|^[-+]?\.(inf|Inf|INF)$|^\.(nan|NaN|NAN)$"
_NULL_RE = r"^(~|null|Null|NULL|)$"
_LOADER: List[Any] = []


def _go_int(text: str) -> Any:
    """Go's ``strconv.ParseInt(text, 0, 64)`` as go-yaml v2 applies it (underscores dropped first);
    what it refuses (``089``) is read as a float, as go-yaml falls back."""
    plain = text.replace("_", "")
    sign, digits = (-1, plain[1:]) if plain.startswith("-") else (1, plain.lstrip("+"))
    lowered = digits.lower()
    try:
        if lowered.startswith("0b"):
            return sign * int(digits[2:], 2)
        if lowered.startswith("0o"):
            return sign * int(digits[2:], 8)
        if lowered.startswith("0x"):
            return sign * int(digits[2:], 16)
        if len(digits) > 1 and digits.startswith("0"):
            return sign * int(digits[1:], 8)
        return sign * int(digits, 10)
    except ValueError:
        return _go_float(text)


def _go_float(text: str) -> Any:
    plain = text.replace("_", "")
    lowered = plain.lower()
    if lowered.endswith(".inf") or lowered == ".nan":
        raise ValueError(f"json: unsupported value: {'NaN' if 'nan' in lowered else ('-Inf' if plain.startswith('-') else '+Inf')}")
    value = float(plain)
    # the JSON kubectl sends carries an integral float as an integer (Go's json.Marshal of 1000.0)
    return int(value) if value.is_integer() and abs(value) < 1e21 else value


def _kubernetes_loader() -> Any:
    """A PyYAML SafeLoader whose scalars and mappings resolve as go-yaml v2's (built once)."""
    if _LOADER:
        return _LOADER[0]
    import re

    yaml = _yaml_module()

    # (made with type(): PyYAML is imported on first use only, and a class statement here would
    # look like a module attribute to stubtest)
    KubernetesLoader: Any = type("KubernetesLoader", (yaml.SafeLoader,), {})

    KubernetesLoader.yaml_implicit_resolvers = {}
    for tag, pattern, first in (
            ("tag:yaml.org,2002:bool", "^(" + "|".join(_BOOLS) + ")$", list("yYnNtTfFoO")),
            ("tag:yaml.org,2002:int", _INT_RE, list("-+0123456789")),
            ("tag:yaml.org,2002:float", _FLOAT_RE, list("-+0123456789.")),
            ("tag:yaml.org,2002:null", _NULL_RE, ["~", "n", "N", ""]),
            ("tag:yaml.org,2002:merge", "^(?:<<)$", ["<"])):
        KubernetesLoader.add_implicit_resolver(tag, re.compile(pattern), first)

    def construct_bool(loader: Any, node: Any) -> bool:
        return _BOOLS[loader.construct_scalar(node)]

    def construct_int(loader: Any, node: Any) -> Any:
        return _go_int(loader.construct_scalar(node))

    def construct_float(loader: Any, node: Any) -> Any:
        return _go_float(loader.construct_scalar(node))

    def construct_timestamp(loader: Any, node: Any) -> str:
        return str(loader.construct_scalar(node))

    def construct_mapping(loader: Any, node: Any) -> Dict[str, Any]:
        loader.flatten_mapping(node)
        out: Dict[str, Any] = {}
        seen: Dict[Any, int] = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            if key is None:
                raise yaml.constructor.ConstructorError(
                    None, None, f"unsupported map key of type: %!s(<nil>), key: <nil>", key_node.start_mark)
            if isinstance(key, bool):
                key = "true" if key else "false"
            elif not isinstance(key, str):
                key = str(key) if not isinstance(key, (list, dict)) else str(key)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"unmarshal errors:\n  line {key_node.start_mark.line + 1}: key "
                    f"\"{key}\" already set in map", key_node.start_mark)
            seen[key] = key_node.start_mark.line
            out[key] = loader.construct_object(value_node, deep=True)
        return out

    KubernetesLoader.add_constructor("tag:yaml.org,2002:bool", construct_bool)
    KubernetesLoader.add_constructor("tag:yaml.org,2002:int", construct_int)
    KubernetesLoader.add_constructor("tag:yaml.org,2002:float", construct_float)
    KubernetesLoader.add_constructor("tag:yaml.org,2002:timestamp", construct_timestamp)
    KubernetesLoader.add_constructor("tag:yaml.org,2002:map", construct_mapping)
    _LOADER.append(KubernetesLoader)
    return KubernetesLoader


def load_yaml(text: Any) -> List[Any]:
    """Every document of a YAML stream (text or bytes), read as Kubernetes reads YAML (see the
    module docstring). The API server's YAML bodies use it too. Raises ``yaml.YAMLError`` or
    ``ValueError``."""
    yaml = _yaml_module()
    return list(yaml.load_all(text, Loader=_kubernetes_loader()))


def yaml_error_text(exc: BaseException) -> str:
    """go-yaml's wording for a YAML error: ``yaml: line N: problem``."""
    problem = getattr(exc, "problem", None)
    mark = getattr(exc, "problem_mark", None)
    if problem is None:
        return str(exc)
    if str(problem).startswith("unmarshal errors"):
        return f"yaml: {problem}"
    return f"yaml: line {mark.line + 1 if mark is not None else 0}: {problem}"


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return "string"


def _check_metadata(doc: Dict[str, Any], source: str) -> None:
    """kubectl's decode errors for ObjectMeta fields of the wrong JSON type (a null label or
    annotation value reads as "", as Go decodes it)."""
    meta = doc.get("metadata")
    if not isinstance(meta, dict):
        return

    def refuse(got: Any, field: str, want: str = "string") -> None:
        raise CommandError(f'unable to decode "{source}": json: cannot unmarshal {_json_type(got)} into Go '
                           f"struct field ObjectMeta.metadata.{field} of type {want}")

    for field in ("name", "namespace", "generateName"):
        if field in meta and meta[field] is not None and not isinstance(meta[field], str):
            refuse(meta[field], field)
    for field in ("labels", "annotations"):
        values = meta.get(field)
        if values is None:
            continue
        if not isinstance(values, dict):
            refuse(values, field, "map[string]string")
        for key, value in list(values.items()):
            if value is None:
                values[key] = ""
            elif not isinstance(value, str):
                refuse(value, field)
