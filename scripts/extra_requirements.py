#!/usr/bin/env python3
"""Print the requirements of one of pyproject.toml's extras, one per line.

    python scripts/extra_requirements.py test > requirements.txt

The Makefile installs an extra's packages this way instead of `pip install -e '.[test]'`, which
would rebuild the already built, editable-installed core a second time.
"""
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

if __name__ == "__main__":
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    for name in sys.argv[1:]:
        print("\n".join(extras[name]))
