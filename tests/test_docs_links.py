"""The project stands on its own: every link of the README and docs/ resolves to a file in the
repository, and no file cites a document that is not in it (``docs/*.md`` citations included)."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Iterator, List, Tuple

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = sorted((ROOT / "docs").glob("*.md"))
PAGES = [ROOT / "README.md", *DOCS]
# Where the project's own files cite documents by name.
CITING = [ROOT / "README.md", *DOCS, *sorted((ROOT / "src").rglob("*.py")),
          *sorted((ROOT / "src").rglob("*.pyx")), *sorted((ROOT / "src").rglob("*.pxd")),
          *sorted((ROOT / "src").rglob("*.h")), *sorted((ROOT / "tests").rglob("*.py")),
          *sorted((ROOT / "bench").rglob("*.py")), *sorted((ROOT / "scripts").rglob("*.py")),
          ROOT / "setup.py", ROOT / "Makefile", ROOT / "pyproject.toml"]

MARKDOWN_LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
DOC_CITATION = re.compile(r"(?<![\w/.-])((?:docs/)?[A-Za-z_-]+\.md)\b")


def _links(page: Path) -> Iterator[Tuple[int, str]]:
    in_code = False
    for number, line in enumerate(page.read_text(encoding="utf-8").splitlines(), 1):
        if line.lstrip().startswith("```"):
            in_code = not in_code
            continue
        if not in_code:
            for target in MARKDOWN_LINK.findall(line):
                yield number, target


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_resolves(page: Path) -> None:
    broken: List[str] = []
    for number, target in _links(page):
        if re.match(r"^[a-z]+:", target) or target.startswith("#"):
            continue  # a web address or an anchor on the same page
        path = (page.parent / target.split("#")[0]).resolve()
        if not path.exists():
            broken.append(f"{page.name}:{number}: {target}")
    assert not broken, broken


def test_every_cited_document_exists() -> None:
    """``docs/behaviour.md §3`` in a docstring, ``(api.md)`` in a page: each names a real file."""
    names = {p.name for p in DOCS} | {"README.md"}
    missing: List[str] = []
    for path in CITING:
        if not path.exists() or path == Path(__file__):
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            for cited in DOC_CITATION.findall(line):
                name = cited.rpartition("/")[2]
                if cited.startswith("docs/") and not (ROOT / cited).exists():
                    missing.append(f"{path.relative_to(ROOT)}:{number}: {cited}")
                elif not cited.startswith("docs/") and name not in names:
                    missing.append(f"{path.relative_to(ROOT)}:{number}: {cited}")
    assert not missing, missing


def test_the_checker_sees_a_missing_document(tmp_path: Path) -> None:
    """The citation pattern finds what it must (so the test above can fail)."""
    found = DOC_CITATION.findall("see SPEC.md §2 and docs/behaviour.md §3; (api.md); x.md.bak")
    assert found == ["SPEC.md", "docs/behaviour.md", "api.md", "x.md"]
