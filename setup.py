"""Builds the compiled archive coder (spikesci.lossless._mixcoder); everything else is in pyproject.toml.

The extension is optional: without a C compiler the install still succeeds and `spikesci pack` falls
back to the numpy model (format 2), `unpack` of a 'mix' archive to the pure-Python coder (mixref.py).
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "spikesci.lossless._mixcoder",
            sources=["src/spikesci/lossless/_mixcoder.c"],
            depends=["src/spikesci/lossless/_mixkernel.h"],
            extra_compile_args=["-O3"],
            optional=True,
        )
    ]
)
