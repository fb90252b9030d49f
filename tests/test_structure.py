"""The shape of the house: module sizes, layering and where names are defined.

These read the source tree (no import of what they check, except the import-circle check, which
reads the modules' own ``import`` statements)."""
from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Dict, List, Set

SRC = Path(__file__).resolve().parent.parent / "src" / "fastcidr"
# the Kubernetes layer, the command line, the server and the stores (the core has its own checks)
LAYERS = ("k8s", "cli", "server", "store")


def _modules(*parts: str) -> List[Path]:
    found: List[Path] = []
    for part in parts:
        root = SRC / part
        found += sorted(root.rglob("*.py")) if root.is_dir() else [root.with_suffix(".py")]
    return found


def _name(path: Path) -> str:
    rel = path.relative_to(SRC.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def test_no_module_over_1000_lines() -> None:
    sizes = {_name(p): len(p.read_text(encoding="utf-8").splitlines())
             for p in _modules(*LAYERS, "errors", "_lazy", "__main__")}
    assert len(sizes) > 20
    too_big = {name: n for name, n in sizes.items() if n > 1000}
    assert not too_big, too_big


def test_no_compiled_module_over_1000_lines() -> None:
    """The Cython modules and their shared .pxd code too: a part that grows past the limit moves
    into a module (or a .pxd of inline functions) of its own."""
    sources = sorted(SRC.glob("*.pyx")) + sorted(SRC.glob("*.pxd"))
    sizes = {p.name: len(p.read_text(encoding="utf-8").splitlines()) for p in sources}
    assert {"_core.pyx", "_multi.pyx", "_tree.pyx", "_addr.pyx"} <= set(sizes)
    too_big = {name: n for name, n in sizes.items() if n > 1000}
    assert not too_big, too_big


def test_no_core_module_over_1000_lines() -> None:
    """The pure-Python twins and the rules of the core as well."""
    sources = [p for p in SRC.glob("_*.py") if p.name != "__main__.py"]
    sizes = {p.name: len(p.read_text(encoding="utf-8").splitlines()) for p in sources}
    assert {"_core_twin.py", "_multi_twin.py", "_rules.py"} <= set(sizes)
    too_big = {name: n for name, n in sizes.items() if n > 1000}
    assert not too_big, too_big


def _from_module(node: ast.ImportFrom, package: str) -> str:
    """The absolute module a ``from ... import`` names, relative imports resolved in ``package``."""
    if not node.level:
        return node.module or ""
    base = package.split(".")
    base = base[: len(base) - node.level + 1]
    return ".".join(base + ([node.module] if node.module else []))


def _imports(path: Path) -> Set[str]:
    """The fastcidr modules ``path`` imports at module level (not inside functions)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = _name(path) if path.name == "__init__.py" else _name(path).rpartition(".")[0]
    found: Set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.If):  # `if TYPE_CHECKING:` imports are for the type checker only
            continue
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("fastcidr"))
        elif isinstance(node, ast.ImportFrom):
            module = _from_module(node, package)
            if not module.startswith("fastcidr"):
                continue
            submodules = set()
            for alias in node.names:  # `from . import x` imports the module x
                candidate = f"{module}.{alias.name}"
                if (SRC.parent / candidate.replace(".", "/")).with_suffix(".py").exists() or \
                        (SRC.parent / candidate.replace(".", "/") / "__init__.py").exists():
                    submodules.add(candidate)
            # `from . import x` of a package's own submodule needs the package initialised
            # already, not imported again: only the submodule is an edge then
            found.update(submodules or {module})
    return found


def test_no_import_circle() -> None:
    graph: Dict[str, Set[str]] = {_name(p): _imports(p) for p in _modules(*LAYERS, "errors", "_lazy")}
    # a package imports its parent's __init__ implicitly: only explicit edges count here
    state: Dict[str, int] = {}
    stack: List[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in graph:
                continue
            if state.get(nxt) == 1:
                cycle = stack[stack.index(nxt):] + [nxt]
                raise AssertionError("import circle: " + " -> ".join(cycle))
            if nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module)


# Kubernetes vocabulary: resource names, kinds, the labels and fields the layer reads
_K8S_WORDS = re.compile(
    r"servicecidr|ipaddress|\bservices?\b|\bService\b|kubernetes|Kubernetes|parentRef|clusterIP|"
    r"ipFamil|managed-by|ip-family|metadata|resourceVersion|namespace|\blabels?\b",
)


def test_store_names_no_kubernetes_label_kind_or_field() -> None:
    hits = []
    for path in _modules("store"):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if _K8S_WORDS.search(line):
                hits.append(f"{path.relative_to(SRC)}:{number}: {line.strip()}")
    assert not hits, "\n".join(hits)


def test_store_imports_nothing_of_the_kubernetes_layer() -> None:
    for path in _modules("store"):
        bad = {m for m in _imports(path) if m.startswith(("fastcidr.k8s", "fastcidr.cli", "fastcidr.server"))}
        assert not bad, (path, bad)


def test_resource_names_are_defined_in_one_module() -> None:
    """Plural resource names appear as string literals only in the registry."""
    names = ("servicecidrs", "ipaddresses", "namespaces")
    hits = []
    for path in _modules("k8s", "cli", "server"):
        if path.name == "resources.py" and path.parent.name == "k8s":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                text = node.value
                if text in names or text in ("services", "servicecidrs.networking.k8s.io",
                                             "ipaddresses.networking.k8s.io"):
                    hits.append(f"{path.relative_to(SRC)}:{node.lineno}: {text!r}")
    assert not hits, "\n".join(hits)


def test_cli_and_server_do_not_read_or_write_the_store() -> None:
    """Neither imports ``fastcidr.store`` internals (records, operations, change log): objects go
    through the Cluster and the library's read-only view."""
    for path in _modules("cli", "server"):
        source = path.read_text(encoding="utf-8")
        tree = ast.parse(source)
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                module = node.module or ""
                absolute = module if not node.level else "." * node.level + module
                assert "store.base" not in absolute and "store.sqlite" not in absolute and \
                    "store.memory" not in absolute and "store.etcd" not in absolute, \
                    f"{path.relative_to(SRC)}:{node.lineno} imports {absolute}"
        assert ".store." not in source.replace("cluster.store", ""), path


def _all_imports(path: Path) -> Set[str]:
    """Every fastcidr module ``path`` names in an import, at any depth (function-level included)."""
    package = _name(path) if path.name == "__init__.py" else _name(path).rpartition(".")[0]
    found: Set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("fastcidr"))
        elif isinstance(node, ast.ImportFrom):
            module = _from_module(node, package)
            if module.startswith("fastcidr"):
                found.add(module)
    return found


def test_layers_import_only_downwards() -> None:
    """CLI and server above the k8s layer, the k8s layer above the stores and the core: no
    module reaches up, not even inside a function (the server reads YAML through k8s, not cli)."""
    upward = {"k8s": ("fastcidr.cli", "fastcidr.server"), "server": ("fastcidr.cli",),
              "store": ("fastcidr.k8s", "fastcidr.cli", "fastcidr.server")}
    for layer, forbidden in upward.items():
        for path in _modules(layer):
            bad = {m for m in _all_imports(path) if m.startswith(forbidden)}
            assert not bad, (str(path.relative_to(SRC)), bad)


def test_every_module_has_its_place_in_the_architecture_notes() -> None:
    """docs/architecture.md names every module of the layers above the core (a new one gets a row)."""
    notes = (SRC.parent.parent / "docs" / "architecture.md").read_text(encoding="utf-8")
    missing = [str(p.relative_to(SRC)) for p in _modules("k8s", "cli", "server", "store")
               if p.name != "__init__.py" and f"`{p.name}`" not in notes
               and f"{p.parent.name}/{p.name}" not in notes]
    assert not missing, missing
