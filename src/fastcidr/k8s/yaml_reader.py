r"""YAML read as Kubernetes reads it, for the CLI's manifests and the API server's YAML bodies.

kubectl converts YAML to JSON with sigs.k8s.io/yaml, whose resolver is go-yaml v2's (YAML 1.1),
so :func:`load_yaml` resolves plain scalars the way it does, not as PyYAML's SafeLoader: ``y``,
``n``, ``yes``, ``no``, ``on``, ``off`` (any case form go-yaml lists) are booleans, integers are Go's
``ParseInt(s, 0, 64)`` after ``_`` is dropped (``0777`` = 511, ``0o17``, ``0x1F``, ``0b11``),
timestamps stay strings, non-string keys become their JSON text (``true``, ``1``), and (as the
apiserver's strict decoding does) a key given twice in one mapping is refused.

>>> load_yaml("a: yes\nb: 0777\nc: 2024-01-01\nd: '1'\n")
[{'a': True, 'b': 511, 'c': '2024-01-01', 'd': '1'}]
"""
from __future__ import annotations

from typing import Any, Dict, List

_BOOLS = {**{w: True for w in ("y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON")},
          **{w: False for w in ("n", "N", "no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF")}}
_INT_RE = r"^[-+]?(0[bB][01_]+|0[oO][0-7_]+|0[xX][0-9a-fA-F_]+|[0-9][0-9_]*)$"
_FLOAT_RE = r"^[-+]?(\.[0-9]+|[0-9][0-9_]*(\.[0-9_]*)?)([eE][-+]?[0-9]+)?$|^[-+]?\.(inf|Inf|INF)$|^\.(nan|NaN|NAN)$"
_NULL_RE = r"^(~|null|Null|NULL|)$"
_LOADER: List[Any] = []
_JSON_TYPES = ((bool, "bool"), (str, "string"), (int, "number"), (float, "number"),
               (list, "array"), (dict, "object"), (type(None), "null"))


def json_type_name(value: Any) -> str:
    """The JSON type Go's encoding/json names in "cannot unmarshal <type> into ..." (kubectl's
    and the apiserver's decode errors alike)."""
    return next((name for kind, name in _JSON_TYPES if isinstance(value, kind)), "value")


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

    import yaml  # type: ignore[import-untyped]  # a dependency; imported by the YAML paths only

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
    import yaml  # type: ignore[import-untyped]  # a dependency; imported by the YAML paths only
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
