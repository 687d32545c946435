"""The optional compiled part of aelab: the index's inner primitives (src/aelab/index/_kernels.c).

Everything else is in pyproject.toml. Where no C compiler is found the build goes on without it and
aelab.index runs the same primitives in numpy (src/aelab/index/kernels.py: slower, same results)."""

from setuptools import Extension, setup

setup(ext_modules=[Extension("aelab.index._kernels", ["src/aelab/index/_kernels.c"],
                             extra_compile_args=["-O3"], optional=True)])
