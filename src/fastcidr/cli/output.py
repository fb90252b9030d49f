"""kubectl's output formats: Go's tabwriter tables, ``-o json``, ``-o yaml`` and RFC 1123 times.

>>> print(tabwrite("NAME\\tCIDRS\\tAGE\\nkubernetes\\t10.96.0.0/28\\t17d\\n"), end="")
NAME         CIDRS          AGE
kubernetes   10.96.0.0/28   17d
"""
from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import (
    Any,
    List,
    Optional,
    Sequence,
)

from ..k8s.printers import parse_timestamp
from .kubectl_errors import CommandError

_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def rfc1123z(timestamp: Optional[str]) -> str:
    """Go's ``time.RFC1123Z`` (``Mon, 02 Jan 2006 15:04:05 -0700``), locale-independent."""
    value = parse_timestamp(timestamp)
    if value is None:
        value = datetime(1, 1, 1, tzinfo=timezone.utc)  # Go's zero time, as kubectl prints it
    offset = value.utcoffset() or (value - value)
    minutes = int(offset.total_seconds()) // 60
    sign = "+" if minutes >= 0 else "-"
    minutes = abs(minutes)
    return (
        f"{_DAYS[value.weekday()]}, {value.day:02d} {_MONTHS[value.month - 1]} {value.year:04d} "
        f"{value.hour:02d}:{value.minute:02d}:{value.second:02d} {sign}{minutes // 60:02d}{minutes % 60:02d}"
    )


def tabwrite(text: str, minwidth: int = 6, padding: int = 3) -> str:
    """Align tab-separated cells the way Go's ``text/tabwriter`` does (padding with spaces).

    A cell is text terminated by a tab; the text after a line's last tab is not part of any
    column and is never padded, so no line ends in spaces. A column block is a run of consecutive
    lines that all have a cell in that column; its width is ``max(minwidth, widest cell + padding)``.
    kubectl's tables use ``minwidth=6, padding=3``; ``kubectl describe`` uses ``0, 2``.
    """
    trailing_newline = text.endswith("\n")
    body = text[:-1] if trailing_newline else text
    lines = [line.split("\t") for line in body.split("\n")]
    out: List[str] = []
    widths: List[int] = []

    def write_lines(line0: int, line1: int) -> None:
        for i in range(line0, line1):
            cells = lines[i]
            parts = []
            for j, cell in enumerate(cells):
                if j < len(widths):
                    parts.append(cell + " " * (widths[j] - len(cell)))
                else:
                    parts.append(cell)
            out.append("".join(parts))

    def format_block(line0: int, line1: int) -> None:
        column = len(widths)
        this = line0
        while this < line1:
            if column >= len(lines[this]) - 1:
                this += 1
                continue
            write_lines(line0, this)
            line0 = this
            width = minwidth
            while this < line1 and column < len(lines[this]) - 1:
                width = max(width, len(lines[this][column]) + padding)
                this += 1
            widths.append(width)
            format_block(line0, this)
            widths.pop()
            line0 = this
        write_lines(line0, line1)

    format_block(0, len(lines))
    result = "\n".join(out)
    return result + "\n" if trailing_newline else result


def table(rows: Sequence[Sequence[str]]) -> str:
    """kubectl's table: each column as wide as its widest cell plus 3 spaces, last one unpadded."""
    if not rows:
        return ""
    return tabwrite("".join("\t".join(row) + "\n" for row in rows))


def to_json(obj: Any) -> str:
    """kubectl's ``-o json``: 4-space indent, keys sorted, and Go's HTML-safe escapes."""
    text = json.dumps(obj, indent=4, sort_keys=True, ensure_ascii=False)
    for char, escape in (("&", "\\u0026"), ("<", "\\u003c"), (">", "\\u003e"),
                         ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        text = text.replace(char, escape)
    return text + "\n"


def to_yaml(obj: Any) -> str:
    """kubectl's ``-o yaml``: keys sorted, block style, and strings that would read back as
    something else (``"False"``, timestamps, ``""``) in double quotes, as go-yaml writes them."""
    return _yaml_module().dump(obj, Dumper=_kubectl_dumper(), default_flow_style=False, sort_keys=True,
                               allow_unicode=True, width=80)


def _yaml_module() -> Any:
    try:
        import yaml  # type: ignore[import-untyped]  # only the YAML paths pay for PyYAML
    except ImportError:
        raise CommandError("YAML needs PyYAML, a dependency of fastcidr: pip install PyYAML") from None
    return yaml


_DUMPER: List[Any] = []


def _kubectl_dumper() -> Any:
    """A SafeDumper whose strings are quoted as go-yaml quotes them (built on first use)."""
    if _DUMPER:
        return _DUMPER[0]
    yaml = _yaml_module()

    def represent_str(dumper: Any, data: str) -> Any:
        style = None
        if "\n" in data:
            style = "|"
        elif dumper.resolve(yaml.ScalarNode, data, (True, False)) != "tag:yaml.org,2002:str":
            style = '"'
        return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)

    dumper: Any = type("KubectlDumper", (yaml.SafeDumper,), {})
    dumper.add_representer(str, represent_str)
    _DUMPER.append(dumper)
    return dumper

