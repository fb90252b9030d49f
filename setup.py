"""Only the extension modules live here; everything else is in pyproject.toml.

Knobs (environment variables):
  FASTCIDR_ANNOTATE=1   write Cython's annotated HTML next to each .pyx (never commit it)
  FASTCIDR_DEBUG=1      -O0 -g, bounds checks on, for debugging and sanitizers
  FASTCIDR_CFLAGS=...   extra C flags (e.g. -fsanitize=address)
"""
import os
import sys

from setuptools import Extension, setup

try:
    from Cython.Build import cythonize
except ImportError:  # pragma: no cover - the build requires Cython
    sys.exit("fastcidr needs Cython>=3 to build its core: pip install Cython")

debug = os.environ.get("FASTCIDR_DEBUG") == "1"
extra = ["-O0", "-g"] if debug else ["-O3"]
extra += os.environ.get("FASTCIDR_CFLAGS", "").split()

directives = {
    "language_level": 3,
    "boundscheck": debug,
    "wraparound": False,
    "cdivision": True,
    "initializedcheck": debug,
    "embedsignature": True,
    "freethreading_compatible": True,
}

# FASTCIDR_MODULES=_core builds only the named modules (handy while another one is mid-edit).
MODULES = os.environ.get("FASTCIDR_MODULES", "_addr,_core,_tree,_multi").split(",")
extensions = [
    Extension(
        f"fastcidr.{name}",
        [f"src/fastcidr/{name}.pyx"],
        include_dirs=["src/fastcidr/include"],
        extra_compile_args=extra,
        extra_link_args=extra,
    )
    for name in MODULES
    if os.path.exists(f"src/fastcidr/{name}.pyx")
]

setup(
    ext_modules=cythonize(
        extensions,
        compiler_directives=directives,
        annotate=os.environ.get("FASTCIDR_ANNOTATE") == "1",
        include_path=["src"],
    )
)
