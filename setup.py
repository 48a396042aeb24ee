"""Build-time only: declares the optional C extension qvisor.platform._runloop (Cython).

Everything else about the package lives in pyproject.toml. The extension is optional: without
Cython, a C compiler or Linux, or when compiling fails, the install still succeeds and QVisor
uses its pure-Python run loop (qvisor.platform.runloop says which one is active and why).
`pip install -e .` builds it in place (qvisor/platform/_runloop.*.so); Cython's generated C
goes to build/cython/, not into the source tree.
"""

import os
import sys

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

EXT = "qvisor.platform._runloop"
PYX = os.path.join("qvisor", "platform", "_runloop.pyx")


def _warn(msg: str) -> None:
    print(f"WARNING: {msg}; qvisor will use its pure-Python run loop", file=sys.stderr)


class optional_build_ext(build_ext):
    """build_ext that turns any failure into a warning (no compiler, bad headers...)."""

    def run(self) -> None:
        try:
            super().run()
        except Exception as e:  # noqa: BLE001 - distutils raises several unrelated types
            _warn(f"not building {EXT}: {e}")

    def build_extension(self, ext) -> None:
        try:
            super().build_extension(ext)
        except Exception as e:  # noqa: BLE001
            _warn(f"building {ext.name} failed: {e}")


def _extensions() -> list:
    if not sys.platform.startswith("linux"):
        return []                                    # KVM only exists on Linux
    if os.environ.get("QVISOR_NO_EXT") == "1":
        return []
    try:
        from Cython.Build import cythonize
    except ImportError:
        _warn("Cython is not installed, not building " + EXT)
        return []
    try:
        return cythonize([Extension(EXT, [PYX], extra_compile_args=["-O2"])],
                         build_dir=os.path.join("build", "cython"),
                         compiler_directives={"language_level": 3}, quiet=True)
    except Exception as e:  # noqa: BLE001 - a Cython compile error must not break the install
        _warn(f"cythonizing {PYX} failed: {e}")
        return []


setup(ext_modules=_extensions(), cmdclass={"build_ext": optional_build_ext})
