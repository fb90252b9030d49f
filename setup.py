"""Only the extension modules live here; everything else is in pyproject.toml.

Knobs (environment variables):
  FASTCIDR_ANNOTATE=1   write Cython's annotated HTML next to each .pyx (never commit it)
  FASTCIDR_DEBUG=1      -O0 -g, bounds checks on, for debugging and sanitizers
  FASTCIDR_CFLAGS=...   extra C flags (e.g. -fsanitize=address)
"""
import os

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

debug = os.environ.get("FASTCIDR_DEBUG") == "1"
extra = ["-O3"] if not debug else ["-O0", "-g"]
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


class cythonize_then_build_ext(build_ext):
    """Runs Cython only when the extensions are really built.

    So `python -m build --sdist` and `egg_info` neither need Cython nor write generated C: the
    sdist carries the .pyx sources (setuptools adds an Extension's sources), never the .c."""

    def finalize_options(self) -> None:
        try:
            from Cython.Build import cythonize
        except ImportError:  # pragma: no cover - build-system.requires names Cython
            raise SystemExit("fastcidr needs Cython>=3.1 to build its core: pip install 'Cython>=3.1'")
        self.distribution.ext_modules[:] = cythonize(
            self.distribution.ext_modules,
            compiler_directives=directives,
            annotate=os.environ.get("FASTCIDR_ANNOTATE") == "1",
            include_path=["src"],
        )
        if self.parallel is None:  # pip and `python -m build` pass no -j: use every core
            self.parallel = os.cpu_count() or 1
        super().finalize_options()


setup(ext_modules=extensions, cmdclass={"build_ext": cythonize_then_build_ext})
