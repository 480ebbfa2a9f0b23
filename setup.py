"""Builds the one native extension, ``sightline.indexes._mih``; metadata is in pyproject.toml.

The extension needs only a C compiler and the Python headers (no numpy C API). ``-mpopcnt``
is safe on every x86-64 CPU made since 2008 and turns ``__builtin_popcountll`` into one
instruction; other architectures (aarch64) get their own popcount from the same builtin.
"""

import platform
import sys

from setuptools import Extension, setup

_FLAGS = ["-O3", "-std=c11", "-Wall", "-Wextra", "-Wno-missing-field-initializers"]
if platform.machine().lower() in {"x86_64", "amd64"}:
    _FLAGS.append("-mpopcnt")

setup(
    ext_modules=[
        Extension(
            "sightline.indexes._mih",
            ["src/sightline/indexes/_mih.c"],
            extra_compile_args=[] if sys.platform == "win32" else _FLAGS,
        )
    ]
)
